import type { Json, JsonObject, StoredEvent } from '../api/types';

function str(v: Json | undefined): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return null;
}

function clip(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

/** A short human label for what an event is about (used for spans, rows and tooltips). */
export function eventLabel(ev: Pick<StoredEvent, 'type' | 'data' | 'agent_id'>): string {
  const d: JsonObject = ev.data ?? {};
  const t = ev.type;
  switch (t) {
    case 'session_start':
      return `session ${clip(str(d.name) ?? str(d.objective) ?? '', 40)}`.trim();
    case 'session_end':
      return `session end ${str(d.status) ?? ''}`.trim();
    case 'agent_spawn': {
      // OTel agents have a name only, which is also their type: say it once.
      const kind = str(d.agent_type) ?? '';
      const name = str(d.name) ?? '';
      return `spawn ${kind} ${name === kind ? '' : name}`.trim();
    }
    case 'custom.otel_span':
      return `span ${clip(str(d.name) ?? '', 60)}`.trim();
    case 'agent_status':
      return `status → ${str(d.status) ?? '?'}`;
    case 'agent_terminate':
      return `terminate ${str(d.reason) ?? ''}`.trim();
    case 'agent_method':
      return `${str(d.method) ?? 'method'}()`;
    case 'tool_call':
      return `tool ${str(d.tool) ?? '?'}`;
    case 'llm_call':
      return `llm ${str(d.model) ?? '?'}`;
    case 'communication': {
      const m = (d.message ?? {}) as JsonObject;
      const to = Array.isArray(m.to) ? m.to.map((x) => str(x) ?? '?').join(',') : '?';
      return `msg ${str(m.from) ?? '?'}→${clip(to, 30)}${m.type ? ` (${str(m.type)})` : ''}`;
    }
    case 'memory_write':
    case 'memory_read':
    case 'memory_delete': {
      const ns = str(d.namespace);
      return `${t.slice(7)} ${ns ? `${ns}/` : ''}${str(d.key) ?? '?'}`;
    }
    case 'decision':
      return `decide ${str(d.kind) ?? ''}${d.chosen !== undefined ? ` → ${clip(str(d.chosen) ?? '…', 24)}` : ''}`;
    case 'coordination':
      return `coord ${str(d.kind) ?? ''}`;
    case 'context_update':
      return `context ${str(d.key) ?? ''}`;
    case 'error':
      return `error: ${clip(str(d.message) ?? '', 60)}`;
    case 'performance_alert':
      return `alert ${str(d.metric) ?? ''} ${str(d.value) ?? ''}>${str(d.threshold) ?? ''}`;
    default:
      if (t.startsWith('task_')) {
        const id = str(d.task_id) ?? '?';
        const desc = str(d.description);
        return `${t.slice(5)} ${id}${desc ? ` ${clip(desc, 40)}` : ''}`;
      }
      return t;
  }
}

/** Label of a span: what its opening event names; task spans are named by the task. */
export function spanLabel(ev: Pick<StoredEvent, 'type' | 'data' | 'agent_id'>): string {
  if (ev.type === 'task_start' || ev.type === 'task_complete' || ev.type === 'task_fail' || ev.type === 'task_cancel') {
    const d = ev.data ?? {};
    return `task ${str(d.task_id) ?? '?'}`;
  }
  return eventLabel(ev);
}
