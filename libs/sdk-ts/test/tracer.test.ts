import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { test } from "node:test";
import { SESSION, Tracer, currentSpanId, type WireEvent } from "../src/index.js";

function memoryTracer(agentId = "coder-1"): Tracer {
  return new Tracer({ sessionId: "ts-unit", agentId, transport: "memory", closeOnExit: false });
}

function meta(event: WireEvent | undefined): Record<string, unknown> {
  return (event?.["metadata"] ?? {}) as Record<string, unknown>;
}

test("emit returns the event id and builds the CONTRACT §1 envelope", () => {
  const tracer = memoryTracer();
  const id = tracer.emit("tool_call", { tool: "Bash", args: { command: "ls" } });
  assert.match(id ?? "", /^[0-9a-f]{25}$/);
  const event = tracer.events[0];
  assert.ok(event);
  assert.equal(event["id"], id);
  assert.equal(event["session_id"], "ts-unit");
  assert.equal(event["agent_id"], "coder-1");
  assert.equal(event["agent_seq"], 1);
  assert.equal(event["phase"], "complete");
  assert.deepEqual(event["data"], { tool: "Bash", args: { command: "ls" } });
  assert.deepEqual(event["metadata"], { source: "sdk-ts" });
});

test("events are redacted by the contract's rule before they leave the tracer", () => {
  const tracer = memoryTracer();
  tracer.emit("tool_call", { tool: "Bash", args: { command: "curl -H 'Authorization: Bearer abc.def-123' https://u:pw@x.io" }, api_key: "k" });
  assert.deepEqual(tracer.events[0]?.["data"], {
    tool: "Bash",
    args: { command: "curl -H 'Authorization: Bearer [REDACTED]' https://u:[REDACTED]@x.io" },
    api_key: "[REDACTED]",
  });
});

test("emit rejects unknown types, missing required fields and bad names with a clear error", () => {
  const tracer = memoryTracer();
  assert.throws(() => tracer.emit("tool_cal", {}), /unknown event type "tool_cal"/);
  assert.throws(() => tracer.emit("tool_call", { args: {} }), /tool_call events require data fields \["tool"\]/);
  assert.throws(() => tracer.emit("custom.ok", {}, { agentId: "bad agent" }), /agentId must match/);
  assert.throws(() => new Tracer({ sessionId: "_", transport: "memory" }), /reserved/);
  assert.throws(() => tracer.emit("custom.ok", {}, { priority: "urgent" as "high" }), /priority must be one of/);
  assert.equal(tracer.events.length, 0);
  tracer.emit("task:created", { agentId: "planner", taskId: "t1" });
  tracer.emit("custom.sdk_probe", {}, { agentId: SESSION });
  assert.equal(tracer.events[0]?.["agent_id"], "planner", "an alias's agentId names the agent");
  assert.equal(tracer.events[1]?.["agent_id"], undefined, "'_' makes a session-level event");
});

test("spans nest through async work and close with complete or error", async () => {
  const tracer = memoryTracer();
  const result = await tracer.span("agent_method", { method: "plan" }, async (outer) => {
    await sleep(1);
    assert.equal(currentSpanId(), outer.spanId);
    tracer.emit("custom.inside", {});
    const inner = tracer.span("tool_call", { tool: "Read" }, (span) => {
      span.set({ exit_code: 0 });
      return 7;
    });
    await Promise.all([
      sleep(1).then(() => tracer.emit("custom.timer", {})),
      tracer.span("llm_call", { model: "m" }, () => Promise.reject(new Error("rate limited"))).catch(() => "caught"),
    ]);
    return inner * 6;
  });
  assert.equal(result, 42);
  assert.equal(currentSpanId(), undefined, "the span does not leak out of its context");
  const byType = (type: string, phase: string): WireEvent | undefined =>
    tracer.events.find((e) => e["type"] === type && e["phase"] === phase);
  const outerStart = byType("agent_method", "start");
  const outerId = outerStart?.["id"];
  assert.equal(outerStart?.["span_id"], outerId);
  assert.equal(meta(byType("custom.inside", "complete"))["parent_id"], outerId);
  assert.equal(meta(byType("custom.timer", "complete"))["parent_id"], outerId);
  const toolDone = byType("tool_call", "complete");
  assert.equal(meta(toolDone)["parent_id"], outerId);
  assert.equal((toolDone?.["data"] as Record<string, unknown>)["exit_code"], 0);
  assert.equal(typeof (toolDone?.["performance"] as Record<string, unknown>)["duration"], "number");
  const llmError = byType("llm_call", "error");
  assert.equal(meta(llmError)["priority"], "high");
  assert.equal(((llmError?.["data"] as Record<string, unknown>)["error"] as Record<string, unknown>)["message"], "rate limited");
  const outerDone = byType("agent_method", "complete");
  assert.equal(outerDone?.["span_id"], outerId);
  assert.equal(meta(outerDone)["parent_id"], undefined);
});

test("a sync span that throws closes with an error event and rethrows", () => {
  const tracer = memoryTracer();
  assert.throws(
    () =>
      tracer.span("tool_call", { tool: "Bash" }, () => {
        throw new RangeError("boom");
      }),
    /boom/,
  );
  const error = tracer.events[1];
  assert.ok(error);
  assert.equal(error["phase"], "error");
  assert.equal(((error["data"] as Record<string, unknown>)["error"] as Record<string, unknown>)["type"], "RangeError");
});

test("forAgent views share the id space and count agent_seq per agent", () => {
  const tracer = memoryTracer("lead");
  const coder = tracer.forAgent("coder-2");
  tracer.emit("custom.a", {});
  coder.emit("custom.b", {});
  coder.emit("custom.c", {});
  tracer.emit("custom.d", {});
  assert.deepEqual(
    tracer.events.map((e) => [e["agent_id"], e["agent_seq"]]),
    [["lead", 1], ["coder-2", 1], ["coder-2", 2], ["lead", 2]],
  );
  assert.equal(new Set(tracer.events.map((e) => e["id"])).size, 4);
});

test("after close, events are dropped and counted as closed", async () => {
  const tracer = memoryTracer();
  tracer.emit("custom.before", {});
  assert.equal(await tracer.close(), true);
  assert.equal(tracer.emit("custom.after", {}), undefined);
  assert.equal(tracer.events.length, 1);
  assert.deepEqual(tracer.stats().dropped, { closed: { normal: 1 } });
});
