// The SDK against the real services (nats-server, ingest, store, replay, gateway as processes):
// what a Node agent emits is stored, redacted and nested, over NATS and over HTTP ingest.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Tracer } from "../src/index.js";
import { Stack } from "./claude-flow-stack.js";

const API_KEY = "ts-core-test-key";
let stack: Stack;

before(async () => {
  stack = await Stack.start(API_KEY);
});

after(async () => {
  await stack.stop();
});

async function swarm(tracer: Tracer): Promise<void> {
  tracer.sessionStart("trace a Node swarm");
  const coder = tracer.agentSpawn("cod-1", "coder", { capabilities: ["ts"] });
  tracer.taskCreate("T1", "write the limiter");
  tracer.taskAssign("T1", "cod-1");
  await coder.task("T1", async () => {
    await new Promise((resolve) => setTimeout(resolve, 2));
    coder.toolCall("Bash", { command: "curl -u ann:hunter2 https://x.io", env: { API_KEY: "sk-live" } }, (call) => call.set({ exit_code: 0 }));
    coder.memoryWrite("code/limiter.ts", "export {}", { namespace: "swarm", version: 1 });
    coder.sendMessage("coord-1", "done");
  });
  tracer.sessionEnd("completed");
}

for (const transport of ["nats", "http"] as const) {
  test(`a Node swarm over ${transport} is stored by the services, redacted and nested`, async () => {
    const sessionId = `ts-stack-${transport}`;
    const tracer =
      transport === "nats"
        ? new Tracer({ sessionId, agentId: "coord-1", natsUrl: stack.natsUrl, closeOnExit: false })
        : new Tracer({ sessionId, agentId: "coord-1", httpUrl: stack.gatewayUrl, apiKey: API_KEY, closeOnExit: false });
    assert.equal(tracer.transportDescription.split(" ")[0], transport.toUpperCase());
    await swarm(tracer);
    assert.equal(await tracer.close(), true);
    assert.equal(tracer.stats().lost, 0);
    const events = await stack.waitForEvents(sessionId, 11);
    assert.deepEqual(
      events.map((e) => `${e.type}/${e.phase}`),
      [
        "session_start/complete",
        "agent_spawn/complete",
        "task_create/complete",
        "task_assignment/complete",
        "task_start/start",
        "tool_call/start",
        "tool_call/complete",
        "memory_write/complete",
        "communication/complete",
        "task_complete/complete",
        "session_end/complete",
      ],
    );
    const tool = events.find((e) => e.type === "tool_call" && e.phase === "complete");
    assert.ok(tool);
    assert.deepEqual(tool.data["args"], { command: "curl -u ann:[REDACTED] https://x.io", env: { API_KEY: "[REDACTED]" } });
    assert.equal(tool.agent_id, "cod-1");
    assert.equal(tool.metadata["parent_id"], "sp_T1_a1");
    assert.equal(tool.metadata["source"], "sdk-ts");
    const done = events.find((e) => e.type === "task_complete");
    assert.equal(done?.span_id, "sp_T1_a1");
    assert.equal(events.filter((e) => e.type === "session_start").length, 1);
  });
}

test("a wrong API key over HTTP is refused for good: counted as rejected, nothing retried for ever", async () => {
  const tracer = new Tracer({ sessionId: "ts-stack-badkey", agentId: "a", httpUrl: stack.gatewayUrl, apiKey: "wrong", closeOnExit: false });
  tracer.emit("custom.x", {});
  tracer.emit("custom.y", {});
  assert.equal(await tracer.close(5000), true, "refusals are final outcomes, not unsent events");
  assert.equal(tracer.stats().dropped["rejected"]?.["normal"], 2);
  assert.match(tracer.stats().lastError ?? "", /refused the API key \(HTTP 40[13]\)/);
});
