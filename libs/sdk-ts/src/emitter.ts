/**
 * Emitting events: the caller's path and spans (the Python SDK's `emitter.py` and `spans.py`).
 *
 * `emit` is the hot path: it checks the type and required fields, builds a small object and appends
 * it to the buffer. No encoding, no redaction, no I/O there: those happen in the publisher.
 */
import { type Priority, type WireEvent } from "./buffer.js";
import { CURRENT_SPAN, type SpanContext } from "./context.js";
import { EVENT_ID, SESSION, type TracerCore } from "./core.js";

export type Phase = "start" | "progress" | "complete" | "error";
export type EventData = Readonly<Record<string, unknown>>;

/** Per-event envelope fields; everything is optional. */
export interface EmitOptions {
  /** The agent the event belongs to; default: the emitter's, the enclosing span's, the tracer's. `"_"`: none. */
  agentId?: string;
  /** The span this event belongs to (events of one span share it). */
  spanId?: string;
  /** The parent span. `undefined`: the enclosing span; `null`: no parent. */
  parentId?: string | null;
  /** The event id (`[A-Za-z0-9_.:-]{1,128}`); default: generated, sortable by time. */
  id?: string;
  priority?: Priority;
  phase?: Phase;
  tags?: readonly string[];
  correlationId?: string;
  causationId?: string;
  performance?: Readonly<Record<string, unknown>>;
  metadata?: Readonly<Record<string, unknown>>;
  /** Epoch milliseconds; default now. */
  timestamp?: number;
}

/** Options of `span(...)`: the span's envelope. */
export interface SpanOptions {
  agentId?: string;
  /** The span id; default the id of its start event. */
  spanId?: string;
  parentId?: string | null;
  priority?: Priority;
  tags?: readonly string[];
  correlationId?: string;
  /** The types of the closing events, for lifecycles like task_start → task_complete / task_fail. */
  completeType?: string;
  errorType?: string;
  progressType?: string;
}

const SELF_SPAN = "\u0000self";
const MAX_STACK_LINES = 30;

/** An error as event data: type, message and a bounded stack. */
export function describeError(error: unknown): { type: string; message: string; stack?: string } {
  if (error instanceof Error) {
    const stack = error.stack?.split("\n").slice(0, MAX_STACK_LINES + 1).join("\n");
    const described: { type: string; message: string; stack?: string } = {
      type: error.name || error.constructor.name,
      message: error.message || error.name,
    };
    if (stack !== undefined) described.stack = stack;
    return described;
  }
  return { type: typeof error, message: String(error) };
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === "object" || typeof value === "function") &&
    typeof (value as { then?: unknown }).then === "function"
  );
}

/** Emits events for one session, optionally bound to one agent. See `Tracer` and `forAgent`. */
export class EmitterBase {
  /** @internal */
  readonly core: TracerCore;
  protected readonly boundAgent: string | undefined;

  /** @internal */
  constructor(core: TracerCore, agentId: string | undefined) {
    if (agentId !== undefined && agentId !== SESSION) core.checkAgent(agentId);
    this.core = core;
    this.boundAgent = agentId;
  }

  get sessionId(): string {
    return this.core.sessionId;
  }

  /** The agent this emitter speaks for (undefined: the tracer's default, or the enclosing span's). */
  get agentId(): string | undefined {
    return this.boundAgent ?? this.core.defaultAgent;
  }

  /** @internal */
  resolveAgent(agentId: string | undefined, ctx: SpanContext | undefined): string | undefined {
    const agent = agentId ?? this.boundAgent ?? ctx?.agentId ?? this.core.defaultAgent;
    if (agent === SESSION) return undefined;
    if (agent !== undefined && !this.core.knownAgents.has(agent)) this.core.checkAgent(agent);
    return agent;
  }

  /**
   * Emits one event and returns its id (`undefined` only after `close()`: the event is dropped and
   * counted as `closed`). `type` is a taxonomy type, a Claude-Flow alias or `custom.<name>`; `data`
   * must hold the type's required fields (a TypeError names the missing ones). The parent span, the
   * agent and the correlation id come from the enclosing span unless given. `data` is copied
   * shallowly: nested objects are read when the publisher encodes them, within milliseconds.
   */
  emit(type: string, data?: EventData, options?: EmitOptions): string | undefined {
    const core = this.core;
    if (data !== undefined && ((data as unknown) === null || typeof data !== "object" || Array.isArray(data))) {
      throw new TypeError(`event data must be a plain object, got ${Array.isArray(data) ? "an array" : typeof data}`);
    }
    const opts = options ?? {};
    const agentOpt = core.checkType(type, data, opts.agentId);
    const phase = opts.phase ?? "complete";
    if (opts.phase !== undefined) core.checkPhase(phase);
    const priority = opts.priority;
    const rank = core.rank(priority);
    const ctx = core.context();
    let agent = agentOpt ?? this.boundAgent ?? ctx?.agentId ?? core.defaultAgent;
    if (agent !== undefined) {
      if (agent === SESSION) agent = undefined;
      else if (!core.knownAgents.has(agent)) core.checkAgent(agent);
    }
    if (core.closed) {
      core.warnClosed(rank);
      return undefined;
    }
    const timestamp = opts.timestamp ?? core.now();
    const seq = core.nextSeq();
    let id = opts.id;
    if (id === undefined) id = core.eventId(timestamp, seq);
    else if (!EVENT_ID.test(id)) throw new TypeError(`id must match ${EVENT_ID.source}, got ${JSON.stringify(id)}`);
    const event: WireEvent = {
      id,
      timestamp,
      session_id: core.sessionId,
      type,
      phase,
      data: data ? { ...data } : {},
    };
    if (agent !== undefined) {
      event["agent_id"] = agent;
      event["agent_seq"] = core.nextAgentSeq(agent);
    }
    if (opts.spanId !== undefined) event["span_id"] = opts.spanId === SELF_SPAN ? id : opts.spanId;
    const parentId = opts.parentId === undefined ? ctx?.spanId : opts.parentId;
    const correlationId = opts.correlationId ?? ctx?.correlationId;
    const tags = opts.tags;
    if (
      parentId ||
      correlationId ||
      opts.causationId ||
      rank !== 1 ||
      (tags && tags.length > 0) ||
      core.tags.length > 0 ||
      opts.metadata ||
      core.retention
    ) {
      const meta: Record<string, unknown> = opts.metadata ? { ...opts.metadata } : {};
      if (parentId) meta["parent_id"] = parentId;
      if (correlationId) meta["correlation_id"] = correlationId;
      if (opts.causationId) meta["causation_id"] = opts.causationId;
      if (rank !== 1) meta["priority"] = priority;
      if ((tags && tags.length > 0) || core.tags.length > 0) meta["tags"] = [...core.tags, ...(tags ?? [])];
      if (core.retention && !("retention" in meta)) meta["retention"] = core.retention;
      event["metadata"] = meta;
    }
    if (opts.performance) event["performance"] = { ...opts.performance };
    if (core.sink !== undefined) {
      core.sink(rank, seq, event);
      return id;
    }
    const buffer = core.buffer;
    const buffered = buffer.length;
    buffer.put(rank, { seq, event });
    const waker = core.waker;
    // Wake the publisher when it sleeps, and when a full batch is waiting (flush on size).
    if (waker !== undefined && (waker.idle || buffered === core.batchSize)) waker.wake();
    return id;
  }

  /**
   * Runs `fn` as a span of `type`: a start event, then complete (with `performance.duration`) or
   * error (with the thrown error) under one span id. Works for sync and async `fn`: with a promise
   * the span closes when it settles. Everything emitted inside `fn`, including after `await`s and in
   * callbacks it schedules, has the span as its parent. Returns what `fn` returns.
   */
  span<T>(type: string, data: EventData | undefined, fn: (span: Span) => T, options?: SpanOptions): T {
    const span = new Span(this, type, data, options);
    span.start();
    return span.run(fn);
  }

  /** A span opened now and closed by `span.end()` (for work whose start and end are callbacks). */
  startSpan(type: string, data?: EventData, options?: SpanOptions): Span {
    return new Span(this, type, data, options).start();
  }
}

/** A traced unit of work; see `EmitterBase.span`. */
export class Span {
  readonly type: string;
  readonly completeType: string;
  readonly errorType: string;
  readonly progressType: string;
  /** The span id (the start event's id unless given); set by `start()`. */
  spanId: string | undefined;
  protected readonly data: Record<string, unknown>;
  protected readonly result: Record<string, unknown> = {};
  private readonly extraPerformance: Record<string, unknown> = {};
  private readonly emitter: EmitterBase;
  private agent: string | undefined;
  private parentId: string | null | undefined;
  private readonly priority: Priority | undefined;
  private readonly tags: readonly string[] | undefined;
  private correlationId: string | undefined;
  private failure: unknown;
  private failed = false;
  private ctx: SpanContext | undefined;
  private started = false;
  private done = false;
  private t0 = 0;
  private cpu0: NodeJS.CpuUsage | undefined;
  private rss0 = 0;

  constructor(emitter: EmitterBase, type: string, data?: EventData, options?: SpanOptions) {
    this.emitter = emitter;
    this.type = type;
    this.completeType = options?.completeType ?? type;
    this.errorType = options?.errorType ?? type;
    this.progressType = options?.progressType ?? type;
    this.data = data ? { ...data } : {};
    this.agent = options?.agentId;
    this.spanId = options?.spanId;
    this.parentId = options?.parentId;
    this.priority = options?.priority;
    this.tags = options?.tags;
    this.correlationId = options?.correlationId;
  }

  /** The agent of the span's events (resolved at start). */
  get agentId(): string | undefined {
    return this.agent;
  }

  /** The context nested work runs in once started. */
  get context(): SpanContext | undefined {
    return this.ctx;
  }

  /** Emits the start event. Nested work sees the span only inside `run(fn)` (or `tracer.span`). */
  start(): this {
    if (this.started) return this;
    this.started = true;
    const emitter = this.emitter;
    const core = emitter.core;
    const ctx = core.context();
    const agent = emitter.resolveAgent(this.agent, ctx);
    this.agent = agent;
    if (this.parentId === undefined) this.parentId = ctx?.spanId;
    this.correlationId ??= ctx?.correlationId;
    this.beginMeasure();
    const id = emitter.emit(this.type, this.data, {
      phase: "start",
      agentId: agent ?? SESSION,
      spanId: this.spanId ?? SELF_SPAN,
      parentId: this.parentId ?? null,
      ...this.envelope(),
    });
    this.spanId ??= id;
    this.ctx = {
      sessionId: core.sessionId,
      spanId: this.spanId,
      agentId: agent,
      correlationId: this.correlationId,
    };
    return this;
  }

  /**
   * Runs `fn` inside this span's context and closes the span when `fn` returns, throws, or its
   * promise settles. Returns what `fn` returns.
   */
  run<T>(fn: (span: Span) => T): T {
    if (!this.started) this.start();
    let result: T;
    try {
      result = this.ctx !== undefined ? CURRENT_SPAN.run(this.ctx, fn, this) : fn(this);
    } catch (error) {
      this.end(error);
      throw error;
    }
    if (isPromiseLike(result)) {
      return result.then(
        (value) => {
          this.end();
          return value;
        },
        (error: unknown) => {
          this.end(error);
          throw error;
        },
      ) as T;
    }
    this.end();
    return result;
  }

  /** Adds fields to the closing event's data (e.g. `{ result, exit_code: 0 }`). */
  set(data: EventData): this {
    Object.assign(this.result, data);
    return this;
  }

  /** Adds fields to the closing event's performance (e.g. `input_tokens`, `cost_usd`). */
  setPerformance(performance: EventData): this {
    Object.assign(this.extraPerformance, performance);
    return this;
  }

  /** Marks the span failed without throwing: it closes with an error event. */
  fail(error: unknown, data?: EventData): this {
    this.failure = error;
    this.failed = true;
    if (data) Object.assign(this.result, data);
    return this;
  }

  /** Emits a progress event of this span; returns its id. */
  progress(progress?: number, message?: string, data?: EventData): string | undefined {
    if (!this.started || this.done) return undefined;
    const payload: Record<string, unknown> = { ...this.progressBase(), ...data };
    if (progress !== undefined) payload["progress"] = progress;
    if (message !== undefined) payload["message"] = message;
    return this.emitter.emit(this.progressType, payload, {
      phase: "progress",
      agentId: this.agent ?? SESSION,
      parentId: this.parentId ?? null,
      ...this.envelope(),
      ...(this.spanId !== undefined ? { spanId: this.spanId } : {}),
    });
  }

  /** Emits the closing event: error if `error` is given or `fail` was called. Idempotent. */
  end(error?: unknown): void {
    if (this.done || !this.started) return;
    this.done = true;
    const failed = error !== undefined || this.failed;
    const failure = error !== undefined ? error : this.failure;
    const performance = this.measure();
    const base = {
      agentId: this.agent ?? SESSION,
      parentId: this.parentId ?? null,
      performance,
      ...this.envelope(),
      ...(this.spanId !== undefined ? { spanId: this.spanId } : {}),
    };
    if (!failed) {
      this.emitter.emit(this.completeType, this.completeData(), { ...base, phase: "complete" });
    } else {
      const priority = this.priority === "high" || this.priority === "critical" ? this.priority : "high";
      this.emitter.emit(this.errorType, this.errorData(failure), { ...base, phase: "error", priority });
    }
  }

  protected progressBase(): Record<string, unknown> {
    return { ...this.data };
  }

  protected completeData(): Record<string, unknown> {
    return { ...this.data, ...this.result };
  }

  protected errorData(failure: unknown): Record<string, unknown> {
    const error = typeof failure === "string" ? { message: failure } : describeError(failure);
    return { ...this.data, ...this.result, error };
  }

  private envelope(): Pick<EmitOptions, "priority" | "tags" | "correlationId"> {
    const out: Pick<EmitOptions, "priority" | "tags" | "correlationId"> = {};
    if (this.priority !== undefined) out.priority = this.priority;
    if (this.tags !== undefined) out.tags = this.tags;
    if (this.correlationId !== undefined) out.correlationId = this.correlationId;
    return out;
  }

  private beginMeasure(): void {
    const core = this.emitter.core;
    this.t0 = core.clock !== undefined ? core.clock() : performance.now();
    if (core.measure) {
      this.cpu0 = process.cpuUsage();
      this.rss0 = process.memoryUsage.rss();
    }
  }

  private measure(): Record<string, unknown> {
    const core = this.emitter.core;
    const out: Record<string, unknown> =
      core.clock !== undefined
        ? { duration: round(core.clock() - this.t0, 3) }
        : { duration: round(performance.now() - this.t0, 4) };
    if (core.measure && this.cpu0 !== undefined) {
      const cpu = process.cpuUsage(this.cpu0);
      const rss = process.memoryUsage.rss();
      // Node has no per-thread CPU clock; this is the process's CPU time during the span.
      out["cpu_time"] = round((cpu.user + cpu.system) / 1000, 4);
      out["memory_usage"] = rss;
      out["memory_delta"] = rss - this.rss0;
    }
    Object.assign(out, this.extraPerformance);
    return out;
  }
}

function round(value: number, digits: number): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
