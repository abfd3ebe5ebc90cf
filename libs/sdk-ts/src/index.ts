/** swarmscope TypeScript SDK: the public API. */
export { Tracer, DEFAULT_GATEWAY_URL, DEFAULT_NATS_URL, defaultGatewayUrl, defaultNatsUrl, type TracerOptions, type TracerStats } from "./tracer.js";
export { Emitter, TaskSpan, LlmSpan, taskSpanId } from "./vocabulary.js";
export { Redactor, KeyMatcher, keyParts, DEFAULT_REDACT_KEYS, REDACTED, type RedactorOptions } from "./redaction.js";
export { EmitterBase, Span, describeError, type EmitOptions, type SpanOptions, type EventData, type Phase } from "./emitter.js";
export { SESSION } from "./core.js";
export { currentSpanId, type SpanContext } from "./context.js";
export { PRIORITY_NAMES, type Priority, type DropSnapshot, type WireEvent } from "./buffer.js";
export { ALIASES, REDACTION, REQUIRED_FIELDS, SDK } from "./contract.generated.js";
export {
  traceEventBus,
  traceCoordinator,
  mapClaudeFlowEvent,
  safeAgentId,
  type ClaudeFlowTraceOptions,
  type EventBusLike,
  type CoordinatorLike,
  type MappedEvent,
  type TraceTarget,
  type Untrace,
} from "./claude-flow.js";
