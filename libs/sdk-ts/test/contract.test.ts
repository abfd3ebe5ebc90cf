import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";
import { join } from "node:path";
import { packageRoot } from "./support/paths.js";

test("src/contract.generated.ts matches docs/contract/*.json", () => {
  const script = join(packageRoot(), "scripts", "gen-contract.mjs");
  // Throws (non-zero exit) when the committed module is stale.
  assert.doesNotThrow(() => execFileSync(process.execPath, [script, "--check"], { stdio: "pipe" }));
});
