/**
 * The state one tracer's emitters share: identity, counters, the buffer and the publisher's wake-up.
 * Kept apart from the emitters so that `tracer.forAgent("coder-1")` views share one buffer, one
 * connection and one id space — the Python SDK's `TracerCore`. Not part of the public API.
 */
import { randomBytes } from "node:crypto";
import { ALIASES, REQUIRED_FIELDS, SDK } from "./contract.generated.js";
import { DropCounter, EventBuffer, PRIORITY_NAMES, PRIORITY_RANK, type WireEvent } from "./buffer.js";
import { CURRENT_SPAN, type SpanContext } from "./context.js";

export const NAME = new RegExp(SDK.patterns.name);
export const EVENT_ID = new RegExp(SDK.patterns.event_id);
export const CUSTOM_TYPE = new RegExp(SDK.patterns.custom_type);
const ALIAS_TABLE: Readonly<Record<string, string>> = ALIASES.aliases;
const PHASES: ReadonlySet<string> = new Set(SDK.phases);
const KNOWN_CACHE_LIMIT = 10_000;

/** Pass as `agentId` for a session-level event (no agent), even from an agent's view. */
export const SESSION = SDK.nats.no_agent_token;

/** Where events go in memory mode: (priority rank, sequence number, event). */
export type Sink = (rank: number, seq: number, event: WireEvent) => void;

/** Epoch milliseconds; injectable for deterministic tests. */
export type Clock = () => number;

/** What the core needs from the background publisher. */
export interface Waker {
  /** True while the publisher sleeps waiting for events. */
  readonly idle: boolean;
  wake(): void;
}

export interface CoreOptions {
  sessionId: string;
  defaultAgent: string | undefined;
  buffer: EventBuffer;
  drops: DropCounter;
  clock: Clock | undefined;
  tags: readonly string[];
  retention: number | undefined;
  defaultPriority: string;
  measure: boolean;
}

export class TracerCore {
  readonly sessionId: string;
  readonly defaultAgent: string | undefined;
  readonly buffer: EventBuffer;
  readonly drops: DropCounter;
  readonly clock: Clock | undefined;
  readonly tags: readonly string[];
  readonly retention: number | undefined;
  readonly defaultRank: number;
  readonly measure: boolean;
  /** Random per tracer: the middle of every event id and of message ids. */
  readonly tag: string;
  counter = 0;
  private messageCounter = 0;
  readonly agentSeqs = new Map<string, number>();
  readonly knownAgents = new Set<string>();
  private readonly knownTypes = new Set<string>();
  closed = false;
  private warnedClosed = false;
  /** Set by the tracer: the in-memory sink, or the publisher to wake. */
  sink: Sink | undefined;
  waker: Waker | undefined;
  /** The buffer length that triggers an early flush (the publisher's max batch). */
  batchSize = -1;

  constructor(options: CoreOptions) {
    checkName("sessionId", options.sessionId);
    if (options.defaultAgent !== undefined) checkName("agentId", options.defaultAgent);
    const rank = PRIORITY_RANK[options.defaultPriority];
    if (rank === undefined) {
      throw new RangeError(
        `priority must be one of ${JSON.stringify(PRIORITY_NAMES)}, got ${JSON.stringify(options.defaultPriority)}`,
      );
    }
    this.sessionId = options.sessionId;
    this.defaultAgent = options.defaultAgent;
    this.buffer = options.buffer;
    this.drops = options.drops;
    this.clock = options.clock;
    this.tags = [...options.tags];
    this.retention = options.retention;
    this.defaultRank = rank;
    this.measure = options.measure;
    this.tag = randomBytes(4).toString("hex");
  }

  /** The enclosing span of this tracer's session, if any. */
  context(): SpanContext | undefined {
    const ctx = CURRENT_SPAN.getStore();
    return ctx !== undefined && ctx.sessionId === this.sessionId ? ctx : undefined;
  }

  now(): number {
    return this.clock !== undefined ? this.clock() : Date.now();
  }

  /** The next sequence number; also the counter part of generated event ids. */
  nextSeq(): number {
    const seq = this.counter;
    this.counter = seq + 1;
    return seq;
  }

  /** An event id: 11 hex digits of epoch ms, the tracer's tag, a 6-digit counter (ids.py). */
  eventId(timestamp: number, seq: number): string {
    return (
      Math.trunc(timestamp).toString(16).padStart(11, "0") +
      this.tag +
      (seq & 0xffffff).toString(16).padStart(6, "0")
    );
  }

  nextAgentSeq(agent: string): number {
    const next = (this.agentSeqs.get(agent) ?? 0) + 1;
    this.agentSeqs.set(agent, next);
    return next;
  }

  /** A message id unique in the session (`m-<tracer tag>-<n>`). */
  newMessageId(): string {
    this.messageCounter += 1;
    return `m-${this.tag}-${this.messageCounter}`;
  }

  checkAgent(agentId: string): void {
    checkName("agentId", agentId);
    if (this.knownAgents.size < KNOWN_CACHE_LIMIT) this.knownAgents.add(agentId);
  }

  /**
   * Validates a type and its payload. Taxonomy types need their required fields; aliases and
   * `custom.<name>` types are accepted as they are. Returns the agent id a Claude-Flow payload names
   * (`agentId`) when none was given, since ingest takes the agent from there too and the subject
   * must agree with the body.
   */
  checkType(type: string, data: Readonly<Record<string, unknown>> | undefined, agentId: string | undefined): string | undefined {
    const required = REQUIRED_FIELDS[type];
    if (required !== undefined) {
      if (required.length > 0) {
        const missing = required.filter((key) => data === undefined || !(key in data));
        if (missing.length > 0) {
          throw new TypeError(`${type} events require data fields ${JSON.stringify(missing)} (CONTRACT §2)`);
        }
      }
      return agentId;
    }
    if (type in ALIAS_TABLE) {
      if (agentId === undefined && data !== undefined) {
        const named = data["agentId"];
        if (typeof named === "string" && NAME.test(named)) return named;
      }
      return agentId;
    }
    if (this.knownTypes.has(type)) return agentId;
    if (typeof type !== "string") throw new TypeError(`event type must be a string, got ${typeof type}`);
    if (CUSTOM_TYPE.test(type)) {
      if (this.knownTypes.size < KNOWN_CACHE_LIMIT) this.knownTypes.add(type);
      return agentId;
    }
    throw new TypeError(
      `unknown event type ${JSON.stringify(type)}: use a type of the taxonomy (e.g. "tool_call"), ` +
        `a Claude-Flow alias (e.g. "task:created") or "custom.<name>"`,
    );
  }

  checkPhase(phase: string): void {
    if (!PHASES.has(phase)) {
      throw new RangeError(`phase must be one of ${JSON.stringify([...PHASES])}, got ${JSON.stringify(phase)}`);
    }
  }

  rank(priority: string | undefined): number {
    if (priority === undefined) return this.defaultRank;
    const rank = PRIORITY_RANK[priority];
    if (rank === undefined) {
      throw new RangeError(`priority must be one of ${JSON.stringify(PRIORITY_NAMES)}, got ${JSON.stringify(priority)}`);
    }
    return rank;
  }

  warnClosed(rank: number): void {
    this.drops.add("closed", rank);
    if (!this.warnedClosed) {
      this.warnedClosed = true;
      process.emitWarning("swarmscope: event emitted after the tracer was closed; dropped and counted");
    }
  }
}

/** Throws unless `value` is a valid session or agent id (CONTRACT §1). */
export function checkName(field: string, value: unknown): asserts value is string {
  if (typeof value !== "string" || !NAME.test(value)) {
    throw new TypeError(`${field} must match [A-Za-z0-9_-]{1,128}, got ${JSON.stringify(value)}`);
  }
  if (value === SESSION) {
    throw new TypeError(`${field} '_' is reserved (it is the subject token of session-level events)`);
  }
}
