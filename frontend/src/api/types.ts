// The gateway's bodies (CONTRACT §4–§6), mirrored from libs/schema/src/swarmscope_schema/api.py.
// Keys are stable upstream (add, never rename); every field the UI does not strictly need is optional
// so an older or newer gateway never breaks the view.

import type { components } from './openapi.generated';

/** The response models of docs/openapi.json (generated from libs/schema api.py; `npm run gen:api`). */
type Schemas = components['schemas'];

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

export type SessionSummary = Schemas['SessionSummary'];

export type AgentSummary = Schemas['AgentSummary'];

export type PerformanceWindow = Schemas['PerformanceWindow'];

export type CostBreakdown = Schemas['CostBreakdown'];

export type SlowCall = Schemas['SlowCall'];

export type PerformanceReport = Schemas['PerformanceReport'];

export type DeadLetter = Schemas['DeadLetter'];

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

export type OpenSpan = Schemas['OpenSpan'];

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

export type StackFrame = Schemas['StackFrame'];

export type CallStack = Schemas['CallStack'];

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

export type CompiledExpression = Schemas['CompiledExpression'];

export type CompileResult = Schemas['CompileResult'];

export type FacetValue = Schemas['FacetValue'];

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
