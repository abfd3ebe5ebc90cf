import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { Ajv, type ValidateFunction } from "ajv";
import { SDK, Tracer, type WireEvent } from "../src/index.js";
import { repoRoot } from "./support/paths.js";

interface Schema {
  "x-payloads": Record<string, object>;
  [key: string]: unknown;
}

const schema = JSON.parse(readFileSync(join(repoRoot(), "docs", "contract", "trace-event.schema.json"), "utf8")) as Schema;
const ajv = new Ajv({ strict: false, allErrors: true });
const validateEvent = ajv.compile(schema);
const payloads: Record<string, ValidateFunction> = Object.fromEntries(
  // Payload schemas refer to the event schema's $defs (#/$defs/Message, …).
  Object.entries(schema["x-payloads"]).map(([type, payload]) => [type, ajv.compile({ ...payload, $defs: schema["$defs"] })]),
);

function check(event: WireEvent): void {
  assert.ok(validateEvent(event), `${String(event["type"])}: ${ajv.errorsText(validateEvent.errors)}`);
  const type = event["type"] as string;
  const validate = payloads[type];
  assert.ok(validate, `no payload schema for ${type}`);
  assert.ok(validate(event["data"]), `${type} data: ${ajv.errorsText(validate.errors)}`);
}

test("every factory's events validate against trace-event.schema.json, and every type is covered", async () => {
  const tracer = new Tracer({ sessionId: "ts-vocab", agentId: "coord-1", transport: "memory", closeOnExit: false });
  tracer.sessionStart("build a rate limiter", { topology: "hierarchical" });
  const coder = tracer.agentSpawn("cod-1", "coder", { capabilities: ["ts"] });
  coder.agentStatus("busy", { from: "idle", reason: "task" });
  tracer.taskCreate("T1", "write it", { dependencies: [], maxRetries: 2 });
  tracer.taskAssign("T1", "cod-1");
  await coder.task("T1", async (span) => {
    span.progress(0.5, "half");
    await new Promise((resolve) => setTimeout(resolve, 1));
    coder.toolCall("Bash", { command: "npm test" }, (call) => call.set({ exit_code: 0 }));
    coder.llmCall("claude-sonnet-4", "hi", (call) => call.setResponse("hello").setUsage(10, 5, 0.001));
    coder.memoryWrite("code/limiter.ts", "export {}", { namespace: "swarm", version: 1 });
    coder.memoryRead("code/limiter.ts", { namespace: "swarm", versionRead: 1, hit: true });
    coder.memoryDelete("scratch", { namespace: "swarm" });
    const id = coder.sendMessage("coord-1", "done?", { type: "question" });
    tracer.receiveMessage(id, "cod-1", "done?");
    coder.decision("retry_strategy", { options: ["a", "b"], chosen: "a", confidence: 0.8 });
    coder.contextUpdate("goal", "limit");
  });
  assert.throws(() => coder.task("T2", () => { throw new Error("flaky"); }, { attempt: 1 }), /flaky/);
  coder.taskStart("T3");
  coder.taskProgress("T3", 0.1, "begun");
  coder.taskFail("T3", new TypeError("bad"), { willRetry: true });
  coder.taskStart("T3", { attempt: 2 });
  coder.taskComplete("T3", { ok: true }, { attempt: 2 });
  tracer.taskCancel("T4", "not needed");
  tracer.coordination("consensus", { votes: 3 });
  coder.error(new RangeError("oops"), { scope: "tool", recoverable: true });
  coder.performanceAlert("latency_ms", 900, 500);
  tracer.emit("agent_method", { method: "plan", args: [] });
  coder.agentTerminate("done");
  tracer.sessionEnd("completed");
  for (const event of tracer.events) check(event);
  const types = new Set(tracer.events.map((e) => e["type"]));
  assert.deepEqual(SDK.event_types.filter((t) => !types.has(t)), []);
  const fail = tracer.events.find((e) => e["type"] === "task_fail" && (e["data"] as Record<string, unknown>)["task_id"] === "T3");
  assert.deepEqual(fail?.["data"], { task_id: "T3", attempt: 1, error: "bad", will_retry: true, error_type: "TypeError" });
  assert.equal(fail["span_id"], "sp_T3_a1");
  const spawn = tracer.events.find((e) => e["type"] === "agent_spawn");
  assert.deepEqual(spawn?.["data"], { agent_type: "coder", capabilities: ["ts"], parent_agent_id: "coord-1", status: "idle" });
  assert.equal(spawn["agent_id"], "cod-1");
  const llm = tracer.events.find((e) => e["type"] === "llm_call" && e["phase"] === "complete");
  assert.equal((llm?.["performance"] as Record<string, unknown>)["token_count"], 15);
  const inside = tracer.events.find((e) => e["type"] === "memory_write");
  assert.equal((inside?.["metadata"] as Record<string, unknown>)["parent_id"], "sp_T1_a1", "work inside task() nests under its span");
});
