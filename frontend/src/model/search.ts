import type { StoredEvent } from '../api/types';

export interface SearchQuery {
  text: string;
  type: string | null;
  agent: string | null;
  phase: string | null;
}

export const EMPTY_QUERY: SearchQuery = { text: '', type: null, agent: null, phase: null };

/**
 * Parses the search box: free text plus `type:`, `agent:` and `phase:` tokens (a type ending in `*`
 * is a prefix, so `type:task_*` finds every task event). Quotes keep spaces in free text.
 */
export function parseSearch(input: string): SearchQuery {
  const q: SearchQuery = { text: '', type: null, agent: null, phase: null };
  const words: string[] = [];
  const re = /"([^"]*)"|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(input)) !== null) {
    const tok = m[1] ?? m[2] ?? '';
    if (m[2]) {
      const kv = /^(type|agent|phase):(.+)$/i.exec(tok);
      if (kv) {
        const key = (kv[1] as string).toLowerCase() as 'type' | 'agent' | 'phase';
        q[key] = kv[2] as string;
        continue;
      }
    }
    words.push(tok);
  }
  q.text = words.join(' ').trim();
  return q;
}

export function isEmptyQuery(q: SearchQuery): boolean {
  return !q.text && !q.type && !q.agent && !q.phase;
}

const haystacks = new WeakMap<StoredEvent, string>();

/** Lower-cased searchable text of an event (id, type, agent, span, payload), cached per event. */
function haystack(ev: StoredEvent): string {
  let h = haystacks.get(ev);
  if (h === undefined) {
    h = `${ev.id} ${ev.type} ${ev.agent_id ?? ''} ${ev.span_id ?? ''} ${JSON.stringify(ev.data ?? {})} ${JSON.stringify(ev.metadata ?? {})}`.toLowerCase();
    haystacks.set(ev, h);
  }
  return h;
}

export function matches(ev: StoredEvent, q: SearchQuery): boolean {
  if (q.type) {
    const t = q.type.toLowerCase();
    if (t.endsWith('*') ? !ev.type.toLowerCase().startsWith(t.slice(0, -1)) : ev.type.toLowerCase() !== t) return false;
  }
  if (q.agent && (ev.agent_id ?? '').toLowerCase() !== q.agent.toLowerCase()) return false;
  if (q.phase && (ev.phase ?? 'complete') !== q.phase.toLowerCase()) return false;
  if (q.text) {
    const h = haystack(ev);
    for (const w of q.text.toLowerCase().split(/\s+/)) if (w && !h.includes(w)) return false;
  }
  return true;
}

/** Seqs of matching events, ascending; `from` lets a live session search only its new tail. */
export function searchEvents(events: readonly StoredEvent[], q: SearchQuery, from = 0): number[] {
  if (isEmptyQuery(q)) return [];
  const out: number[] = [];
  for (let i = from; i < events.length; i++) {
    const ev = events[i] as StoredEvent;
    if (matches(ev, q)) out.push(ev.seq);
  }
  return out;
}

/** The next (or previous) hit from the cursor, wrapping around: what Enter / Shift+Enter jump to. */
export function nextHit(hits: readonly number[], cursorSeq: number, dir: 1 | -1): number | null {
  if (!hits.length) return null;
  if (dir === 1) {
    for (const h of hits) if (h > cursorSeq) return h;
    return hits[0] as number;
  }
  for (let i = hits.length - 1; i >= 0; i--) if ((hits[i] as number) < cursorSeq) return hits[i] as number;
  return hits[hits.length - 1] as number;
}
