/**
 * `Tracer`: one session's tracer.
 *
 *     const tracer = new Tracer({ sessionId: "swarm-demo-01", agentId: "coder-1" });
 *     tracer.emit("tool_call", { tool: "Bash", args: { command: "npm test" }, exit_code: 0 });
 *     await tracer.span("llm_call", { model: "claude-sonnet-4" }, async (span) => { ... });
 *     await tracer.close();
 *
 * The caller only appends to a bounded buffer; see README.md for the whole interface.
 */
import { DropCounter, EventBuffer, FILTER_REASONS, LOSS_REASONS, type DropSnapshot, type Priority, type WireEvent } from "./buffer.js";
import { TracerCore, type Clock } from "./core.js";
import { MAX_EVENT_BYTES, encodeEvent } from "./encoding.js";
import { Redactor } from "./redaction.js";
import { Publisher } from "./publisher.js";
import { Emitter } from "./vocabulary.js";

export const DEFAULT_NATS_URL = "nats://127.0.0.1:14222";
export const DEFAULT_GATEWAY_URL = "http://127.0.0.1:8000";

/** `$SWARMSCOPE_NATS_URL`, else the port `make run` starts NATS on. */
export function defaultNatsUrl(): string {
  return process.env["SWARMSCOPE_NATS_URL"] || DEFAULT_NATS_URL;
}

/** `$SWARMSCOPE_GATEWAY_URL`, else the gateway's default address. */
export function defaultGatewayUrl(): string {
  return process.env["SWARMSCOPE_GATEWAY_URL"] || DEFAULT_GATEWAY_URL;
}

export interface TracerOptions {
  /** The session every event belongs to (`[A-Za-z0-9_-]{1,128}`, not `_`). */
  sessionId: string;
  /** The default agent of events. */
  agentId?: string;
  /** NATS server; default `$SWARMSCOPE_NATS_URL`, else nats://127.0.0.1:14222. */
  natsUrl?: string;
  /** The gateway, for the HTTP transport; default `$SWARMSCOPE_GATEWAY_URL`, else http://127.0.0.1:8000. */
  httpUrl?: string;
  /** Bearer key for the HTTP transport; default `$SWARMSCOPE_API_KEY`. */
  apiKey?: string;
  /** `"nats"` (default; `"http"` when only `httpUrl` is given) or `"memory"` (events kept in `tracer.events`). */
  transport?: "nats" | "http" | "memory";
  /** Events held while the transport is away; then shed by priority. Default 10 000. */
  bufferSize?: number;
  /** Events per publish batch. Default 500. */
  maxBatch?: number;
  /** Over NATS, send a session's events as batch messages (CONTRACT §3 v1.1). Default true. */
  batchMessages?: boolean;
  /** How long the publisher lingers to gather a batch, ms. Default 10. */
  flushInterval?: number;
  /** Bound on one publish (waiting for acks), ms. Default 5000. */
  publishTimeout?: number;
  /** How often new drops are reported as `custom.sdk_drops`, ms. Default 5000. */
  dropReportInterval?: number;
  /** Bound on the final flush in `close()` and at process exit, ms. Default 5000. */
  closeTimeout?: number;
  /** Secret-key patterns (default: the contract's); values matched are redacted before sending. */
  redactKeys?: readonly string[];
  /** Redact secrets inside strings (tokens, keys, passwords in URLs). Default true. */
  redactValues?: boolean;
  /** Truncate longer strings (marked). Default: keep values whole. */
  maxValueBytes?: number;
  /** Tags added to every event's metadata. */
  tags?: readonly string[];
  /** Retention in hours, in every event's metadata. */
  retention?: number;
  /** Default priority. Default "normal". */
  priority?: Priority;
  /** Epoch-ms clock, for deterministic tests. */
  clock?: Clock;
  /** CPU and memory in span performance. Default true. */
  measureResources?: boolean;
  /** Flush and close when the process is about to exit (`beforeExit`). Default true. */
  closeOnExit?: boolean;
  /** Connection name. Default "swarmscope-sdk-ts". */
  name?: string;
}

/** Counters of a tracer: published, buffered, drops by reason and priority, … */
export interface TracerStats {
  sessionId: string;
  transport: string;
  connected: boolean;
  published: number;
  batches: number;
  retries: number;
  buffered: number;
  bufferCapacity: number;
  dropped: DropSnapshot;
  lost: number;
  filtered: number;
  redactedValues: number;
  truncatedEvents: number;
  lastError: string | undefined;
}

/** Traces one session. Never blocks the caller beyond appending to a buffer. */
export class Tracer extends Emitter {
  /** In memory mode: every event, as it would travel. */
  readonly events: WireEvent[] = [];
  readonly transportDescription: string;
  /** Bound on the final flush, ms. */
  readonly closeTimeout: number;
  private closedFlag = false;
  private closing: Promise<boolean> | undefined;
  private readonly publisher: Publisher | undefined;
  private readonly onBeforeExit: (() => void) | undefined;

  constructor(options: TracerOptions) {
    const drops = new DropCounter();
    const buffer = new EventBuffer(options.bufferSize ?? 10_000, drops);
    const maxBatch = options.maxBatch ?? 500;
    if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new RangeError(`maxBatch must be at least 1, got ${maxBatch}`);
    if (options.retention !== undefined && !(options.retention > 0)) {
      throw new RangeError(`retention is in hours and must be positive, got ${options.retention}`);
    }
    const core = new TracerCore({
      sessionId: options.sessionId,
      defaultAgent: options.agentId,
      buffer,
      drops,
      clock: options.clock,
      tags: options.tags ?? [],
      retention: options.retention,
      defaultPriority: options.priority ?? "normal",
      measure: options.measureResources ?? true,
    });
    super(core, undefined);
    this.closeTimeout = options.closeTimeout ?? 5000;
    const transport = options.transport ?? (options.httpUrl !== undefined && options.natsUrl === undefined ? "http" : "nats");
    if (transport === "memory") {
      // The event exactly as it would travel: encoded, redacted, truncated if asked.
      const redactor = new Redactor({ keys: options.redactKeys, values: options.redactValues ?? true, maxValueBytes: options.maxValueBytes });
      core.sink = (rank, _seq, event) => this.events.push(JSON.parse(redactor.prepare(encodeEvent(event, rank).payload).payload) as WireEvent);
      this.transportDescription = "memory";
      this.publisher = undefined;
      this.onBeforeExit = undefined;
      return;
    }
    // Checked at run time too: JavaScript callers get no type check.
    if ((transport as string) !== "nats" && (transport as string) !== "http") {
      throw new RangeError(`transport must be "nats", "http" or "memory", got ${JSON.stringify(transport)}`);
    }
    const flushInterval = options.flushInterval ?? 10;
    const publishTimeout = options.publishTimeout ?? 5000;
    if (!(flushInterval >= 0) || !(publishTimeout > 0) || !(this.closeTimeout >= 0)) {
      throw new RangeError("flushInterval and closeTimeout must be ≥ 0 and publishTimeout > 0 (milliseconds)");
    }
    if (options.maxValueBytes !== undefined && !(options.maxValueBytes >= 16)) {
      throw new RangeError(`maxValueBytes must be at least 16, got ${options.maxValueBytes}`);
    }
    const target =
      transport === "nats"
        ? { kind: "nats" as const, url: options.natsUrl ?? defaultNatsUrl(), name: options.name ?? "swarmscope-sdk-ts", batches: options.batchMessages ?? true }
        : { kind: "http" as const, url: options.httpUrl ?? defaultGatewayUrl(), apiKey: options.apiKey ?? process.env["SWARMSCOPE_API_KEY"] };
    this.transportDescription = target.kind === "nats" ? `NATS ${target.url}` : `HTTP ${target.url.replace(/\/+$/, "")}/api/v1/ingest`;
    this.publisher = new Publisher(buffer, drops, (type, data, priority, extra) => this.sdkEvent(type, data, priority, extra), {
      flushInterval,
      maxBatch,
      dropReportInterval: options.dropReportInterval ?? 5000,
      worker: {
        transport: target,
        publishTimeout,
        redaction: { keys: options.redactKeys, values: options.redactValues ?? true, maxValueBytes: options.maxValueBytes },
        maxEventBytes: MAX_EVENT_BYTES,
      },
    });
    core.waker = this.publisher;
    core.batchSize = maxBatch - 1;
    if (options.closeOnExit ?? true) {
      this.onBeforeExit = () => { void this.close(); };
      process.once("beforeExit", this.onBeforeExit);
    } else {
      this.onBeforeExit = undefined;
    }
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /**
   * Resolves once every event emitted so far is published (or dropped and counted): true, or false
   * if `timeoutMs` passed first (the events stay buffered).
   */
  flush(timeoutMs?: number): Promise<boolean> {
    if (this.publisher === undefined || this.closedFlag) return this.closing ?? Promise.resolve(true);
    return this.publisher.flush(this.core.counter, timeoutMs);
  }

  /**
   * Publishes what is buffered (waiting at most `timeoutMs`, default `closeTimeout`), reports the
   * drops, and stops. Events emitted afterwards are dropped and counted. Idempotent. Resolves false
   * when some events could not be published in time (they are counted as `unsent_at_close`).
   */
  close(timeoutMs?: number): Promise<boolean> {
    if (this.closing !== undefined) return this.closing;
    this.closedFlag = true;
    this.core.closed = true;
    if (this.onBeforeExit) process.off("beforeExit", this.onBeforeExit);
    const publisher = this.publisher;
    this.closing = (async () => {
      const clean = publisher === undefined ? true : await publisher.stop(timeoutMs ?? this.closeTimeout);
      return clean && this.core.drops.total(["unsent_at_close"]) === 0;
    })();
    return this.closing;
  }

  /** An event the SDK itself reports (drops, size errors); bypasses the caller's checks. */
  private sdkEvent(
    type: string,
    data: Record<string, unknown>,
    priority: "high" | "critical",
    extra?: { agentId?: string | undefined; parentId?: string | undefined },
  ): { rank: number; seq: number; event: WireEvent } {
    const core = this.core;
    const timestamp = core.now();
    const seq = core.nextSeq();
    const metadata: Record<string, unknown> = { priority, tags: ["sdk"] };
    const event: WireEvent = {
      id: core.eventId(timestamp, seq),
      timestamp,
      session_id: core.sessionId,
      type,
      phase: "complete",
      data,
      metadata,
    };
    const agent = extra !== undefined && "agentId" in extra ? extra.agentId : core.defaultAgent;
    if (agent !== undefined) {
      event["agent_id"] = agent;
      event["agent_seq"] = core.nextAgentSeq(agent);
    }
    if (extra?.parentId) metadata["parent_id"] = extra.parentId;
    return { rank: core.rank(priority), seq, event };
  }

  stats(): TracerStats {
    const core = this.core;
    const dropped = core.drops.snapshot();
    const sum = (reasons: readonly string[]): number =>
      Object.entries(dropped)
        .filter(([reason]) => reasons.includes(reason))
        .reduce((n, [, by]) => n + Object.values(by).reduce((a, b) => a + b, 0), 0);
    const stats = this.publisher?.stats;
    return {
      sessionId: core.sessionId,
      transport: this.transportDescription,
      connected: stats?.connected ?? true,
      published: stats?.published ?? this.events.length,
      batches: stats?.batches ?? 0,
      retries: stats?.retries ?? 0,
      buffered: core.buffer.length,
      bufferCapacity: core.buffer.capacity,
      dropped,
      lost: sum(LOSS_REASONS),
      filtered: sum(FILTER_REASONS),
      redactedValues: stats?.redacted ?? 0,
      truncatedEvents: stats?.truncated ?? 0,
      lastError: stats?.lastError,
    };
  }
}
