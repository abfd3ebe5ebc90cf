/**
 * Claude-Flow integration: trace a Claude-Flow EventBus or swarm coordinator with one line.
 *
 *     import { Tracer, traceEventBus, traceCoordinator } from "swarmscope";
 *     const tracer = new Tracer({ sessionId: "my-swarm", agentId: "coordinator" });
 *     traceEventBus(eventBus, tracer);          // v3 @claude-flow/shared EventBus, or v2's singleton
 *     traceCoordinator(coordinator, tracer);    // @claude-flow/swarm UnifiedSwarmCoordinator
 *
 * Each Claude-Flow event becomes the contract event its name stands for, by the one alias table
 * (`docs/contract/aliases.json`, generated from swarmscope_schema.aliases, which ingest applies
 * too): `task:created` → task_create, `agent:spawned` → agent_spawn, `task.assigned` →
 * task_assignment, … The payload goes whole (no truncation: exact replay needs full values), with
 * the canonical fields added beside Claude-Flow's own keys. Names the table does not know become
 * `custom.claude_flow.<name>` with their payload, so nothing is lost. Tracing never throws into
 * Claude-Flow's code: a failure is reported as an event (or on stderr) and the bus goes on.
 *
 * Three shapes are understood: `emit(type, payload, options?)` (v3 core EventBus, v2 EventBus),
 * `emit(event)` with a whole event object `{id, type, timestamp, source, payload}` (v3
 * `events.js` EventBus, domain events), and an EventEmitter emitting `(type, {id, type, source,
 * timestamp, data})` and again as `'event'` (UnifiedSwarmCoordinator; counted once).
 */
import { ALIASES } from "./contract.generated.js";
import { adapt, plain, type AliasRule } from "./claude-flow-fields.js";
import type { EmitOptions, Phase } from "./emitter.js";
import type { Priority } from "./buffer.js";

/** What `traceEventBus` / `traceCoordinator` need of a tracer (a `Tracer` or `tracer.forAgent(…)`). */
export interface TraceTarget {
  emit(type: string, data?: Readonly<Record<string, unknown>>, options?: EmitOptions): string | undefined;
  readonly agentId: string | undefined;
}

export interface ClaudeFlowTraceOptions {
  /** The agent an event is emitted as; default: the payload's agent (see `actorOf`), else the tracer's. */
  agentOf?: (name: string, payload: Readonly<Record<string, unknown>>) => string | undefined;
  /** Claude-Flow names not to trace (e.g. `"agent.heartbeat"`, `"system:healthcheck"`). */
  ignore?: Iterable<string>;
  /** Called when an event could not be traced (default: one line on stderr). */
  onError?: (error: unknown, name: string) => void;
}

/** A Claude-Flow event as a contract event: type, canonical data, and the envelope parts it implies. */
export interface MappedEvent {
  type: string;
  data: Record<string, unknown>;
  agentId: string | undefined;
  phase: Phase;
  spanId: string | undefined;
  correlationId: string | undefined;
}

const RULES = ALIASES.rules as unknown as Readonly<Record<string, AliasRule>>;
const CUSTOM_PREFIX = "custom.claude_flow.";
const UNSAFE_NAME = /[^A-Za-z0-9_-]/g;
const UNSAFE_TOKEN = /[^A-Za-z0-9_.:-]/g;
const EVENT_ID = /^[A-Za-z0-9_.:-]{1,128}$/;
const PRIORITIES = new Set(["low", "normal", "high", "critical"]);
const AGENT_FIELDS = ["agent_id", "parent_agent_id"] as const;
// Remembered envelope ids of a coordinator (each event arrives twice: by type and as 'event').
const SEEN_LIMIT = 1024;

/** An agent id the contract accepts (`[A-Za-z0-9_-]{1,128}`) made from any Claude-Flow id. */
export function safeAgentId(value: string): string {
  const text = value.replace(UNSAFE_NAME, "-").slice(0, 128);
  return text === "" || text === "_" ? "unknown" : text;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function text(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}

/**
 * The agent a Claude-Flow event speaks for: the agent it is about (`agentId`, a task's assignee for
 * task starts and ends, a message's sender, a memory entry's owner); task creation and assignment
 * are the coordinator's (the tracer's own agent).
 */
export function actorOf(name: string, data: Readonly<Record<string, unknown>>, canonical: string): string | undefined {
  if (canonical === "task_create" || canonical === "task_assignment") return undefined;
  if (canonical === "communication") {
    const message = isObject(data["message"]) ? data["message"] : {};
    return text(message["from"]) ?? text(data["from"]);
  }
  if (canonical.startsWith("memory_")) {
    const entry = isObject(data["entry"]) ? data["entry"] : {};
    return text(entry["agentId"]) ?? text(entry["owner"]) ?? text(data["agentId"]);
  }
  if (canonical === "session_start" || canonical === "session_end" || canonical === "coordination") {
    return undefined;
  }
  return text(data["agentId"]) ?? (name.startsWith("task") ? text(data["agent_id"]) : undefined);
}

/** Per traced bus: the attempts of each task, so a task's start and end share a span. */
export class TaskSpans {
  private readonly attempts = new Map<string, number>();
  private readonly assignees = new Map<string, string>();

  /** The agent a task was last assigned to (its starts and ends are that agent's). */
  assignee(canonical: string, taskId: string, data: Record<string, unknown>): string | undefined {
    if (canonical === "task_assignment" && typeof data["agent_id"] === "string") {
      if (this.assignees.size >= 10_000 && !this.assignees.has(taskId)) {
        const oldest = this.assignees.keys().next().value;
        if (oldest !== undefined) this.assignees.delete(oldest);
      }
      this.assignees.set(taskId, data["agent_id"]);
      return undefined;
    }
    return canonical.startsWith("task_") && canonical !== "task_create" ? this.assignees.get(taskId) : undefined;
  }

  span(canonical: string, taskId: string, data: Record<string, unknown>): { phase: Phase; spanId?: string } {
    const given = typeof data["attempt"] === "number" ? data["attempt"] : undefined;
    if (canonical === "task_start") {
      const attempt = given ?? (this.attempts.get(taskId) ?? 0) + 1;
      this.remember(taskId, attempt);
      data["attempt"] ??= attempt;
      return { phase: "start", spanId: `sp_${taskId}_a${attempt}` };
    }
    if (canonical === "task_complete" || canonical === "task_fail") {
      const attempt = given ?? this.attempts.get(taskId);
      if (attempt === undefined) return { phase: canonical === "task_fail" ? "error" : "complete" };
      return { phase: canonical === "task_fail" ? "error" : "complete", spanId: `sp_${taskId}_a${attempt}` };
    }
    return { phase: "complete" };
  }

  private remember(taskId: string, attempt: number): void {
    if (this.attempts.size >= 10_000 && !this.attempts.has(taskId)) {
      const oldest = this.attempts.keys().next().value;
      if (oldest !== undefined) this.attempts.delete(oldest);
    }
    this.attempts.set(taskId, attempt);
  }
}

/**
 * Maps one Claude-Flow event (its name and payload) to a contract event by aliases.json; names
 * the table does not know become `custom.claude_flow.<name>`. Pure but for `spans`.
 */
export function mapClaudeFlowEvent(name: string, payload: unknown, spans?: TaskSpans): MappedEvent {
  const converted = plain(payload);
  const raw: Record<string, unknown> = isObject(converted) ? converted : converted === undefined ? {} : { value: converted };
  const rule = Object.prototype.hasOwnProperty.call(RULES, name) ? RULES[name] : undefined;
  if (rule === undefined) {
    // custom types carry at most 120 characters after `custom.`; `claude_flow.` takes 12 of them.
    const token = name.replace(UNSAFE_TOKEN, "_").slice(0, 108) || "unknown";
    return {
      type: CUSTOM_PREFIX + token,
      data: raw,
      agentId: text(raw["agentId"]),
      phase: "complete",
      spanId: undefined,
      correlationId: undefined,
    };
  }
  const data = adapt(rule, raw);
  for (const field of AGENT_FIELDS) {
    const value = data[field];
    if (typeof value === "string") data[field] = safeAgentId(value);
  }
  const taskId = text(data["task_id"]);
  let phase: Phase = "complete";
  let spanId: string | undefined;
  if (taskId !== undefined && spans !== undefined) ({ phase, spanId } = spans.span(rule.type, taskId, data));
  else if (rule.type === "task_start") phase = "start";
  else if (rule.type === "task_fail") phase = "error";
  if (rule.type === "error") phase = "error";
  const actor =
    actorOf(name, data, rule.type) ?? (taskId !== undefined ? spans?.assignee(rule.type, taskId, data) : undefined);
  return {
    type: rule.type,
    data,
    agentId: actor !== undefined ? safeAgentId(actor) : undefined,
    phase,
    spanId,
    correlationId: taskId,
  };
}

/** The parts of a Claude-Flow envelope (v3 EventBus options or a whole event object) we keep. */
interface Envelope {
  id?: unknown;
  timestamp?: unknown;
  source?: unknown;
  priority?: unknown;
  correlationId?: unknown;
  causationId?: unknown;
  metadata?: unknown;
}

function stampOf(value: unknown): number | undefined {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value.getTime();
  if (typeof value === "number" && Number.isFinite(value)) return value;
  if (typeof value === "string") {
    const parsed = Date.parse(value);
    return Number.isNaN(parsed) ? undefined : parsed;
  }
  return undefined;
}

class ClaudeFlowTracer {
  private readonly spans = new TaskSpans();
  private readonly ignore: Set<string>;
  private readonly seen = new Set<string>();

  constructor(
    private readonly tracer: TraceTarget,
    private readonly options: ClaudeFlowTraceOptions,
  ) {
    this.ignore = new Set(options.ignore ?? []);
  }

  /** Traces one event; never throws. */
  trace(name: string, payload: unknown, envelope: Envelope | undefined): void {
    if (this.ignore.has(name)) return;
    try {
      this.emit(name, payload, envelope);
    } catch (error) {
      this.fail(error, name, payload);
    }
  }

  /** An envelope coming a second time (a coordinator emits each by type and as 'event'). */
  repeated(id: unknown): boolean {
    if (typeof id !== "string") return false;
    if (this.seen.has(id)) return true;
    if (this.seen.size >= SEEN_LIMIT) {
      const oldest = this.seen.values().next().value;
      if (oldest !== undefined) this.seen.delete(oldest);
    }
    this.seen.add(id);
    return false;
  }

  private emit(name: string, payload: unknown, envelope: Envelope | undefined): void {
    const mapped = mapClaudeFlowEvent(name, payload, this.spans);
    const opts: { -readonly [K in keyof EmitOptions]: EmitOptions[K] } = { phase: mapped.phase };
    const chosen = this.options.agentOf?.(name, mapped.data) ?? mapped.agentId;
    if (chosen !== undefined) opts.agentId = safeAgentId(chosen);
    if (mapped.spanId !== undefined) opts.spanId = mapped.spanId;
    const meta: Record<string, unknown> = { claude_flow_event: name };
    if (envelope !== undefined) {
      if (typeof envelope.id === "string" && EVENT_ID.test(envelope.id)) opts.id = envelope.id;
      const stamp = stampOf(envelope.timestamp);
      if (stamp !== undefined) opts.timestamp = stamp;
      if (typeof envelope.priority === "string" && PRIORITIES.has(envelope.priority)) {
        opts.priority = envelope.priority as Priority;
      }
      const metadata = isObject(envelope.metadata) ? envelope.metadata : {};
      const correlation = text(envelope.correlationId) ?? text(metadata["correlationId"]);
      const causation = text(envelope.causationId) ?? text(metadata["causationId"]);
      if (correlation !== undefined) opts.correlationId = correlation;
      if (causation !== undefined) opts.causationId = causation;
      if (typeof envelope.source === "string") meta["claude_flow_source"] = envelope.source;
      const session = text(metadata["sessionId"]);
      if (session !== undefined) meta["claude_flow_session"] = session;
    }
    opts.correlationId ??= mapped.correlationId;
    opts.metadata = meta;
    if (mapped.type === "communication") completeMessage(mapped.data, envelope, opts.agentId ?? this.tracer.agentId);
    this.tracer.emit(mapped.type, mapped.data, opts);
  }

  private fail(error: unknown, name: string, payload: unknown): void {
    // A payload the contract cannot take (a required field missing): kept as a custom event.
    try {
      const converted = plain(payload);
      this.tracer.emit(`${CUSTOM_PREFIX}unmapped`, {
        name,
        payload: (converted ?? null),
        problem: error instanceof Error ? error.message : String(error),
      });
    } catch (again) {
      (this.options.onError ?? defaultOnError)(again, name);
      return;
    }
    if (this.options.onError !== undefined) this.options.onError(error, name);
  }
}

/**
 * A message needs an id and a sender (CONTRACT §2). Claude-Flow's coordinator reports a delivery
 * as `message.received {messageId, to}`: the sender is then the envelope's source (the swarm), else
 * the agent the event is emitted as.
 */
function completeMessage(data: Record<string, unknown>, envelope: Envelope | undefined, agent: string | undefined): void {
  const message = isObject(data["message"]) ? data["message"] : (data["message"] = {});
  message["from"] ??= text(envelope?.source) ?? agent ?? "unknown";
  if (message["id"] === undefined || message["id"] === null) {
    message["id"] = text(envelope?.id) ?? `msg-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  }
}

function defaultOnError(error: unknown, name: string): void {
  process.stderr.write(`swarmscope: could not trace Claude-Flow event ${name}: ${String(error)}\n`);
}

type AnyFunction = (...args: unknown[]) => unknown;
// Any method's type (parameters are contravariant: `never` takes them all).
type AnyMethod = (...args: never[]) => unknown;

/** What traceEventBus wraps: any of `emit`, `emitAsync`, `emitSync`. */
export interface EventBusLike {
  emit: AnyMethod;
  emitAsync?: AnyMethod;
  emitSync?: AnyMethod;
}

/** Undoes a `traceEventBus` / `traceCoordinator`: the original methods come back. */
export type Untrace = () => void;

function asEventObject(value: unknown): (Envelope & { type: string; payload?: unknown; data?: unknown }) | undefined {
  return isObject(value) && typeof value["type"] === "string"
    ? (value as unknown as Envelope & { type: string; payload?: unknown; data?: unknown })
    : undefined;
}

/**
 * Traces every event emitted on a Claude-Flow EventBus into `tracer` (see the module docstring)
 * by wrapping its `emit` (and `emitAsync` / `emitSync` when it has them). The event is traced
 * before Claude-Flow's handlers run, so events they emit in turn come after it. Returns a function
 * that restores the bus.
 */
export function traceEventBus(bus: EventBusLike, tracer: TraceTarget, options: ClaudeFlowTraceOptions = {}): Untrace {
  const traced = new ClaudeFlowTracer(tracer, options);
  const restore: Array<() => void> = [];
  const target = bus as unknown as Record<string, unknown>;
  for (const method of ["emit", "emitAsync", "emitSync"] as const) {
    const original = target[method];
    if (typeof original !== "function") continue;
    const wrapped = function (this: unknown, ...args: unknown[]): unknown {
      const [first, second, third] = args;
      if (typeof first === "string") {
        traced.trace(first, second, isObject(third) ? (third) : undefined);
      } else {
        const event = asEventObject(first);
        if (event !== undefined) traced.trace(event.type, event.payload ?? event.data, event);
      }
      return (original as AnyFunction).apply(this, args);
    };
    target[method] = wrapped;
    restore.push(() => {
      if (target[method] === wrapped) target[method] = original;
    });
  }
  if (restore.length === 0) throw new TypeError("traceEventBus: the bus has no emit method");
  return () => { restore.forEach((undo) => { undo(); }); };
}

/** What traceCoordinator wraps: an EventEmitter's `emit`. */
export interface CoordinatorLike {
  emit(eventName: string | symbol, ...args: unknown[]): boolean;
}

/**
 * Traces a Claude-Flow swarm coordinator (an EventEmitter emitting dotted names: `swarm.*`,
 * `task.*`, `agent.*`, `consensus.*`, `message.*`) by wrapping its `emit`. An envelope
 * `{id, type, timestamp, source, data}` emitted under its type and again as `'event'` is traced
 * once. EventEmitter's own names (`error`, `newListener`, `removeListener`) are not traced.
 */
export function traceCoordinator(
  coordinator: CoordinatorLike,
  tracer: TraceTarget,
  options: ClaudeFlowTraceOptions = {},
): Untrace {
  const traced = new ClaudeFlowTracer(tracer, options);
  // Kept unbound on purpose: it is put back as it was, and called with the emitter as `this`.
  // eslint-disable-next-line @typescript-eslint/unbound-method
  const original = coordinator.emit;
  const wrapped = function (this: unknown, eventName: string | symbol, ...args: unknown[]): boolean {
    if (typeof eventName === "string" && !INTERNAL.has(eventName)) {
      const event = asEventObject(args[0]);
      if (eventName === "event") {
        if (event !== undefined && !traced.repeated(event.id)) traced.trace(event.type, event.data ?? event.payload, event);
      } else if (event !== undefined && event.type === eventName) {
        if (!traced.repeated(event.id)) traced.trace(eventName, event.data ?? event.payload, event);
      } else {
        traced.trace(eventName, args[0], undefined);
      }
    }
    return original.apply(this, [eventName, ...args]);
  };
  coordinator.emit = wrapped;
  return () => {
    if (coordinator.emit === wrapped) coordinator.emit = original;
  };
}

const INTERNAL = new Set(["error", "newListener", "removeListener"]);
