import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

test("src/contract.generated.ts matches docs/contract/*.json", () => {
  const script = fileURLToPath(new URL("../scripts/gen-contract.mjs", import.meta.url));
  // Throws (non-zero exit) when the committed module is stale.
  assert.doesNotThrow(() => execFileSync(process.execPath, [script, "--check"], { stdio: "pipe" }));
});
