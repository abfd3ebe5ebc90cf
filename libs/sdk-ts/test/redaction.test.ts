import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { REDACTION } from "../src/index.js";
import { Redactor } from "../src/redaction.js";
import { repoRoot } from "./support/paths.js";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
interface Case {
  name: string;
  kind: "value" | "event";
  input: Json;
  output: Json;
  count: number;
}

const cases = (JSON.parse(readFileSync(join(repoRoot(), "docs", "contract", "redaction-cases.json"), "utf8")) as { cases: Case[] }).cases;

test("every value pattern of redaction.json compiles as a JavaScript RegExp", () => {
  for (const pattern of REDACTION.value_patterns) {
    assert.doesNotThrow(() => new RegExp(pattern.pattern, pattern.flags), pattern.name);
    if ("value" in pattern) assert.doesNotThrow(() => new RegExp(pattern.value, pattern.flags), pattern.name);
  }
});

for (const c of cases) {
  test(`redaction case: ${c.name}`, () => {
    const redactor = new Redactor({ keys: undefined, values: true, maxValueBytes: undefined });
    const value = structuredClone(c.input);
    let count: number;
    let result: Json;
    if (typeof value === "string") {
      [result, count] = redactor.redactText(value);
    } else if (c.kind === "event") {
      count = redactor.redactEvent(value as { [key: string]: Json });
      result = value;
    } else {
      count = redactor.redact(value);
      result = value;
    }
    assert.deepEqual(result, c.output);
    assert.equal(count, c.count);
  });
}

test("prepare redacts an encoded event and leaves a clean one byte for byte", () => {
  const redactor = new Redactor({ keys: undefined, values: true, maxValueBytes: undefined });
  const clean = JSON.stringify({ id: "e", type: "tool_call", data: { tool: "Read", input_tokens: 5 } });
  assert.deepEqual(redactor.prepare(clean), { payload: clean, redacted: 0, truncated: false });
  const dirty = JSON.stringify({ id: "e", type: "tool_call", data: { tool: "Bash", env: { API_KEY: "k" } } });
  const prepared = redactor.prepare(dirty);
  assert.equal(prepared.redacted, 1);
  assert.deepEqual(JSON.parse(prepared.payload), { id: "e", type: "tool_call", data: { tool: "Bash", env: { API_KEY: "[REDACTED]" } } });
});

test("maxValueBytes cuts long strings after redaction and marks the event", () => {
  const redactor = new Redactor({ keys: undefined, values: true, maxValueBytes: 16 });
  const prepared = redactor.prepare(JSON.stringify({ id: "e", data: { text: "é".repeat(20), short: "ok" } }));
  const event = JSON.parse(prepared.payload) as { data: { text: string; short: string }; metadata: Record<string, unknown> };
  assert.equal(prepared.truncated, true);
  assert.equal(event.data.text, "é".repeat(8) + "…[truncated 24 bytes]");
  assert.equal(event.data.short, "ok");
  assert.deepEqual(event.metadata, { truncated: true, truncated_bytes: 24 });
});
