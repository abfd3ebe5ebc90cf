/**
 * The enclosing span, carried in an AsyncLocalStorage: promises, timers and callbacks started inside
 * `tracer.span(...)` see it as their parent, the way the Python SDK's context variable follows
 * asyncio tasks.
 */
import { AsyncLocalStorage } from "node:async_hooks";

/** What nested events inherit from the span around them. */
export interface SpanContext {
  readonly sessionId: string;
  readonly spanId: string | undefined;
  readonly agentId: string | undefined;
  readonly correlationId: string | undefined;
}

/**
 * One storage for the whole process: spans of different tracers nest through it, and a tracer
 * ignores a context that belongs to another session (as the Python SDK does).
 */
export const CURRENT_SPAN = new AsyncLocalStorage<SpanContext>();

/** The span id of the innermost open span in this async context, if any. */
export function currentSpanId(): string | undefined {
  return CURRENT_SPAN.getStore()?.spanId;
}
