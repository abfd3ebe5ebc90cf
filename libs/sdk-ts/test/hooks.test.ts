/**
 * The TypeScript hook mapping against every recorded case of docs/contract/claude-code-hook-cases.json
 * (generated from swarmscope_schema.claude_code): same events, same state after each step.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import { HookPayloadError, customType, mapHook, mcpTool, newState, parseToolResponse, safeName } from "../src/hooks.js";
import { repoRoot } from "./support/paths.js";

interface Step {
  now: number;
  payload: Record<string, unknown>;
  events: Record<string, unknown>[];
  state: Record<string, unknown>;
}

const CASES = (
  JSON.parse(readFileSync(join(repoRoot(), "docs", "contract", "claude-code-hook-cases.json"), "utf8")) as {
    cases: Record<string, Step[]>;
  }
).cases;

for (const [name, steps] of Object.entries(CASES)) {
  test(`recorded case ${name}: every step gives the Python mapping's events and state`, () => {
    const state = newState();
    let counter = 0;
    const newId = (): string => `g${String(++counter)}`;
    steps.forEach((step, index) => {
      const events = mapHook(step.payload, state, step.now, newId);
      assert.deepEqual(events, step.events, `${name} step ${String(index)} (${String(step.payload["hook_event_name"])}): events`);
      assert.deepEqual(JSON.parse(JSON.stringify(state)), step.state, `${name} step ${String(index)}: state`);
    });
  });
}

test("the cases cover every hook Claude Code documents", () => {
  const seen = new Set(Object.values(CASES).flatMap((steps) => steps.map((s) => s.payload["hook_event_name"])));
  for (const hook of ["SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "PostToolUseFailure", "SubagentStart", "SubagentStop", "Stop", "SessionEnd"]) {
    assert.ok(seen.has(hook), hook);
  }
});

test("bad payloads are refused with a reason, helpers match the Python ones", () => {
  assert.throws(() => mapHook([], newState(), 0, () => "x"), HookPayloadError);
  assert.throws(() => mapHook({ hook_event_name: "Stop" }, newState(), 0, () => "x"), /no session_id/);
  assert.throws(() => mapHook({ session_id: "s" }, newState(), 0, () => "x"), /no hook_event_name/);
  assert.equal(customType("ConfigChange"), "custom.claude_code.config_change");
  assert.equal(mcpTool("mcp__ruflo__memory_store"), "memory_store");
  assert.equal(mcpTool("mcp__other__memory_store"), undefined);
  assert.equal(safeName("a b/c"), "a-b-c");
  assert.deepEqual(parseToolResponse({ content: [{ type: "text", text: '{"ok":true}' }] }), { ok: true });
});
