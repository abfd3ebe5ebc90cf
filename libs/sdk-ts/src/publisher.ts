/**
 * The background publisher (the Python SDK's `publisher.py`), in two halves:
 *
 * - here, on the agent's thread: after the first event of a quiet spell it lingers `flushInterval`
 *   (less when a full batch is waiting) so a burst leaves as one batch, drains the buffer in
 *   emission order, encodes off the caller's path and hands the batch to the worker; one batch is
 *   in flight at a time, so while NATS is away the buffer fills and sheds by priority. Every
 *   `dropReportInterval` new drops go out as a `custom.sdk_drops` event, and a last report at close.
 * - in a worker thread (worker.ts): redaction, the size limit, the transport and its retries.
 *
 * The worker and every timer are unref'd: a tracer never keeps the process alive by itself. When
 * the program is done, `beforeExit` fires and the tracer closes (flushes, reports, disconnects);
 * while a flush or close is waited for, the worker is ref'd so the wait is not cut short.
 */
import { Worker } from "node:worker_threads";
import { FILTER_REASONS, LOSS_REASONS, subtract, type DropSnapshot, type EventBuffer, type DropCounter, type WireEvent } from "./buffer.js";
import { SDK } from "./contract.generated.js";
import { encodeEvent, type Encoded } from "./encoding.js";
import type { FromWorker, ToWorker, WorkerInit } from "./worker.js";
import type { Waker } from "./core.js";

/** Builds an SDK-generated event (drop reports, size errors): (type, data, priority, agent, parent). */
export type EventFactory = (
  type: string,
  data: Record<string, unknown>,
  priority: "high" | "critical",
  extra?: { agentId?: string | undefined; parentId?: string | undefined },
) => { rank: number; seq: number; event: WireEvent };

export interface PublisherOptions {
  flushInterval: number;
  maxBatch: number;
  dropReportInterval: number;
  worker: WorkerInit;
}

export interface PublisherStats {
  published: number;
  batches: number;
  retries: number;
  connected: boolean;
  lastError: string | undefined;
  redacted: number;
  truncated: number;
}

interface InFlight {
  n: number;
  /** Kept so a batch can be handed to a restarted worker. */
  items: Encoded[];
  ranks: number[];
  events: (WireEvent | undefined)[];
}

interface FlushRequest {
  mark: number;
  resolve: (done: boolean) => void;
}

function spawnWorker(data: WorkerInit): Worker {
  // The worker inherits the process's node flags, but `--input-type` (node -e scripts) is refused
  // for a file entry point.
  const execArgv = process.execArgv.filter((flag) => !flag.startsWith("--input-type"));
  return new Worker(new URL("./worker.js", import.meta.url), { workerData: data, execArgv });
}

const MAX_WORKER_RESTARTS = 5;

export class Publisher implements Waker {
  idle = true;
  readonly stats: PublisherStats = {
    published: 0,
    batches: 0,
    retries: 0,
    connected: false,
    lastError: undefined,
    redacted: 0,
    truncated: 0,
  };
  private worker: Worker;
  private restarts = 0;
  private timer: NodeJS.Timeout | undefined;
  private linger: NodeJS.Timeout | undefined;
  private inFlight: InFlight | undefined;
  private batchNumber = 0;
  private flushes: FlushRequest[] = [];
  private refs = 0;
  private stopping = false;
  /** The buffer is drained and the last drop report sent (after stop began). */
  private drained = false;
  /** The worker was told to stop: nothing more is sent. */
  private finished = false;
  private stopped: Promise<void> = Promise.resolve();
  private reported: DropSnapshot = {};
  private lastReport = performance.now();
  private finalReported = false;
  /** Re-checked whenever the loop's state changes (a batch comes back, the buffer drains). */
  private waiters: (() => void)[] = [];

  constructor(
    private readonly buffer: EventBuffer,
    private readonly drops: DropCounter,
    private readonly makeEvent: EventFactory,
    private readonly options: PublisherOptions,
  ) {
    this.worker = this.startWorker();
  }

  private startWorker(): Worker {
    const worker = spawnWorker(this.options.worker);
    worker.on("message", (message: FromWorker) => { this.onMessage(message); });
    this.stopped = new Promise<void>((resolve) => {
      worker.once("exit", () => { resolve(); });
    });
    worker.once("exit", (code) => { this.onExit(worker, code); });
    worker.on("error", (error) => {
      this.stats.lastError = `publisher worker: ${String(error)}`;
      console.error(`swarmscope: the publisher worker stopped on an unexpected error: ${String(error)}`);
    });
    // After the listeners: adding a 'message' listener refs the worker again.
    if (this.refs === 0) worker.unref();
    return worker;
  }

  /**
   * The worker ended without being told to stop (it should not): a new one takes over and is
   * handed the batch that was in flight, with the same ids, so nothing is lost or duplicated.
   */
  private onExit(worker: Worker, code: number): void {
    if (worker !== this.worker || this.finished) return;
    this.stats.connected = false;
    this.stats.lastError = `publisher worker exited unexpectedly (code ${code})`;
    if (this.restarts >= MAX_WORKER_RESTARTS) {
      console.error(`swarmscope: ${this.stats.lastError}; gave up after ${MAX_WORKER_RESTARTS} restarts, events stay buffered`);
      return;
    }
    this.restarts += 1;
    console.error(`swarmscope: ${this.stats.lastError}; restarting it`);
    this.worker = this.startWorker();
    const flight = this.inFlight;
    if (flight !== undefined) this.post({ t: "batch", n: flight.n, items: flight.items });
  }

  // ------------------------------------------------------------------------------ the caller's side --

  /** Called by emit when the publisher sleeps or a full batch is waiting. */
  wake(): void {
    this.idle = false;
    if (this.inFlight !== undefined || this.finished) return;
    if (this.buffer.length >= this.options.maxBatch) this.schedule(0);
    else this.schedule(this.options.flushInterval);
  }

  /** Resolves true once every event with a sequence number below `mark` is published or dropped. */
  flush(mark: number, timeoutMs: number | undefined): Promise<boolean> {
    if (this.isFlushed(mark)) return Promise.resolve(true);
    return this.held(
      new Promise<boolean>((resolve) => {
        this.flushes.push({ mark, resolve });
        this.schedule(0);
      }),
      timeoutMs,
      false,
    );
  }

  /**
   * Publishes what is buffered (bounded by `timeoutMs`), sends the last drop report, then stops
   * the worker. What could not be sent in time is counted as `unsent_at_close`.
   */
  async stop(timeoutMs: number): Promise<boolean> {
    if (!this.stopping) {
      this.stopping = true;
      this.schedule(0);
    }
    const clean = await this.held(this.until(() => this.drained), timeoutMs, false);
    if (!clean) {
      this.post({ t: "abandon" });
      const left = this.buffer.drain(Number.MAX_SAFE_INTEGER);
      for (const [rank] of left) this.drops.add("unsent_at_close", rank);
      // The batch in flight comes back from the worker as unsent_at_close.
      await this.held(this.until(() => this.inFlight === undefined), 2000, false);
      console.error(
        `swarmscope: ${this.drops.total(["unsent_at_close"])} events could not be published before the tracer closed ` +
          `(${this.stats.lastError ?? "transport unreachable"}); drops so far: ${JSON.stringify(this.drops.snapshot())}`,
      );
    }
    this.finished = true;
    this.post({ t: "stop" });
    await this.held(this.stopped.then(() => true), 2000, false);
    await this.worker.terminate();
    this.releaseFlushes(true);
    return clean;
  }

  /** Resolves true once `condition()` holds (checked now and after every state change). */
  private until(condition: () => boolean): Promise<boolean> {
    if (condition()) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const check = (): void => {
        if (condition()) resolve(true);
        else this.waiters.push(check);
      };
      this.waiters.push(check);
    });
  }

  private notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    waiters.forEach((check) => { check(); });
  }

  // --------------------------------------------------------------------------------- the loop --

  private post(message: ToWorker): void {
    try {
      this.worker.postMessage(message);
    } catch (error) {
      this.stats.lastError = `publisher worker: ${String(error)}`;
    }
  }

  /** Keeps the process alive while `promise` is waited for; resolves `onTimeout` after `timeoutMs`. */
  private async held<T>(promise: Promise<T>, timeoutMs: number | undefined, onTimeout: T): Promise<T> {
    this.refs += 1;
    if (this.refs === 1) this.worker.ref();
    let timer: NodeJS.Timeout | undefined;
    try {
      if (timeoutMs === undefined) return await promise;
      return await Promise.race([
        promise,
        new Promise<T>((resolve) => {
          timer = setTimeout(() => { resolve(onTimeout); }, Math.max(0, timeoutMs));
        }),
      ]);
    } finally {
      clearTimeout(timer);
      this.refs -= 1;
      if (this.refs === 0) this.worker.unref();
    }
  }

  private schedule(delayMs: number): void {
    if (this.timer !== undefined) {
      if (delayMs > 0) return;
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (delayMs > 0 && delayMs === this.options.flushInterval) {
      // The linger: one Timeout object re-armed with refresh(), so the first emit after a quiet
      // spell does not pay for allocating and unref'ing a new timer on the caller's path.
      this.linger ??= setTimeout(() => {
        this.timer = undefined;
        this.pump();
      }, delayMs).unref();
      this.linger.refresh();
      this.timer = this.linger;
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.pump();
    }, delayMs).unref();
  }

  private isFlushed(mark: number): boolean {
    const head = this.buffer.headSeq();
    return this.inFlight === undefined && (head === undefined || head >= mark);
  }

  private releaseFlushes(everything = false): void {
    if (this.flushes.length === 0) return;
    const keep: FlushRequest[] = [];
    for (const request of this.flushes) {
      if (everything || this.isFlushed(request.mark)) request.resolve(!everything || this.isFlushed(request.mark));
      else keep.push(request);
    }
    this.flushes = keep;
  }

  private pump(): void {
    if (this.inFlight !== undefined || this.finished) return;
    const items = this.buffer.drain(this.options.maxBatch);
    const encoded: Encoded[] = [];
    const ranks: number[] = [];
    const events: (WireEvent | undefined)[] = [];
    const report = this.dropReport(items.length === 0 && this.stopping && !this.finalReported);
    if (report !== undefined) {
      encoded.push(encodeEvent(report.event, report.rank));
      ranks.push(report.rank);
      events.push(undefined);
    }
    for (const [rank, item] of items) {
      try {
        encoded.push(encodeEvent(item.event, rank));
      } catch (error) {
        // Should not happen (encoding falls back to text); count it rather than lose silently.
        console.error(`swarmscope: cannot encode event ${String(item.event["id"])}: ${String(error)}`);
        this.drops.add("rejected", rank);
        continue;
      }
      ranks.push(rank);
      events.push(item.event);
    }
    if (items.length === 0 && this.stopping) this.finalReported = true;
    if (encoded.length === 0) {
      this.releaseFlushes();
      if (this.stopping) {
        this.drained = true;
        this.notify();
        return;
      }
      this.idle = true;
      return;
    }
    this.batchNumber += 1;
    this.inFlight = { n: this.batchNumber, items: encoded, ranks, events };
    this.post({ t: "batch", n: this.batchNumber, items: encoded });
  }

  private onMessage(message: FromWorker): void {
    if (message.t === "state") {
      this.stats.connected = message.connected;
      if (message.lastError !== undefined) this.stats.lastError = message.lastError;
      return;
    }
    if (message.t !== "done") return;
    const flight = this.inFlight;
    if (flight?.n !== message.n) return;
    this.inFlight = undefined;
    this.stats.batches += 1;
    this.stats.retries += message.retries;
    this.stats.redacted += message.redacted;
    this.stats.truncated += message.truncated;
    message.outcomes.forEach((outcome, index) => {
      const rank = flight.ranks[index] ?? 1;
      if (outcome === "ok") {
        this.stats.published += 1;
        return;
      }
      this.drops.add(outcome as "rejected", rank);
      const event = flight.events[index];
      if (outcome === "too_large" && event !== undefined) this.tooLargeError(event, message.sizes[index] ?? 0);
    });
    this.releaseFlushes();
    this.notify();
    if (this.finished) return;
    const urgent = this.stopping || this.flushes.length > 0 || this.buffer.length >= this.options.maxBatch;
    if (urgent) this.schedule(0);
    else if (this.buffer.length > 0) this.schedule(this.options.flushInterval);
    else this.idle = true;
  }

  /** An `error` event under the dropped event's span, saying it was too large (publisher.py). */
  private tooLargeError(event: WireEvent, size: number): void {
    const message =
      `event ${String(event["id"])} (${String(event["type"])}) is ${size} bytes encoded, over the ` +
      `${SDK.max_event_bytes}-byte limit; the SDK dropped it (pass maxValueBytes to the Tracer to ` +
      "truncate long values instead)";
    console.error(`swarmscope: ${message}`);
    const metadata = event["metadata"] as Record<string, unknown> | undefined;
    const parent = (event["span_id"] as string | undefined) ?? (metadata?.["parent_id"] as string | undefined);
    const { rank, seq, event: error } = this.makeEvent(
      "error",
      {
        message,
        error_type: "EventTooLarge",
        scope: "sdk",
        recoverable: true,
        dropped_event: { id: event["id"], type: event["type"], bytes: size },
      },
      "high",
      { agentId: event["agent_id"] as string | undefined, parentId: parent },
    );
    this.buffer.put(rank, { seq, event: error });
  }

  private dropReport(force: boolean): { rank: number; event: WireEvent } | undefined {
    const now = performance.now();
    if (!force && now - this.lastReport < this.options.dropReportInterval) return undefined;
    const snapshot = this.drops.snapshot();
    const fresh = subtract(snapshot, this.reported);
    if (Object.keys(fresh).length === 0) return undefined;
    this.lastReport = now;
    this.reported = snapshot;
    const total = (counts: DropSnapshot, reasons: readonly string[]): number =>
      Object.entries(counts)
        .filter(([reason]) => reasons.includes(reason))
        .reduce((n, [, by]) => n + Object.values(by).reduce((a, b) => a + b, 0), 0);
    const data = {
      dropped: snapshot,
      new: fresh,
      lost: total(snapshot, LOSS_REASONS),
      filtered: total(snapshot, FILTER_REASONS),
      new_lost: total(fresh, LOSS_REASONS),
      buffer_capacity: this.buffer.capacity,
      published: this.stats.published,
    };
    if (data.new_lost > 0) {
      console.warn(`swarmscope: dropped ${data.new_lost} events since the last report: ${JSON.stringify(fresh)}`);
    }
    const { rank, event } = this.makeEvent(SDK.sdk_drops.type, data, "critical");
    return { rank, event };
  }
}
