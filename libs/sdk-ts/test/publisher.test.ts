import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { execFile } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { Tracer } from "../src/index.js";
import { NatsServer, StreamReader } from "./support/nats.js";

let server: NatsServer;
let reader: StreamReader;

before(async () => {
  server = await NatsServer.start();
  reader = await StreamReader.open(server.url);
});

after(async () => {
  await reader.close();
  await server.dispose();
});

/** After a server restart: a new client, so JetStream requests do not race the reconnect. */
async function reopen(): Promise<void> {
  await reader.close();
  reader = await StreamReader.open(server.url);
}

async function eventsOf(sessionId: string): Promise<Record<string, unknown>[]> {
  return (await reader.events()).filter((e) => e["session_id"] === sessionId);
}

test("events go to JetStream as batch messages with the contract's subjects and msg ids", async () => {
  const tracer = new Tracer({ sessionId: "ts-batch", agentId: "coder-1", natsUrl: server.url, closeOnExit: false });
  const ids: (string | undefined)[] = [];
  for (let i = 0; i < 20; i++) ids.push(tracer.emit("custom.step", { i }));
  tracer.forAgent("coder-2").emit("custom.other", {});
  assert.equal(await tracer.flush(10_000), true);
  const messages = (await reader.messages()).filter((m) => m.subject.startsWith("traces.raw.ts-batch."));
  const batch = messages.find((m) => m.subject === "traces.raw.ts-batch._.batch" || m.subject === "traces.raw.ts-batch.coder-1.batch");
  assert.ok(batch, `a batch message, got ${messages.map((m) => m.subject).join(", ")}`);
  const body = JSON.parse(batch.string()) as Record<string, unknown>[];
  assert.equal(batch.header.get("Nats-Msg-Id"), `ts-batch:batch:${String(body[0]?.["id"])}:${body.length}`);
  const stored = await eventsOf("ts-batch");
  assert.deepEqual(stored.map((e) => e["id"]).filter((id) => ids.includes(id as string | undefined)), ids);
  assert.equal((stored[0]?.["metadata"] as Record<string, unknown>)["source"], "sdk-ts");
  assert.equal(await tracer.close(), true);
  assert.equal(tracer.stats().published, 21);
});

test("with batchMessages false, one message per event keyed <session>:<id>", async () => {
  const tracer = new Tracer({ sessionId: "ts-single", agentId: "a", natsUrl: server.url, batchMessages: false, closeOnExit: false });
  const id = tracer.emit("task:created", { taskId: "t-1", description: "x" }) as string;
  assert.equal(await tracer.close(), true);
  const messages = (await reader.messages()).filter((m) => m.subject.startsWith("traces.raw.ts-single."));
  const [message] = messages;
  assert.ok(message !== undefined && messages.length === 1);
  assert.equal(message.subject, "traces.raw.ts-single.a.task_created");
  assert.equal(message.header.get("Nats-Msg-Id"), `ts-single:${id}`);
});

test("a NATS restart loses nothing and duplicates nothing: retries reuse the ids", async () => {
  const tracer = new Tracer({ sessionId: "ts-restart", agentId: "a", natsUrl: server.url, publishTimeout: 500, closeOnExit: false });
  const ids: string[] = [];
  for (let i = 0; i < 50; i++) ids.push(tracer.emit("custom.before", { i }) as string);
  assert.equal(await tracer.flush(10_000), true);
  await server.stop();
  for (let i = 0; i < 50; i++) ids.push(tracer.emit("custom.during", { i }) as string);
  await sleep(300);
  assert.equal(await tracer.flush(200), false, "nothing can be published while NATS is down");
  await server.run();
  assert.equal(await tracer.flush(20_000), true);
  for (let i = 0; i < 50; i++) ids.push(tracer.emit("custom.after", { i }) as string);
  assert.equal(await tracer.close(), true);
  await reopen();
  const stored = (await eventsOf("ts-restart")).filter((e) => e["type"] !== "custom.sdk_drops");
  assert.deepEqual(stored.map((e) => e["id"]), ids, "every id once, in order");
});

test("a full buffer sheds by priority and reports the drops as custom.sdk_drops", async () => {
  await server.stop();
  const tracer = new Tracer({
    sessionId: "ts-shed",
    agentId: "a",
    natsUrl: server.url,
    bufferSize: 10,
    publishTimeout: 300,
    closeOnExit: false,
  });
  for (let i = 0; i < 30; i++) tracer.emit("custom.low", { i }, { priority: "low" });
  const high: (string | undefined)[] = [];
  for (let i = 0; i < 5; i++) high.push(tracer.emit("custom.high", { i }, { priority: "high" }));
  await server.run();
  assert.equal(await tracer.close(), true);
  await reopen();
  const stored = await eventsOf("ts-shed");
  const storedIds = new Set(stored.map((e) => e["id"]));
  for (const id of high) assert.ok(storedIds.has(id), "high-priority events are kept");
  const reports = stored.filter((e) => e["type"] === "custom.sdk_drops");
  assert.ok(reports.length >= 1);
  const last = reports.at(-1)?.["data"] as Record<string, unknown>;
  const dropped = last["dropped"] as Record<string, Record<string, number>>;
  const lowKept = stored.filter((e) => e["type"] === "custom.low").length;
  // Some low events may have left in the first batch before the buffer filled; the rest are counted.
  assert.equal((dropped["buffer_full"]?.["low"] ?? 0) + lowKept, 30);
  assert.equal(last["lost"], dropped["buffer_full"]?.["low"]);
  assert.deepEqual(Object.keys(last).sort(), ["buffer_capacity", "dropped", "filtered", "lost", "new", "new_lost", "published"]);
  assert.equal(last["buffer_capacity"], 10);
  assert.equal((reports.at(-1)?.["metadata"] as Record<string, unknown>)["priority"], "critical");
});

test("close with NATS unreachable is bounded and counts what it could not send", async () => {
  await server.stop();
  const tracer = new Tracer({ sessionId: "ts-unsent", agentId: "a", natsUrl: server.url, publishTimeout: 200, closeOnExit: false });
  for (let i = 0; i < 5; i++) tracer.emit("custom.x", { i });
  assert.equal(await tracer.close(500), false);
  assert.equal(tracer.stats().dropped["unsent_at_close"]?.["normal"], 5);
  await server.run();
  await reopen();
});

test("a process that never calls close publishes its events on exit, and exits", async () => {
  const index = new URL("../src/index.js", import.meta.url).href;
  const script = `
    import { Tracer } from ${JSON.stringify(index)};
    const tracer = new Tracer({ sessionId: "ts-exit", agentId: "a", natsUrl: ${JSON.stringify(server.url)} });
    await tracer.span("agent_method", { method: "main" }, async () => {
      await new Promise((r) => setTimeout(r, 5));
      tracer.emit("custom.last", {});
    });
  `;
  const { stderr } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", script], { timeout: 20_000 });
  assert.equal(stderr, "");
  const stored = await eventsOf("ts-exit");
  assert.deepEqual(stored.map((e) => `${String(e["type"])}/${String(e["phase"])}`), ["agent_method/start", "custom.last/complete", "agent_method/complete"]);
});

test("a publisher worker that dies is replaced and its batch resent: nothing lost, nothing twice", async () => {
  const tracer = new Tracer({ sessionId: "ts-worker", agentId: "a", natsUrl: server.url, closeOnExit: false });
  const ids: (string | undefined)[] = [];
  for (let i = 0; i < 10; i++) ids.push(tracer.emit("custom.before", { i }));
  assert.equal(await tracer.flush(10_000), true);
  // Reach the worker the way only a test should: kill it as a crash would.
  const internals = tracer as unknown as { publisher: { worker: { terminate(): Promise<number> } } };
  await internals.publisher.worker.terminate();
  for (let i = 0; i < 10; i++) ids.push(tracer.emit("custom.after", { i }));
  assert.equal(await tracer.close(10_000), true);
  assert.match(tracer.stats().lastError ?? "", /exited unexpectedly/);
  const stored = await eventsOf("ts-worker");
  assert.deepEqual(stored.map((e) => e["id"]), ids);
});

test("a worker that dies with a batch in flight: the new worker sends that batch, same ids", async () => {
  const tracer = new Tracer({ sessionId: "ts-worker-flight", agentId: "a", natsUrl: server.url, publishTimeout: 300, closeOnExit: false });
  assert.equal(await tracer.flush(10_000), true);
  await server.stop();
  const ids: (string | undefined)[] = [];
  for (let i = 0; i < 10; i++) ids.push(tracer.emit("custom.stuck", { i }));
  const internals = tracer as unknown as { publisher: { worker: { terminate(): Promise<number> }; inFlight: unknown } };
  // Wait until the batch is in the worker's hands (NATS is down, so it stays there), then kill it.
  for (let i = 0; i < 100 && internals.publisher.inFlight === undefined; i++) await sleep(10);
  assert.notEqual(internals.publisher.inFlight, undefined, "a batch is in flight");
  await internals.publisher.worker.terminate();
  await server.run();
  assert.equal(await tracer.close(15_000), true);
  await reopen();
  const stored = (await eventsOf("ts-worker-flight")).filter((e) => e["type"] !== "custom.sdk_drops");
  assert.deepEqual(stored.map((e) => e["id"]), ids);
});
