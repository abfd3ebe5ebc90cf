/**
 * traceEventBus / traceCoordinator against Claude-Flow's real classes (@claude-flow/shared 3.0.0-alpha.8,
 * byte for byte the copy claude-flow 3.43.0 ships in v3/@claude-flow/shared, and @claude-flow/swarm's
 * UnifiedSwarmCoordinator), driven offline, no LLM, into a real local swarmscope: the events are
 * stored as the contract's alias table says and replay's state at a seq is what the swarm did.
 */
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { EventBus, LifecycleManager, SessionManager, TaskManager } from "@claude-flow/shared/core";
import { EventBus as DomainEventBus } from "@claude-flow/shared";
import { UnifiedSwarmCoordinator } from "@claude-flow/swarm";

import { mapClaudeFlowEvent, traceCoordinator, traceEventBus } from "../src/claude-flow.js";
import { Tracer } from "../src/index.js";
import { Stack, type StoredEvent } from "./claude-flow-stack.js";

let stack: Stack;

before(async () => {
  stack = await Stack.start();
});

after(async () => {
  await stack.stop();
});

function must<T>(value: T | undefined, what: string): T {
  assert.ok(value !== undefined, `no ${what}`);
  return value;
}

function sessionId(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

interface State {
  session: Record<string, unknown>;
  agents: Record<string, Record<string, unknown>>;
  tasks: Record<string, Record<string, unknown>>;
  memory: Record<string, Record<string, unknown>>;
  communications: Record<string, unknown>[];
  open_spans: Record<string, unknown>;
}

function stateAt(session: string, seq: number): Promise<State> {
  return stack.get<State>(`/sessions/${session}/state`, { seq });
}

function find(events: StoredEvent[], type: string, predicate: (e: StoredEvent) => boolean = () => true): StoredEvent {
  const found = events.find((e) => e.type === type && predicate(e));
  assert.ok(found, `no ${type} event`);
  return found;
}

test("the v3 EventBus driven by TaskManager, LifecycleManager and SessionManager is stored and replays exactly", async () => {
  const session = sessionId("cf-bus");
  const tracer = new Tracer({ sessionId: session, agentId: "coordinator", natsUrl: stack.natsUrl });
  const bus = new EventBus();
  const untrace = traceEventBus(bus, tracer);
  const handled: string[] = [];
  bus.subscribe({}, (event) => {
    handled.push(event.type);
  });

  const sessions = new SessionManager(bus, { persistSessions: false, dataDir: mkdtempSync(join(tmpdir(), "cf-")) });
  const lifecycle = new LifecycleManager(bus, { maxConcurrentAgents: 8, spawnTimeout: 1000, terminateTimeout: 1000, maxSpawnRetries: 1 });
  const tasks = new TaskManager(bus);

  const cfSession = await sessions.createSession({ id: "coordinator", name: "Coordinator", type: "coordinator" } as never, "term-1", "bank-1");
  await lifecycle.spawn({ id: "coder-1", name: "Coder", type: "coder", capabilities: ["typescript"] } as never);
  await lifecycle.spawn({ id: "researcher-1", name: "Researcher", type: "researcher" } as never);

  const design = await tasks.createTask({ type: "research", description: "compare rate limiter designs", priority: 80 });
  await tasks.assignTask(design.id, "researcher-1");
  await tasks.startTask(design.id);
  const notes = { algorithm: "token bucket", notes: "n".repeat(20_000) };
  bus.emit("memory:stored", { entry: { namespace: "swarm", key: "design/limiter", value: notes, agentId: "researcher-1", version: 1 } });
  bus.emit("message:sent", {
    from: "researcher-1",
    to: ["coder-1"],
    message: { id: "m-1", type: "direct", payload: { text: "design/limiter is ready" } },
  });
  await tasks.completeTask(design.id, { output: { summary: "token bucket" }, duration: 40 } as never);

  const build = await tasks.createTask({ type: "code", description: "implement the limiter", priority: 60 });
  await tasks.assignTask(build.id, "coder-1");
  await tasks.startTask(build.id);
  await tasks.failTask(build.id, new Error("redis refused the connection"));
  await lifecycle.terminate("coder-1", "done");
  await sessions.terminateSession(cfSession.id);
  untrace();
  bus.emit("task:created", { task: { id: "after-untrace" } });
  // Delivery is proven by the stored events below (close() may report a slow first connection on a loaded machine).
  await tracer.close(30_000);

  // Claude-Flow's own handlers saw every event, the traced ones before the untrace and the last one.
  assert.equal(handled.at(-1), "task:created");
  const events = await stack.waitForEvents(session, handled.length - 1);
  assert.equal(events.length, handled.length - 1, "one stored event per traced Claude-Flow event");
  assert.deepEqual(
    events.map((e) => e.metadata["claude_flow_event"]),
    handled.slice(0, -1),
  );
  assert.deepEqual(
    events.map((e) => e.type),
    [
      "session_start",
      "agent_spawn",
      "agent_spawn",
      "task_create",
      "task_assignment",
      "task_start",
      "memory_write",
      "communication",
      "task_complete",
      "task_create",
      "task_assignment",
      "task_start",
      "task_fail",
      "agent_terminate",
      "session_end",
    ],
  );
  const spawn = find(events, "agent_spawn", (e) => e.agent_id === "coder-1");
  assert.equal(spawn.data["agent_type"], "coder");
  // Full payloads: the 20 000-character note is stored whole, with Claude-Flow's own keys.
  const write = find(events, "memory_write");
  assert.deepEqual(write.data["value"], notes);
  assert.equal(write.agent_id, "researcher-1");
  const start = find(events, "task_start", (e) => e.data["task_id"] === design.id);
  assert.equal(start.agent_id, "researcher-1");
  assert.equal(start.phase, "start");
  const done = find(events, "task_complete", (e) => e.data["task_id"] === design.id);
  assert.equal(done.span_id, start.span_id, "a task's start and end share its span");
  assert.equal(done.agent_id, "researcher-1", "the end is the assignee's");
  const failed = find(events, "task_fail");
  assert.equal(failed.phase, "error");
  assert.equal((failed.data["error"] as { message: string }).message, "redis refused the connection");

  const during = await stateAt(session, start.seq);
  assert.equal(during.tasks[design.id]?.["status"], "running");
  assert.equal(during.tasks[design.id]?.["agent_id"], "researcher-1");
  assert.equal(during.agents["researcher-1"]?.["status"], "busy");
  assert.equal(during.memory["swarm/design/limiter"], undefined);

  const afterMessage = await stateAt(session, find(events, "communication").seq);
  assert.deepEqual(afterMessage.memory["swarm/design/limiter"]?.["value"], notes);
  assert.equal(afterMessage.communications.length, 1);
  assert.deepEqual((afterMessage.communications[0] as { to: string[] }).to, ["coder-1"]);

  const end = await stateAt(session, must(events.at(-1), "last event").seq);
  assert.equal(end.tasks[design.id]?.["status"], "completed");
  assert.equal(end.tasks[build.id]?.["status"], "failed");
  assert.equal(end.agents["coder-1"]?.["status"], "terminated");
  assert.equal(end.agents["researcher-1"]?.["status"], "idle");
  assert.equal(end.session["status"], "terminated");
});

test("the UnifiedSwarmCoordinator's dotted events are traced once each, with its ids and times", async () => {
  const session = sessionId("cf-swarm");
  const tracer = new Tracer({ sessionId: session, agentId: "queen", natsUrl: stack.natsUrl });
  const coordinator = new UnifiedSwarmCoordinator({ topology: { type: "hierarchical", maxAgents: 8 }, maxAgents: 8 } as never);
  const seen: { id: string; type: string }[] = [];
  coordinator.on("event", (event: { id: string; type: string }) => seen.push(event));
  const untrace = traceCoordinator(coordinator, tracer);

  await coordinator.initialize();
  const agent = await coordinator.registerAgent({
    type: "coder",
    name: "coder",
    status: "idle",
    capabilities: { codeGeneration: true },
    metrics: { tasksCompleted: 0, tasksFailed: 0, messagesProcessed: 0 },
  } as never);
  const task = await coordinator.submitTask({ type: "coding", name: "limiter", description: "implement", priority: "high", maxRetries: 0, retries: 0 } as never);
  const bus = (coordinator as unknown as { messageBus: { send(m: unknown): Promise<unknown> } }).messageBus;
  await bus.send({ type: "task_complete", from: agent, to: agent, payload: { taskId: task, result: { ok: true } }, priority: "normal", requiresAck: false });
  await new Promise((resolveWait) => setTimeout(resolveWait, 300));
  await coordinator.unregisterAgent(agent);
  await coordinator.shutdown();
  untrace();
  // Delivery is proven by the stored events below (close() may report a slow first connection on a loaded machine).
  await tracer.close(30_000);

  const events = await stack.waitForEvents(session, seen.length);
  assert.deepEqual(
    events.map((e) => e.id),
    seen.map((e) => e.id),
    "every envelope once (the coordinator emits each by type and as 'event'), under its own id",
  );
  const byName = new Map(events.map((e) => [e.metadata["claude_flow_event"] as string, e]));
  assert.equal(byName.get("swarm.started")?.type, "session_start");
  assert.equal(byName.get("swarm.started")?.data["topology"], "hierarchical");
  assert.equal(byName.get("agent.joined")?.type, "agent_spawn");
  assert.equal(byName.get("agent.joined")?.agent_id, agent);
  assert.equal(byName.get("task.assigned")?.type, "task_assignment");
  assert.equal(byName.get("task.completed")?.agent_id, agent);
  assert.equal(byName.get("topology.updated")?.type, "custom.claude_flow.topology.updated");
  const received = must(byName.get("message.received"), "message.received");
  assert.equal(received.type, "communication");
  const started = must(byName.get("swarm.started"), "swarm.started");
  assert.equal((received.data["message"] as { from: string }).from, started.metadata["claude_flow_source"]);

  const completed = must(byName.get("task.completed"), "task.completed");
  const state = await stateAt(session, completed.seq);
  const record = must(state.tasks[task], "task");
  assert.equal(record["status"], "completed");
  assert.equal(record["agent_id"], agent);
  assert.equal(state.agents[agent]?.["agent_type"], "coder");
  const end = await stateAt(session, must(events.at(-1), "last event").seq);
  assert.equal(end.agents[agent]?.["status"], "terminated");
  assert.equal(end.session["status"], "completed");
});

test("the v3 domain EventBus (emit of whole event objects) and events no alias names", async () => {
  const tracer = new Tracer({ sessionId: sessionId("cf-domain"), agentId: "coordinator", transport: "memory" });
  const bus = new DomainEventBus();
  traceEventBus(bus, tracer);
  // The shapes of @claude-flow/shared's events.js factories (taskCreatedEvent, …: not exported by
  // the package's entry points): {id, type, timestamp, source, payload}.
  const at = Date.now();
  await bus.emit({ id: "evt-1", type: "task:created", timestamp: at, source: "swarm", payload: { taskId: "T1", type: "code", title: "limiter" } });
  await bus.emit({ id: "evt-2", type: "task:assigned", timestamp: at, source: "swarm", payload: { taskId: "T1", agentId: "coder-1" } });
  await bus.emit({ id: "evt-3", type: "task:completed", timestamp: at, source: "swarm", payload: { taskId: "T1", result: { ok: true } } });
  bus.emitSync({ id: "evt-x", type: "swarm:phase-changed", timestamp: Date.now(), source: "swarm", payload: { newPhase: "build" } });
  await tracer.flush();
  const events = tracer.events as { id: string; type: string; agent_id?: string; data: Record<string, unknown> }[];
  assert.deepEqual(
    events.map((e) => [e.type, e.data["task_id"]]),
    [
      ["task_create", "T1"],
      ["task_assignment", "T1"],
      ["task_complete", "T1"],
      ["custom.claude_flow.swarm:phase-changed", undefined],
    ],
  );
  assert.equal(events[2]?.agent_id, "coder-1", "the end is the assignee's");
  assert.equal(events[3]?.id, "evt-x");
  assert.deepEqual(must(events[3], "4th event").data, { newPhase: "build" });
  await tracer.close();
});

test("a payload the contract cannot take is kept as custom.claude_flow.unmapped, and the bus goes on", async () => {
  const tracer = new Tracer({ sessionId: sessionId("cf-bad"), agentId: "coordinator", transport: "memory" });
  const bus = new EventBus();
  traceEventBus(bus, tracer);
  let delivered = 0;
  bus.on("task:created", () => {
    delivered++;
  });
  bus.emit("task:created", { note: "no task id" });
  await tracer.flush();
  assert.equal(delivered, 1);
  const event = must((tracer.events as { type: string; data: Record<string, unknown> }[])[0], "event");
  assert.equal(event.type, "custom.claude_flow.unmapped");
  assert.equal(event.data["name"], "task:created");
  assert.deepEqual(event.data["payload"], { note: "no task id" });
  await tracer.close();
});

test("mapClaudeFlowEvent follows aliases.json (v2 names, nested task and entry objects)", () => {
  const created = mapClaudeFlowEvent("task:created", { task: { id: "T9", description: "d", dependencies: ["T1"], priority: 3 } });
  assert.equal(created.type, "task_create");
  assert.deepEqual(
    [created.data["task_id"], created.data["description"], created.data["dependencies"], created.data["priority"]],
    ["T9", "d", ["T1"], 3],
  );
  const updated = mapClaudeFlowEvent("memory:updated", { entry: { namespace: "n", key: "k", value: [1, 2], version: 4 }, previousVersion: 3 });
  assert.deepEqual([updated.type, updated.data["key"], updated.data["value"], updated.data["version"]], ["memory_write", "k", [1, 2], 4]);
  const retried = mapClaudeFlowEvent("task.retried", { taskId: "T9", error: "boom" });
  assert.deepEqual([retried.type, retried.data["will_retry"], retried.phase], ["task_fail", true, "error"]);
  const dated = mapClaudeFlowEvent("task:started", { taskId: "T9", agentId: "a b", startTime: new Date(0) });
  assert.equal(dated.data["startTime"], "1970-01-01T00:00:00.000Z");
  assert.equal(dated.agentId, "a-b");
});
