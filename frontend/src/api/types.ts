// The gateway's bodies (CONTRACT §4–§6), mirrored from libs/schema/src/swarmscope_schema/api.py.
// Keys are stable upstream (add, never rename); every field the UI does not strictly need is optional
// so an older or newer gateway never breaks the view.

export type Phase = 'start' | 'progress' | 'complete' | 'error';
export type EdgeType = 'sequence' | 'parallel' | 'spawn' | 'callback' | 'message';
export type GraphLayout = 'hierarchical' | 'force' | 'timeline';
export type StepDirection = 'into' | 'over' | 'out' | 'back';
export type SearchDirection = 'forward' | 'backward';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface EventMetadata {
  parent_id?: string | null;
  causation_id?: string | null;
  correlation_id?: string | null;
  tags?: string[];
  priority?: 'low' | 'normal' | 'high' | 'critical';
  retention?: number | null;
  [key: string]: Json | undefined;
}

export interface Performance {
  duration?: number | null;
  memory_usage?: number | null;
  cpu_time?: number | null;
  token_count?: number | null;
  input_tokens?: number | null;
  output_tokens?: number | null;
  cost_usd?: number | null;
  [key: string]: Json | undefined;
}

export interface StoredEvent {
  id: string;
  seq: number;
  timestamp: number;
  session_id: string;
  agent_id?: string | null;
  type: string;
  phase?: Phase;
  span_id?: string;
  data?: JsonObject;
  metadata?: EventMetadata;
  performance?: Performance | null;
  agent_seq?: number | null;
  received_at?: number | null;
}

export interface Page<T> {
  items: T[];
  next_cursor?: string | null;
}

export interface SessionSummary {
  id: string;
  name?: string | null;
  status: string;
  objective?: string | null;
  start_time?: number | null;
  end_time?: number | null;
  last_event_time?: number | null;
  last_seq?: number | null;
  event_count: number;
  agent_count: number;
  error_count: number;
  tokens: number;
  cost: number;
  /** (v1.1) first event's metadata.source (sdk-python, otlp, import, …), else "nats". */
  source?: string;
}

export interface AgentSummary {
  agent_id: string;
  agent_type?: string | null;
  name?: string | null;
  parent_agent_id?: string | null;
  status?: string | null;
  current_task?: string | null;
  first_seq: number;
  last_seq: number;
  first_time: number;
  last_time: number;
  event_count: number;
  error_count: number;
  tool_calls: number;
  llm_calls: number;
  messages_sent: number;
  messages_received: number;
  tokens: number;
  cost: number;
  duration_ms: number;
}

export interface PerformanceWindow {
  start_time: number;
  end_time: number;
  events: number;
  event_rate: number;
  errors: number;
  avg_duration_ms?: number | null;
  max_duration_ms?: number | null;
  tokens: number;
  cost: number;
}

export interface CostBreakdown {
  key: string;
  events: number;
  duration_ms: number;
  tokens: number;
  input_tokens?: number;
  output_tokens?: number;
  cost: number;
}

export interface SlowCall {
  event_id: string;
  seq: number;
  span_id: string;
  agent_id: string | null;
  type: string;
  label: string;
  duration_ms: number;
}

export interface PerformanceReport {
  session_id: string;
  window_ms: number;
  windows: PerformanceWindow[];
  per_agent: CostBreakdown[];
  per_type: CostBreakdown[];
  per_model: CostBreakdown[];
  slowest: SlowCall[];
}

export interface DeadLetter {
  seq: number;
  reason: string;
  subject: string | null;
  error?: string | null;
  received_at: number;
  size: number;
  payload_preview: string;
}

export interface AgentState {
  id: string;
  agent_type?: string | null;
  status: string;
  current_task?: string | null;
  parent_agent_id?: string | null;
  context?: JsonObject;
  [key: string]: Json | undefined;
}

export interface TaskState {
  id: string;
  status: string;
  agent_id?: string | null;
  attempts?: number;
  dependencies?: string[];
  progress?: Json;
  result?: Json;
  error?: Json;
  [key: string]: Json | undefined;
}

export interface MemoryEntry {
  value?: Json;
  version: number;
  agent_id?: string | null;
  seq: number;
  [key: string]: Json | undefined;
}

export interface CommunicationEntry {
  message_id: string;
  from: string;
  to: string[];
  type?: string | null;
  content?: Json;
  in_reply_to?: string | null;
  seq: number;
  [key: string]: Json | undefined;
}

export interface OpenSpan {
  type: string;
  agent_id?: string | null;
  parent_id?: string | null;
  seq: number;
}

export interface SystemState {
  session_id: string;
  seq: number;
  timestamp?: number | null;
  session: JsonObject;
  agents: Record<string, AgentState>;
  tasks: Record<string, TaskState>;
  memory: Record<string, MemoryEntry>;
  communications: CommunicationEntry[];
  open_spans: Record<string, OpenSpan>;
  counters: Record<string, number>;
  /** (v1.1) Present on a bounded view: what each growing collection holds and how much is here. */
  view?: StateViewInfo;
}

/** The growing collections of SystemState, paged by GET …/state/{collection} (v1.1). */
export type StateCollectionName =
  | 'agents'
  | 'tasks'
  | 'memory'
  | 'open_spans'
  | 'communications'
  | 'decisions'
  | 'coordination'
  | 'errors'
  | 'alerts';

export interface CollectionCount {
  count: number;
  included: number;
  /** lists: the position of the first item carried */
  offset?: number | null;
}

export interface StateViewInfo {
  kind: 'bounded';
  limit: number;
  collections: Partial<Record<StateCollectionName, CollectionCount>>;
}

export interface StateItem {
  /** the map key, or the position in a list */
  key: string | number;
  value: Json;
}

export interface StatePage {
  session_id: string;
  seq: number;
  collection: StateCollectionName;
  /** items the collection has at this seq (unfiltered) */
  count: number;
  order: 'asc' | 'desc';
  items: StateItem[];
  next_cursor: string | null;
}

export interface StatePageQuery {
  cursor?: number;
  limit?: number;
  order?: 'asc' | 'desc';
  agent?: string;
  prefix?: string;
  status?: string;
  kind?: string;
  q?: string;
}

export interface StateChange {
  path: (string | number)[];
  op: 'added' | 'removed' | 'changed';
  before?: Json;
  after?: Json;
}

export interface StateDiff {
  session_id: string;
  from_seq: number;
  to_seq: number;
  changes: StateChange[];
  /** true when more changes follow this page */
  truncated?: boolean;
  /** (v1.1) cursor of the next page of changes */
  next_cursor?: string | null;
}

export interface StepResult {
  session_id: string;
  direction: StepDirection;
  from_event_id: string;
  event: StoredEvent | null;
  reason?: string | null;
}

export interface StackFrame {
  span_id: string;
  type: string;
  agent_id: string | null;
  label: string;
  start_seq: number;
  start_event_id: string;
  start_time: number;
  duration_so_far_ms: number;
  open: boolean;
}

export interface CallStack {
  session_id: string;
  event_id: string;
  seq: number;
  frames: StackFrame[];
}

export interface BreakpointHit {
  session_id: string;
  hit: boolean;
  event?: StoredEvent | null;
  condition?: string | null;
  condition_index?: number | null;
  scanned: number;
  /** evaluations that failed (e.g. a missing key) and so did not hold */
  evaluation_errors?: number;
  first_error?: string | null;
}

export interface WatchValue {
  expression: string;
  value?: Json;
  error?: string | null;
}

export interface WatchResult {
  session_id: string;
  seq: number;
  values: WatchValue[];
}

export interface SessionOutcome {
  session_id: string;
  status: string | null;
  duration_ms: number | null;
  events: number;
  errors: number;
  tokens: number;
  cost: number;
  agents: Record<string, string>;
  tasks: Record<string, string>;
}

export interface AlignedStep {
  key: string;
  a_seq: number | null;
  b_seq: number | null;
  a_summary?: string | null;
  b_summary?: string | null;
  status: 'same' | 'changed' | 'only_a' | 'only_b';
}

export interface SessionComparison {
  a: SessionOutcome;
  b: SessionOutcome;
  task_differences: JsonObject[];
  alignment: AlignedStep[];
  summary: JsonObject;
}

export interface ApiErrorBody {
  error: { code: string; message: string };
}

/** The SSE `batch_events` payload (CONTRACT §5). */
export interface BatchEvents {
  session_id: string;
  events: StoredEvent[];
}

/** (v1.1) POST /expressions/compile. */
export interface CompiledExpression {
  expression: string;
  ok: boolean;
  error?: string | null;
  column?: number | null;
  variables?: string[];
}

export interface CompileResult {
  results: CompiledExpression[];
}

/** (v1.1) GET /facets: the values sessions can be searched by. */
export interface FacetValue {
  value: string;
  sessions: number;
}

export interface SessionFacets {
  agent_type: FacetValue[];
  tool: FacetValue[];
  model: FacetValue[];
  error_type: FacetValue[];
}

/** POST /import's answer (sessions is v1.1). */
export interface ImportReport {
  accepted: number;
  rejected: number;
  rejects: { line?: number; index?: number; code: string; message: string }[];
  rejects_truncated?: boolean;
  lines?: number | null;
  sessions?: { session_id: string; events: number; stored_before?: number | null }[] | null;
}
