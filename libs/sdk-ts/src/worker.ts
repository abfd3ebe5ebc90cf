/**
 * The publisher's worker thread: owns the transport (the NATS connection or the HTTP client), so the
 * tracer never keeps the process alive by itself (the worker is unref'd; see publisher.ts), and so
 * redaction and the retries run beside the agent rather than on its event loop.
 *
 * Protocol (structured-clone messages):
 *   main → worker: init, batch {n, items}, abandon, stop
 *   worker → main: state {connected, lastError}, done {n, outcomes, sizes, retries, redacted}, stopped
 * A batch is retried with the same ids until every event is acknowledged or refused for good; only
 * then is it `done`, so the main thread holds (and sheds) new events while NATS is away.
 */
import { parentPort, workerData } from "node:worker_threads";
import type { Encoded } from "./encoding.js";
import { HttpTransport, NatsTransport, OK, RETRY, type Transport } from "./transport.js";
import { Redactor, type RedactorOptions } from "./redaction.js";

export interface WorkerInit {
  transport: { kind: "nats"; url: string; name: string; batches: boolean } | { kind: "http"; url: string; apiKey: string | undefined };
  publishTimeout: number;
  redaction: RedactorOptions;
  maxEventBytes: number;
}

export type ToWorker = { t: "batch"; n: number; items: Encoded[] } | { t: "abandon" } | { t: "stop" };

export type FromWorker =
  | { t: "state"; connected: boolean; lastError: string | undefined }
  | { t: "done"; n: number; outcomes: string[]; sizes: number[]; retries: number; redacted: number; truncated: number }
  | { t: "stopped" };

const RETRY_BACKOFF_MAX = 2000;

class PublisherWorker {
  private readonly transport: Transport;
  private readonly redactor: Redactor;
  private readonly queue: { n: number; items: Encoded[] }[] = [];
  private connected = false;
  private abandoned = false;
  private stopping = false;
  private running = false;
  private wakeSleep: (() => void) | undefined;

  constructor(
    private readonly port: NonNullable<typeof parentPort>,
    private readonly init: WorkerInit,
  ) {
    const t = init.transport;
    this.transport = t.kind === "nats" ? new NatsTransport(t.url, t.name, t.batches) : new HttpTransport(t.url, t.apiKey);
    this.redactor = new Redactor(init.redaction);
    port.on("message", (message: ToWorker) => { this.onMessage(message); });
    void this.run();
  }

  private post(message: FromWorker): void {
    this.port.postMessage(message);
  }

  private onMessage(message: ToWorker): void {
    if (message.t === "batch") this.queue.push({ n: message.n, items: message.items });
    else if (message.t === "abandon") this.abandoned = true;
    else this.stopping = true;
    this.wakeSleep?.();
    if (!this.running) void this.run();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      const wake = (): void => { done(); };
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wakeSleep = wake;
    }).finally(() => { this.wakeSleep = undefined; });
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      await this.connect();
      for (;;) {
        const next = this.queue.shift();
        if (next !== undefined) {
          await this.publish(next.n, next.items);
          continue;
        }
        if (this.stopping) break;
        this.running = false;
        return;
      }
      await this.transport.close();
      this.post({ t: "stopped" });
      this.port.close();
    } finally {
      this.running = false;
    }
  }

  private async connect(): Promise<void> {
    let delay = 50;
    while (!this.connected && !this.abandoned) {
      try {
        await this.transport.connect();
        this.connected = true;
        this.post({ t: "state", connected: true, lastError: undefined });
        return;
      } catch (error) {
        this.transport.lastError = `connect: ${String(error)}`;
        this.post({ t: "state", connected: false, lastError: this.transport.lastError });
      }
      if (this.stopping && this.queue.length === 0) return;
      await this.sleep(delay);
      delay = Math.min(delay * 2, RETRY_BACKOFF_MAX);
    }
  }

  /** Redacts, checks sizes, and sends until every event is acknowledged or refused for good. */
  private async publish(n: number, items: Encoded[]): Promise<void> {
    const outcomes: string[] = items.map(() => RETRY);
    const sizes: number[] = items.map(() => 0);
    let redacted = 0;
    let truncated = 0;
    const sendable: number[] = [];
    items.forEach((item, index) => {
      const result = this.redactor.prepare(item.payload);
      redacted += result.redacted;
      if (result.truncated) truncated += 1;
      item.payload = result.payload;
      const size = Buffer.byteLength(item.payload);
      sizes[index] = size;
      if (size > this.init.maxEventBytes) outcomes[index] = "too_large";
      else sendable.push(index);
    });
    let retries = 0;
    let pending = sendable;
    let delay = 50;
    while (pending.length > 0 && !this.abandoned) {
      if (!this.connected) await this.connect();
      let results: string[];
      try {
        results = await this.transport.send(pending.map((i) => items[i] as Encoded), this.init.publishTimeout);
      } catch (error) {
        this.transport.lastError = String(error);
        results = pending.map(() => RETRY);
      }
      const retry: number[] = [];
      pending.forEach((index, k) => {
        const outcome = results[k] ?? RETRY;
        if (outcome === RETRY) retry.push(index);
        else outcomes[index] = outcome;
      });
      pending = retry;
      if (pending.length === 0) {
        this.post({ t: "state", connected: true, lastError: this.transport.lastError });
        break;
      }
      retries += 1;
      this.post({ t: "state", connected: false, lastError: this.transport.lastError });
      await this.sleep(delay);
      delay = Math.min(delay * 2, RETRY_BACKOFF_MAX);
    }
    for (const index of pending) outcomes[index] = "unsent_at_close";
    this.post({ t: "done", n, outcomes: outcomes.map((o) => (o === OK ? OK : o)), sizes, retries, redacted, truncated });
  }
}

if (parentPort !== null) new PublisherWorker(parentPort, workerData as WorkerInit);
