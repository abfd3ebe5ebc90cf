// The TypeScript SDK's overhead (issue 14 §6), run by `make bench` through bench/sdk_ts_overhead.py:
// - emit on the caller's path: median and p95 (µs; target ≤ 2 µs median);
// - a 1 ms async agent step (`await` a 1 ms timer) with two events: the caller-path share (≤ 1 %);
// - the publisher's throughput, emit → acknowledged by JetStream, against bare `js.publish` of the
//   same events (windows of 500 promises) on the same server in the same run.
// Starts its own nats-server 2.15 (the repository's .venv/bin/nats-server) with TRACES_RAW. Needs the
// package built (libs/sdk-ts/dist). Prints its figures and, last, the BENCH_RESULT line.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const PKG = join(ROOT, "libs", "sdk-ts");
const requireFromPkg = createRequire(join(PKG, "package.json"));
const { Tracer } = await import(pathToFileURL(join(PKG, "dist", "index.js")).href);
const { connect } = await import(pathToFileURL(requireFromPkg.resolve("@nats-io/transport-node")).href);
const { jetstream, jetstreamManager } = await import(pathToFileURL(requireFromPkg.resolve("@nats-io/jetstream")).href);

const EMIT_ROUNDS = 20;
const EMITS_PER_ROUND = 5_000;
const STEPS = 400;
const BURST = 100_000;

function freePort() {
  return new Promise((done) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });
}

async function startNats(dir) {
  const port = await freePort();
  const config = join(dir, "nats.conf");
  writeFileSync(config, `listen: 127.0.0.1:${port}\nmax_payload: 8388608\njetstream {\n  store_dir: "${join(dir, "js")}"\n}\n`);
  const child = spawn(join(ROOT, ".venv", "bin", "nats-server"), ["-c", config], { stdio: "ignore" });
  const url = `nats://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    try {
      const nc = await connect({ servers: url, reconnect: false });
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: "TRACES_RAW", subjects: ["traces.raw.>"], duplicate_window: 120_000_000_000 });
      await nc.close();
      return { child, url };
    } catch {
      await sleep(50);
    }
  }
  throw new Error("nats-server did not start");
}

const now = () => process.hrtime.bigint();
function timerOverheadNs() {
  const samples = [];
  for (let i = 0; i < 100_000; i++) {
    const t0 = now();
    samples.push(Number(now() - t0));
  }
  return median(samples);
}
function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}
function percentile(values, q) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))];
}

const dir = mkdtempSync(join(tmpdir(), "sdk-ts-bench-"));
const { child, url } = await startNats(dir);
try {
  const overhead = timerOverheadNs();
  console.log(`timer overhead ${overhead} ns (subtracted)`);
  const tracer = new Tracer({ sessionId: "bench-sdk-ts", agentId: "cod-1", natsUrl: url, bufferSize: 50_000, closeOnExit: false });
  const data = { tool: "Bash", args: { command: "npm test" }, exit_code: 0 };
  // Warm up the JIT before measuring.
  for (let i = 0; i < 20_000; i++) tracer.emit("tool_call", data);
  await tracer.flush(60_000);
  const emits = [];
  for (let round = 0; round < EMIT_ROUNDS; round++) {
    for (let i = 0; i < EMITS_PER_ROUND; i++) {
      const t0 = now();
      tracer.emit("tool_call", data);
      emits.push((Number(now() - t0) - overhead) / 1000);
    }
    await tracer.flush(60_000);
  }
  const emitMedian = median(emits);
  const emitP95 = percentile(emits, 0.95);
  console.log(`emit: median ${emitMedian.toFixed(2)} µs, p95 ${emitP95.toFixed(2)} µs (${emits.length} events)`);

  const agent = tracer.forAgent("cod-2");
  const stepEmits = [];
  const steps = [];
  const baseline = [];
  for (let i = 0; i < STEPS; i++) {
    // The machine's own cost of waking from the await: a trivial JSON.stringify right after it.
    await sleep(1);
    const b0 = now();
    JSON.stringify({ tool: "Bash", i });
    baseline.push((Number(now() - b0) - overhead) / 1000);
    const t0 = now();
    agent.emit("tool_call", { tool: "Bash", args: { i } }, { phase: "start" });
    const t1 = now();
    await sleep(1);
    const t2 = now();
    agent.emit("tool_call", { tool: "Bash", args: { i }, exit_code: 0 });
    const t3 = now();
    stepEmits.push((Number(t1 - t0) - overhead) / 1000, (Number(t3 - t2) - overhead) / 1000);
    steps.push(Number(t3 - t0) / 1000);
  }
  await tracer.flush(60_000);
  const step = median(steps);
  const stepEmit = median(stepEmits);
  const share = ((2 * stepEmit) / (step - 2 * stepEmit)) * 100;
  const wake = median(baseline);
  console.log(`1 ms async step + 2 events: median step ${step.toFixed(0)} µs, emit in the step ${stepEmit.toFixed(2)} µs, caller-path overhead ${share.toFixed(3)} % (a trivial JSON.stringify right after a 1 ms await: ${wake.toFixed(2)} µs)`);
  await tracer.close();

  const fast = new Tracer({ sessionId: "bench-ts-throughput", agentId: "cod-1", natsUrl: url, bufferSize: BURST + 10, closeOnExit: false });
  const started = performance.now();
  for (let i = 0; i < BURST; i++) fast.emit("tool_call", { tool: "Bash", args: { i }, exit_code: 0 });
  if (!(await fast.flush(120_000))) throw new Error("the throughput burst was not flushed in 120 s");
  const throughput = BURST / ((performance.now() - started) / 1000);
  const lost = fast.stats().lost;
  await fast.close();

  // Bare js.publish of the same events (one message each, with Nats-Msg-Id), windows of 500.
  const nc = await connect({ servers: url });
  const js = jetstream(nc);
  const payloads = [];
  for (let i = 0; i < BURST; i++) {
    payloads.push(JSON.stringify({ id: `b${i}`, timestamp: Date.now(), session_id: "bench-ts-bare", agent_id: "cod-1", type: "tool_call", phase: "complete", data: { tool: "Bash", args: { i }, exit_code: 0 } }));
  }
  const bareStart = performance.now();
  for (let i = 0; i < BURST; i += 500) {
    const window = [];
    for (let j = i; j < Math.min(BURST, i + 500); j++) {
      window.push(js.publish("traces.raw.bench-ts-bare.cod-1.tool_call", payloads[j], { msgID: `bench-ts-bare:b${j}` }));
    }
    await Promise.all(window);
  }
  const bare = BURST / ((performance.now() - bareStart) / 1000);
  await nc.close();
  console.log(`publisher: ${Math.round(throughput).toLocaleString("en")} events/s emitted and acknowledged (${lost} lost); bare js.publish, windows of 500: ${Math.round(bare).toLocaleString("en")} events/s`);

  const figures = [
    { figure: "TS emit, caller path, median", value: Number(emitMedian.toFixed(3)), unit: "µs", target: "<= 2" },
    { figure: "TS emit, caller path, p95", value: Number(emitP95.toFixed(3)), unit: "µs", target: null },
    { figure: "TS 1 ms async step with 2 events: caller-path overhead", value: Number(share.toFixed(3)), unit: "%", target: "<= 1" },
    { figure: "TS trivial JSON.stringify right after a 1 ms await (machine baseline)", value: Number(wake.toFixed(3)), unit: "µs", target: null },
    { figure: "TS publisher throughput (emit → acked)", value: Math.round(throughput), unit: "events/s", target: null, ceiling: Math.round(bare) },
    { figure: "bare @nats-io/jetstream js.publish, windows of 500", value: Math.round(bare), unit: "events/s", target: null },
  ];
  console.log("BENCH_RESULT " + JSON.stringify({ bench: "sdk_ts_overhead", figures }));
} finally {
  child.kill("SIGTERM");
  await sleep(200);
  rmSync(dir, { recursive: true, force: true });
}
