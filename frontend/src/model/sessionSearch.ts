import type { SessionsQuery } from '../api/client';

/**
 * The sessions list's search (contract v1.1 §4): free text, status, what the sessions' events
 * stated (agent type, tool, model, error type), a time range and a cost range; the internal
 * `_system` session is hidden unless asked for. Every filter is in the URL, so a search is a link.
 */
export interface SessionFilters {
  q: string;
  status: string;
  agent_type: string;
  tool: string;
  model: string;
  error_type: string;
  /** Epoch ms, or null. */
  from: number | null;
  to: number | null;
  minCost: string;
  maxCost: string;
  internal: boolean;
}

export const NO_FILTERS: SessionFilters = {
  q: '',
  status: '',
  agent_type: '',
  tool: '',
  model: '',
  error_type: '',
  from: null,
  to: null,
  minCost: '',
  maxCost: '',
  internal: false,
};

export const ATTRIBUTES = ['agent_type', 'tool', 'model', 'error_type'] as const;
export type Attribute = (typeof ATTRIBUTES)[number];

function time(v: string | null): number | null {
  if (!v) return null;
  const n = Number(v);
  if (Number.isFinite(n)) return n;
  const parsed = Date.parse(v);
  return Number.isFinite(parsed) ? parsed : null;
}

function cost(v: string): number | undefined {
  if (!v.trim()) return undefined;
  const n = Number(v);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

export function filtersFromParams(p: URLSearchParams): SessionFilters {
  return {
    q: p.get('q') ?? '',
    status: p.get('status') ?? '',
    agent_type: p.get('agent_type') ?? '',
    tool: p.get('tool') ?? '',
    model: p.get('model') ?? '',
    error_type: p.get('error_type') ?? '',
    from: time(p.get('from')),
    to: time(p.get('to')),
    minCost: p.get('min_cost') ?? '',
    maxCost: p.get('max_cost') ?? '',
    internal: p.get('internal') === '1',
  };
}

/** The filters as URL parameters (empty ones left out). */
export function filtersToParams(f: SessionFilters): Record<string, string | null> {
  return {
    q: f.q.trim() || null,
    status: f.status || null,
    agent_type: f.agent_type || null,
    tool: f.tool || null,
    model: f.model || null,
    error_type: f.error_type || null,
    from: f.from !== null ? String(f.from) : null,
    to: f.to !== null ? String(f.to) : null,
    min_cost: cost(f.minCost) !== undefined ? f.minCost.trim() : null,
    max_cost: cost(f.maxCost) !== undefined ? f.maxCost.trim() : null,
    internal: f.internal ? '1' : null,
  };
}

/** The filters as the gateway's query. */
export function filtersToQuery(f: SessionFilters): SessionsQuery {
  return {
    q: f.q.trim() || undefined,
    status: f.status || undefined,
    agent_type: f.agent_type || undefined,
    tool: f.tool || undefined,
    model: f.model || undefined,
    error_type: f.error_type || undefined,
    from_ts: f.from ?? undefined,
    to_ts: f.to ?? undefined,
    min_cost: cost(f.minCost),
    max_cost: cost(f.maxCost),
    system: f.internal ? 'include' : 'exclude',
  };
}

/** How many filters besides the free text are set (for "N filters · clear"). */
export function activeFilters(f: SessionFilters): number {
  return (
    (f.status ? 1 : 0) +
    ATTRIBUTES.filter((a) => f[a]).length +
    (f.from !== null || f.to !== null ? 1 : 0) +
    (cost(f.minCost) !== undefined || cost(f.maxCost) !== undefined ? 1 : 0)
  );
}

/** `<input type="datetime-local">` text of an epoch-ms time (local time), and back. */
export function toLocalInput(ms: number | null): string {
  if (ms === null) return '';
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

export function fromLocalInput(v: string): number | null {
  if (!v) return null;
  const ms = new Date(v).getTime();
  return Number.isFinite(ms) ? ms : null;
}
