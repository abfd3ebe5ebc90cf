import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** libs/sdk-ts: the nearest directory up from here whose package.json is this package's. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, "package.json");
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, "utf8")) as { name?: string }).name === "swarmscope") return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error("libs/sdk-ts/package.json not found above the tests");
    dir = parent;
  }
}

/** The repository root (two levels above libs/sdk-ts). */
export function repoRoot(): string {
  return resolve(packageRoot(), "..", "..");
}
