/**
 * Turning a buffered event into wire text, off the caller's path (the Python SDK's `encoding.py`):
 * JSON of anything — values JSON cannot express (BigInt, Map, Set, bytes, errors, cycles,
 * functions) are encoded as their text or a plain form rather than lost — plus `metadata.source`
 * and the raw subject (CONTRACT §3).
 */
import { SDK } from "./contract.generated.js";
import { type WireEvent } from "./buffer.js";

/** `metadata.source` of events this SDK produces (CONTRACT v1.1 session source). */
export const SOURCE = "sdk-ts";
export const MAX_EVENT_BYTES: number = SDK.max_event_bytes;
const UNSAFE = new RegExp(SDK.nats.unsafe_token_pattern, "g");
const RAW_PREFIX = SDK.nats.raw_prefix;
const NO_AGENT = SDK.nats.no_agent_token;
const MAX_DEPTH = 200;

/** One event ready for the wire (what the publisher worker receives). */
export interface Encoded {
  eventId: string;
  sessionId: string;
  agentId: string | undefined;
  type: string;
  subject: string;
  payload: string;
  rank: number;
}

/** A subject-safe token: `:`, `.` and anything else unsafe become `_`. */
export function subjectToken(value: string): string {
  return value.replace(UNSAFE, "_") || "_";
}

/** `traces.raw.<session>.<agent or _>.<type token>`. */
export function rawSubject(sessionId: string, agentId: string | undefined, type: string): string {
  return `${RAW_PREFIX}.${subjectToken(sessionId)}.${subjectToken(agentId ?? NO_AGENT)}.${subjectToken(type)}`;
}

/** (v1.1) `traces.raw.<session>.<agent or _>.batch`. */
export function rawBatchSubject(sessionId: string, agentId: string | undefined): string {
  return rawSubject(sessionId, agentId, SDK.nats.batch_type_token);
}

/** (v1.1) The `Nats-Msg-Id` of one event: `<session>:<id>`. */
export function rawMsgId(sessionId: string, eventId: string): string {
  return SDK.nats.msg_id.replace("{session_id}", sessionId).replace("{event_id}", eventId);
}

/** (v1.1) The `Nats-Msg-Id` of a batch message: `<session>:batch:<first id>:<count>`. */
export function rawBatchMsgId(sessionId: string, firstEventId: string, count: number): string {
  return SDK.nats.batch_msg_id
    .replace("{session_id}", sessionId)
    .replace("{first_event_id}", firstEventId)
    .replace("{count}", String(count));
}

function plain(value: unknown, depth: number, seen: Set<object>): unknown {
  if (value === null || typeof value === "string" || typeof value === "boolean") return value;
  if (typeof value === "number") return Number.isFinite(value) ? value : String(value);
  if (typeof value === "bigint") {
    // Like the Python SDK's 64-bit bound: a number when JSON readers keep it exact, else text.
    return value >= -(2n ** 53n) && value <= 2n ** 53n ? Number(value) : value.toString();
  }
  if (value === undefined || typeof value === "function" || typeof value === "symbol") {
    return typeof value === "undefined" ? null : String(value);
  }
  const object = value;
  if (depth <= 0) return Object.prototype.toString.call(object);
  if (seen.has(object)) return "[cycle]";
  if (object instanceof Date) return Number.isNaN(object.getTime()) ? String(object) : object.toISOString();
  if (object instanceof Error) return { type: object.name, message: object.message };
  if (object instanceof Uint8Array) {
    const text = new TextDecoder("utf-8", { fatal: true });
    try {
      return text.decode(object);
    } catch {
      return { base64: Buffer.from(object).toString("base64") };
    }
  }
  seen.add(object);
  try {
    const toJSON = (object as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === "function") return plain(toJSON.call(object) as unknown, depth - 1, seen);
    if (object instanceof Map) {
      const out: Record<string, unknown> = {};
      for (const [k, v] of object) out[String(k)] = plain(v, depth - 1, seen);
      return out;
    }
    if (object instanceof Set || Array.isArray(object)) {
      return [...(object as Iterable<unknown>)].map((v) => plain(v, depth - 1, seen));
    }
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(object)) {
      if (v !== undefined) out[k] = plain(v, depth - 1, seen);
    }
    return out;
  } finally {
    seen.delete(object);
  }
}

/** JSON text of anything: `JSON.stringify`, and a tolerant conversion when it refuses or loses data. */
export function dumps(value: unknown): string {
  try {
    const text = JSON.stringify(value, (_key, v: unknown) => {
      // What JSON.stringify would silently drop or mangle goes through the tolerant path instead.
      if (typeof v === "bigint" || v instanceof Map || v instanceof Set || v instanceof Error || v instanceof Uint8Array) {
        throw new TypeError("not plain JSON");
      }
      return v;
    });
    return text;
  } catch {
    return JSON.stringify(plain(value, MAX_DEPTH, new Set()));
  }
}

/** The event with `metadata.source` set (unless the agent set its own), encoded. */
export function encodeEvent(event: WireEvent, rank: number): Encoded {
  const metadata = event["metadata"] as Record<string, unknown> | undefined;
  const wire: WireEvent =
    metadata !== undefined && "source" in metadata
      ? event
      : { ...event, metadata: { ...metadata, source: SOURCE } };
  const sessionId = wire["session_id"] as string;
  const agentId = wire["agent_id"] as string | undefined;
  const type = wire["type"] as string;
  return {
    eventId: wire["id"] as string,
    sessionId,
    agentId,
    type,
    subject: rawSubject(sessionId, agentId, type),
    payload: dumps(wire),
    rank,
  };
}
