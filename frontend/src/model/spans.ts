import type { StoredEvent } from '../api/types';
import { categoryOfType, isErrorEvent, type Category } from './categories';
import { spanLabel } from './labels';

export type SpanStatus = 'open' | 'complete' | 'error';

/** A unit of work: the events that share a span_id (CONTRACT §1), built up event by event. */
export interface Span {
  id: string;
  agentId: string | null;
  type: string;
  category: Category;
  label: string;
  parentId: string | null;
  startSeq: number;
  startEventId: string;
  /** seq of the event that closed the span (complete/error phase); null while open. */
  endSeq: number | null;
  lastSeq: number;
  startTime: number;
  endTime: number | null;
  lastTime: number;
  status: SpanStatus;
  eventCount: number;
  errorCount: number;
  /** seq of the first error seen in this span or a descendant (errors show on their ancestors). */
  firstErrorSeq: number | null;
  /** seq of the first error event of this span itself. */
  ownErrorSeq: number | null;
  tokens: number;
  cost: number;
}

function closes(ev: StoredEvent): boolean {
  const phase = ev.phase ?? 'complete';
  return phase === 'complete' || phase === 'error';
}

/** Spans of a session, updated incrementally per batch (no rebuild per event). */
export class SpanIndex {
  readonly spans = new Map<string, Span>();
  /** span ids in the order they first appeared (= by start seq for an in-order log). */
  readonly order: Span[] = [];
  readonly children = new Map<string, string[]>();

  apply(events: readonly StoredEvent[]): Span[] {
    const touched: Span[] = [];
    for (const ev of events) touched.push(this.applyOne(ev));
    return touched;
  }

  private applyOne(ev: StoredEvent): Span {
    const id = ev.span_id || ev.id;
    const phase = ev.phase ?? 'complete';
    const err = isErrorEvent(ev);
    const perf = ev.performance ?? null;
    const tokens = (perf?.token_count ?? 0) || (perf?.input_tokens ?? 0) + (perf?.output_tokens ?? 0);
    const cost = perf?.cost_usd ?? 0;
    let span = this.spans.get(id);
    if (!span) {
      const duration = phase === 'complete' || phase === 'error' ? (perf?.duration ?? 0) : 0;
      // A span seen first at its end carries its duration: it started `duration` ms earlier.
      const start = ev.timestamp - (duration > 0 ? duration : 0);
      span = {
        id,
        agentId: ev.agent_id ?? null,
        type: ev.type,
        category: categoryOfType(ev.type),
        label: spanLabel(ev),
        parentId: ev.metadata?.parent_id ?? null,
        startSeq: ev.seq,
        startEventId: ev.id,
        endSeq: null,
        lastSeq: ev.seq,
        startTime: start,
        endTime: null,
        lastTime: ev.timestamp,
        status: 'open',
        eventCount: 0,
        errorCount: 0,
        firstErrorSeq: null,
        ownErrorSeq: null,
        tokens: 0,
        cost: 0,
      };
      this.spans.set(id, span);
      this.order.push(span);
      if (span.parentId) {
        const list = this.children.get(span.parentId);
        if (list) list.push(id);
        else this.children.set(span.parentId, [id]);
      }
    } else {
      if (ev.seq < span.startSeq) {
        span.startSeq = ev.seq;
        span.startEventId = ev.id;
      }
      if (!span.parentId && ev.metadata?.parent_id) {
        span.parentId = ev.metadata.parent_id;
        const list = this.children.get(span.parentId);
        if (list) list.push(id);
        else this.children.set(span.parentId, [id]);
      }
      if (!span.agentId && ev.agent_id) span.agentId = ev.agent_id;
      // task_* spans are opened by task_start but named after the task either way.
      if (span.type.startsWith('task_') && ev.type === 'task_start') span.type = ev.type;
    }
    span.eventCount += 1;
    span.tokens += tokens;
    span.cost += cost;
    if (ev.seq > span.lastSeq) span.lastSeq = ev.seq;
    if (ev.timestamp > span.lastTime) span.lastTime = ev.timestamp;
    if (err) {
      span.errorCount += 1;
      if (span.ownErrorSeq === null || ev.seq < span.ownErrorSeq) span.ownErrorSeq = ev.seq;
      this.markError(span, ev.seq);
    }
    if (closes(ev) && (span.endSeq === null || ev.seq > span.endSeq)) {
      span.endSeq = ev.seq;
      span.endTime = ev.timestamp;
      span.status = err || span.errorCount > 0 ? 'error' : 'complete';
      if (phase === 'error') span.status = 'error';
    }
    return span;
  }

  private markError(span: Span, seq: number): void {
    let cur: Span | undefined = span;
    let guard = 0;
    while (cur && guard++ < 256) {
      if (cur.firstErrorSeq === null || seq < cur.firstErrorSeq) cur.firstErrorSeq = seq;
      cur = cur.parentId ? this.spans.get(cur.parentId) : undefined;
    }
  }

  get(id: string): Span | undefined {
    return this.spans.get(id);
  }
}

/** The span's status as it was right after event `seq`. */
export function spanStatusAt(span: Span, seq: number): SpanStatus {
  if (span.endSeq !== null && span.endSeq <= seq) return span.status;
  if (span.ownErrorSeq !== null && span.ownErrorSeq <= seq) return 'error';
  return 'open';
}

/** True when the span or one of its descendants had failed by `seq`. */
export function hasErrorAt(span: Span, seq: number): boolean {
  return span.firstErrorSeq !== null && span.firstErrorSeq <= seq;
}

/** Duration at `seq`/`time` (ms): closed spans their length, open spans their age so far. */
export function spanDurationAt(span: Span, seq: number, time: number): number {
  if (span.endSeq !== null && span.endSeq <= seq && span.endTime !== null) return span.endTime - span.startTime;
  return Math.max(0, time - span.startTime);
}
