#!/usr/bin/env node
// The package's `swarmscope` command: Claude Code's hooks bridge (see src/hooks-cli.ts).
//   swarmscope hook [--nats-url U | --gateway-url U] [--api-key K] [--state-dir D] [--log F] [--timeout S]
//   swarmscope hooks install|uninstall [--project | --user | --local] [--dir D] [--command CMD]
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

import { changeSettings, resolveHookOptions, runHook, settingsPath } from "../dist/hooks-cli.js";

const [command, ...rest] = process.argv.slice(2);

if (command === "hook") {
  let flags = {};
  try {
    flags = parseArgs({
      args: rest,
      options: Object.fromEntries(["nats-url", "gateway-url", "api-key", "state-dir", "log", "timeout"].map((k) => [k, { type: "string" }])),
    }).values;
  } catch {
    // A mistyped hook command line must not block Claude Code: go on with the defaults.
  }
  // exit now: a NATS client still closing must not keep Claude Code waiting.
  process.exit(await runHook(resolveHookOptions(flags)));
} else if (command === "hooks" && (rest[0] === "install" || rest[0] === "uninstall")) {
  const { values } = parseArgs({
    args: rest.slice(1),
    options: {
      project: { type: "boolean" },
      user: { type: "boolean" },
      local: { type: "boolean" },
      dir: { type: "string" },
      command: { type: "string" },
    },
  });
  const scope = values.user ? "user" : values.local ? "local" : "project";
  const path = settingsPath(scope, values.dir);
  const hookCommand = values.command ?? `node ${JSON.stringify(fileURLToPath(import.meta.url))} hook`;
  try {
    const changed = changeSettings(path, rest[0], hookCommand);
    process.stderr.write(`${changed ? (rest[0] === "install" ? "installed in" : "removed from") : "nothing to change in"} ${path}\n`);
  } catch (error) {
    process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}; nothing was written\n`);
    process.exitCode = 2;
  }
} else {
  process.stderr.write("usage: swarmscope hook < payload.json | swarmscope hooks install|uninstall [--project|--user|--local]\n");
  process.exitCode = 1;
}
