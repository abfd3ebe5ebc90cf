#!/usr/bin/env node
// The TypeScript demo swarm of `make run` (SWARMSCOPE_DEMO=ts): Claude-Flow's real orchestrator
// classes (@claude-flow/shared's EventBus, SessionManager, LifecycleManager, TaskManager) run a
// small swarm offline — no LLM — traced by `traceEventBus`; tool and LLM calls are spans of the
// agents doing the work, memory and messages go over the same bus. One session after another,
// at a pace a person can follow, until SIGINT/SIGTERM (the open session then ends `cancelled`).
//
//   node bin/claude-flow-demo.mjs [--loop] [--sessions N] [--speed X]     (after `npm run build`)
//
// NATS from $SWARMSCOPE_NATS_URL (make run sets it), else the SDK's default.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";

import { EventBus, LifecycleManager, SessionManager, TaskManager } from "@claude-flow/shared/core";

import { Tracer } from "../dist/index.js";
import { traceEventBus } from "../dist/claude-flow.js";

const { values } = parseArgs({
  options: {
    loop: { type: "boolean", default: false },
    sessions: { type: "string", default: "1" },
    speed: { type: "string", default: "1" },
    prefix: { type: "string", default: "ts-demo" },
  },
});
const speed = Math.max(0.01, Number(values.speed) || 1);
let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"]) process.once(signal, () => (stopping = true));

class Stopped extends Error {}

async function pause(ms) {
  const end = Date.now() + ms / speed;
  while (Date.now() < end) {
    if (stopping) throw new Stopped();
    await sleep(Math.min(200, end - Date.now()));
  }
}

const AGENTS = [
  { id: "researcher-1", name: "Researcher", type: "researcher", capabilities: ["search", "analysis"] },
  { id: "coder-1", name: "Coder", type: "coder", capabilities: ["typescript", "node"] },
  { id: "tester-1", name: "Tester", type: "tester", capabilities: ["node:test"] },
];

async function tool(tracer, agent, name, args, result, ms) {
  await tracer.forAgent(agent).span("tool_call", { tool: name, args }, async (span) => {
    await pause(ms);
    span.set({ result, exit_code: 0 });
  });
}

async function llm(tracer, agent, prompt, response, tokens) {
  await tracer.forAgent(agent).span("llm_call", { model: "claude-sonnet-4", prompt }, async (span) => {
    await pause(600 + tokens[1] / 2);
    span.set({ response, input_tokens: tokens[0], output_tokens: tokens[1], cost_usd: (tokens[0] * 3 + tokens[1] * 15) / 1e6 });
  });
}

async function session(index) {
  const sessionId = `${values.prefix}-${new Date().toISOString().slice(5, 19).replace(/[-:T]/g, "")}-${String(index + 1).padStart(3, "0")}`;
  const tracer = new Tracer({ sessionId, agentId: "coordinator" });
  const bus = new EventBus();
  const untrace = traceEventBus(bus, tracer);
  const sessions = new SessionManager(bus, { persistSessions: false, dataDir: mkdtempSync(join(tmpdir(), "cf-demo-")) });
  const lifecycle = new LifecycleManager(bus, { maxConcurrentAgents: 8, spawnTimeout: 1000, terminateTimeout: 1000, maxSpawnRetries: 1 });
  const tasks = new TaskManager(bus);
  const fail = index % 3 === 2; // every third session: the first test run fails and is retried
  let cfSession;
  try {
    cfSession = await sessions.createSession({ id: "coordinator", name: "Coordinator", type: "coordinator" }, "term-1", "bank-1");
    for (const agent of AGENTS) {
      await lifecycle.spawn(agent);
      await pause(300);
    }
    const research = await tasks.createTask({ type: "research", description: "Compare rate limiter designs for the API gateway", priority: 80 });
    const code = await tasks.createTask({ type: "code", description: "Implement a token bucket limiter", priority: 60 });
    const test = await tasks.createTask({ type: "test", description: "Test the limiter under burst load", priority: 50 });

    await tasks.assignTask(research.id, "researcher-1");
    await tasks.startTask(research.id);
    await tool(tracer, "researcher-1", "WebSearch", { query: "token bucket vs sliding window" }, { hits: 8 }, 900);
    await llm(tracer, "researcher-1", "Summarize the trade-offs of token bucket and sliding window limiters.", "Token bucket allows bursts up to capacity…", [1800, 420]);
    const design = { algorithm: "token bucket", capacity: 100, refill_per_second: 20, notes: "bursts allowed up to capacity" };
    bus.emit("memory:stored", { entry: { namespace: "swarm", key: "design/limiter", value: design, agentId: "researcher-1", version: 1 } });
    bus.emit("message:sent", { from: "researcher-1", to: ["coder-1"], message: { id: `${sessionId}-m1`, type: "direct", payload: "design/limiter is ready" } });
    await tasks.completeTask(research.id, { output: design, duration: 2400 });

    await tasks.assignTask(code.id, "coder-1");
    await tasks.startTask(code.id);
    bus.emit("memory:retrieved", { entry: { namespace: "swarm", key: "design/limiter", agentId: "coder-1", version: 1 } });
    await llm(tracer, "coder-1", "Write limiter.ts implementing the design in swarm/design/limiter.", "export class TokenBucket { … }", [2600, 900]);
    await tool(tracer, "coder-1", "Write", { file_path: "src/limiter.ts" }, { bytes: 1840 }, 400);
    bus.emit("memory:stored", { entry: { namespace: "swarm", key: "code/limiter", value: { path: "src/limiter.ts", exports: ["TokenBucket"] }, agentId: "coder-1", version: 1 } });
    await tasks.completeTask(code.id, { output: { files: ["src/limiter.ts"] }, duration: 3100 });
    bus.emit("message:sent", { from: "coder-1", to: ["tester-1"], message: { id: `${sessionId}-m2`, type: "task_assignment", payload: "please test src/limiter.ts" } });

    await tasks.assignTask(test.id, "tester-1");
    await tasks.startTask(test.id);
    if (fail) {
      await tool(tracer, "tester-1", "Bash", { command: "npm test -- limiter" }, { stdout: "1 failing: burst of 150 allowed" }, 1200);
      await tasks.failTask(test.id, new Error("burst of 150 requests was allowed (capacity 100)"));
      await tasks.retryTask(test.id);
      await pause(800);
      await tasks.assignTask(test.id, "tester-1");
      await tasks.startTask(test.id);
    }
    await tool(tracer, "tester-1", "Bash", { command: "npm test -- limiter" }, { stdout: "12 passing" }, 1200);
    await tasks.completeTask(test.id, { output: { passing: 12 }, duration: 1500 });
    bus.emit("message:sent", { from: "tester-1", to: ["coordinator"], message: { id: `${sessionId}-m3`, type: "progress_update", payload: "all limiter tests pass" } });
    for (const agent of AGENTS) await lifecycle.terminate(agent.id, "work done");
    await sessions.terminateSession(cfSession.id);
    console.log(`${sessionId}: completed`);
  } catch (error) {
    if (!(error instanceof Stopped)) throw error;
    tracer.emit("session_end", { status: "cancelled", reason: "demo stopped" });
    console.log(`${sessionId}: cancelled`);
  } finally {
    untrace();
    await tracer.close();
  }
}

const total = values.loop ? Infinity : Math.max(1, Number(values.sessions) || 1);
console.log(`TypeScript demo swarm (Claude-Flow EventBus → swarmscope) at ${process.env.SWARMSCOPE_NATS_URL ?? "the default NATS"}`);
for (let index = 0; index < total && !stopping; index++) {
  await session(index);
  if (!stopping && index + 1 < total) await pause(3000).catch(() => undefined);
}
