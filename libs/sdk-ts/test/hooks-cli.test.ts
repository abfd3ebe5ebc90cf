/**
 * The package's bin `swarmscope hook` fed Claude Code's recorded hook payloads into a real local
 * swarmscope (stored as the contract's cases say, nothing on stdout, exit 0), and
 * `swarmscope hooks install|uninstall` beside Claude-Flow's hooks.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { Stack } from "./claude-flow-stack.js";
import { packageRoot, repoRoot } from "./support/paths.js";

const BIN = join(packageRoot(), "bin", "swarmscope.mjs");
const CONTRACT = join(repoRoot(), "docs", "contract");
const FIXTURES = (JSON.parse(readFileSync(join(CONTRACT, "fixtures", "claude-code-hooks.json"), "utf8")) as {
  sessions: Record<string, [number, Record<string, unknown>][]>;
}).sessions;
const CASES = (JSON.parse(readFileSync(join(CONTRACT, "claude-code-hook-cases.json"), "utf8")) as {
  cases: Record<string, { events: { id: string; type: string }[] }[]>;
}).cases;

let stack: Stack;
before(async () => {
  stack = await Stack.start();
});
after(async () => {
  await stack.stop();
});

function run(args: string[], input: string, env: Record<string, string>): { status: number | null; stdout: string } {
  const done = spawnSync(process.execPath, [BIN, ...args], { input, env: { PATH: process.env["PATH"] ?? "", ...env }, timeout: 60_000 });
  return { status: done.status, stdout: done.stdout.toString() };
}

test("recorded Claude Code hooks through the bin are stored as the contract's cases say", async () => {
  const session = `cc-ts-${Date.now().toString(36)}`;
  const dir = mkdtempSync(join(tmpdir(), "hook-ts-"));
  const env = { SWARMSCOPE_NATS_URL: stack.natsUrl, SWARMSCOPE_HOOK_STATE_DIR: join(dir, "state"), HOME: dir };
  for (const [, payload] of FIXTURES["subagent"] ?? []) {
    assert.deepEqual(run(["hook"], JSON.stringify({ ...payload, session_id: session }), env), { status: 0, stdout: "" });
  }
  const expected = (CASES["subagent"] ?? []).flatMap((step) => step.events);
  const events = await stack.waitForEvents(session, expected.length);
  assert.deepEqual(events.map((e) => e.type), expected.map((e) => e.type));
  expected.forEach((want, index) => {
    if (!/^g\d+$/.test(want.id)) assert.equal(events[index]?.id, want.id);
  });
  assert.ok(events.every((e) => e.metadata["source"] === "claude-code"));
  // Bad input and a mistyped command line: exit 0, nothing on stdout, the reason in the log.
  assert.deepEqual(run(["hook", "--bogus"], "{not json", env), { status: 0, stdout: "" });
  assert.match(readFileSync(join(dir, "state", "hook.log"), "utf8"), /bad hook payload: not valid JSON/);
});

test("hooks install merges beside claude-flow's hooks, replaces the Python CLI's, and uninstall restores", () => {
  const dir = mkdtempSync(join(tmpdir(), "hooks-ts-"));
  const path = join(dir, ".claude", "settings.json");
  mkdirSync(join(dir, ".claude"));
  const original = {
    env: { CLAUDE_FLOW_HOOKS_ENABLED: "true" },
    hooks: {
      PreToolUse: [{ matcher: "Bash", hooks: [{ type: "command", command: "node .claude/helpers/hook-handler.cjs pre-bash" }] }],
    },
  };
  writeFileSync(path, JSON.stringify(original, null, 2));
  assert.equal(run(["hooks", "install", "--dir", dir], "", {}).status, 0);
  const once = readFileSync(path, "utf8");
  const settings = JSON.parse(once) as { env: unknown; hooks: Record<string, { hooks: { command: string }[] }[]> };
  assert.deepEqual(settings.env, original.env);
  const commands = (settings.hooks["PreToolUse"] ?? []).map((group) => group.hooks.map((h) => h.command).join(" | "));
  assert.equal(commands.length, 2);
  assert.equal(commands[0], "node .claude/helpers/hook-handler.cjs pre-bash");
  assert.match(commands[1] ?? "", /swarmscope\.mjs" hook$/);
  assert.equal(Object.keys(settings.hooks).length, 17);
  assert.equal(run(["hooks", "install", "--dir", dir], "", {}).status, 0);
  assert.equal(readFileSync(path, "utf8"), once, "a second install changes nothing");
  // A block the Python CLI wrote is ours too: replaced, not doubled.
  assert.equal(run(["hooks", "install", "--dir", dir, "--command", "/opt/venv/bin/swarmscope hook"], "", {}).status, 0);
  const pre = (JSON.parse(readFileSync(path, "utf8")) as typeof settings).hooks["PreToolUse"] ?? [];
  assert.equal(pre.length, 2);
  assert.equal(run(["hooks", "uninstall", "--dir", dir], "", {}).status, 0);
  assert.deepEqual(JSON.parse(readFileSync(path, "utf8")), original);
  writeFileSync(path, "{broken");
  assert.equal(run(["hooks", "install", "--dir", dir], "", {}).status, 2);
  assert.equal(readFileSync(path, "utf8"), "{broken");
});
