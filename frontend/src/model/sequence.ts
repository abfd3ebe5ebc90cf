import type { Json, JsonObject, StoredEvent } from '../api/types';
import { upperIndex } from './eventLog';

/**
 * The message sequence view's data: who talked to whom, in what order. One row per message (sent
 * once, whether its `sent` and `received` events are both traced), per task hand-off
 * (task_assignment: the assigner to the assignee) and per spawn, in log order. A reply knows the
 * message it answers (message.in_reply_to), so the view can link the two.
 */
export type SequenceKind = 'message' | 'handoff' | 'spawn';

export interface SequenceItem {
  seq: number;
  timestamp: number;
  kind: SequenceKind;
  from: string;
  to: string[];
  label: string;
  messageId: string | null;
  replyTo: string | null;
  eventId: string;
}

function text(v: Json | undefined): string | null {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  return null;
}

function names(v: Json | undefined): string[] {
  if (typeof v === 'string' || typeof v === 'number') return [String(v)];
  if (Array.isArray(v)) return v.flatMap((x) => (typeof x === 'string' || typeof x === 'number' ? [String(x)] : []));
  return [];
}

/** A one-line gist of message content: text as is, an object by its short scalar fields. */
export function preview(v: Json | undefined, max = 56): string {
  if (v === undefined || v === null) return '';
  let s: string;
  if (typeof v === 'object' && !Array.isArray(v)) {
    const parts = Object.entries(v)
      .filter(([, x]) => x !== null && typeof x !== 'object')
      .map(([k, x]) => `${k} ${typeof x === 'string' ? x : String(x)}`);
    s = parts.length ? parts.join(' · ') : JSON.stringify(v);
  } else s = typeof v === 'string' ? v : JSON.stringify(v);
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}

/** The sequence item of an event, or null when the event is not an exchange between agents. */
export function sequenceItemOf(ev: StoredEvent): SequenceItem | null {
  const d: JsonObject = ev.data ?? {};
  const base = { seq: ev.seq, timestamp: ev.timestamp, eventId: ev.id };
  if (ev.type === 'communication') {
    const m = (d.message && typeof d.message === 'object' && !Array.isArray(d.message) ? d.message : {}) as JsonObject;
    const from = names(m.from)[0] ?? ev.agent_id ?? null;
    const to = names(m.to);
    if (!from || !to.length) return null;
    const kind = text(m.type);
    return {
      ...base,
      kind: 'message',
      from,
      to,
      label: `${kind ?? 'message'}${m.content !== undefined ? `: ${preview(m.content)}` : ''}`,
      messageId: text(m.id) ?? ev.id,
      replyTo: text(m.in_reply_to),
    };
  }
  if (ev.type === 'task_assignment') {
    const to = text(d.agent_id);
    const from = ev.agent_id ?? null;
    if (!to || !from) return null;
    const attempt = typeof d.attempt === 'number' && d.attempt > 1 ? ` (attempt ${d.attempt})` : '';
    return { ...base, kind: 'handoff', from, to: [to], label: `assign ${text(d.task_id) ?? '?'}${attempt}`, messageId: null, replyTo: null };
  }
  if (ev.type === 'agent_spawn') {
    const parent = text(d.parent_agent_id);
    if (!parent || !ev.agent_id || parent === ev.agent_id) return null;
    return { ...base, kind: 'spawn', from: parent, to: [ev.agent_id], label: `spawn ${text(d.agent_type) ?? ''}`.trim(), messageId: null, replyTo: null };
  }
  return null;
}

const bySeq = (i: SequenceItem) => i.seq;

/** The exchanges of a session in seq order, built up batch by batch (history pages may come out of order). */
export class SequenceIndex {
  readonly items: SequenceItem[] = [];
  private readonly messages = new Map<string, SequenceItem>();

  apply(events: readonly StoredEvent[]): void {
    for (const ev of events) {
      const item = sequenceItemOf(ev);
      if (!item) continue;
      if (item.messageId !== null && item.kind === 'message') {
        const known = this.messages.get(item.messageId);
        // A message traced twice (sent, received) is one exchange: the earlier event stands for it.
        if (known) {
          if (known.seq <= item.seq) continue;
          this.items.splice(upperIndex(this.items, known.seq, bySeq), 1);
        }
        this.messages.set(item.messageId, item);
      }
      const last = this.items[this.items.length - 1];
      if (!last || last.seq < item.seq) this.items.push(item);
      else {
        const at = upperIndex(this.items, item.seq, bySeq);
        if (at >= 0 && (this.items[at] as SequenceItem).seq === item.seq) continue;
        this.items.splice(at + 1, 0, item);
      }
    }
  }

  /** The item of a message id (for reply links). */
  message(id: string | null): SequenceItem | undefined {
    return id === null ? undefined : this.messages.get(id);
  }

  /** Index of the last item at or before `seq` (-1 when none): where the cursor line is drawn. */
  indexAtOrBefore(seq: number): number {
    return upperIndex(this.items, seq, bySeq);
  }

  indexOf(item: SequenceItem): number {
    const i = upperIndex(this.items, item.seq, bySeq);
    return i >= 0 && this.items[i] === item ? i : -1;
  }
}

/** The lifelines: every agent an exchange names, in order of the agents' first appearance. */
export function lifelines(items: readonly SequenceItem[], agentOrder: readonly string[]): string[] {
  const seen = new Set<string>();
  for (const it of items) {
    seen.add(it.from);
    for (const t of it.to) seen.add(t);
  }
  const ordered = agentOrder.filter((a) => seen.has(a));
  for (const a of seen) if (!ordered.includes(a)) ordered.push(a);
  return ordered;
}
