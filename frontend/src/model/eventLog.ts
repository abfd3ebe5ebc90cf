import type { StoredEvent } from '../api/types';

/** Index of the last element whose key is <= target (-1 when none). `arr` must be sorted by key. */
export function upperIndex<T>(arr: readonly T[], target: number, key: (t: T) => number): number {
  let lo = 0;
  let hi = arr.length - 1;
  let ans = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (key(arr[mid] as T) <= target) {
      ans = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return ans;
}

/** Number of sorted numbers <= target. */
export function countAtOrBelow(sorted: readonly number[], target: number): number {
  return upperIndex(sorted, target, (n) => n) + 1;
}

const bySeq = (e: StoredEvent) => e.seq;

/**
 * A session's events in log order (ascending seq). Batches from history pages and from the live
 * stream may overlap or arrive out of order; `append` keeps one copy of each seq, in order.
 */
export class EventLog {
  readonly events: StoredEvent[] = [];
  private readonly ids = new Map<string, StoredEvent>();

  get length(): number {
    return this.events.length;
  }

  get lastSeq(): number {
    return this.events.length ? (this.events[this.events.length - 1] as StoredEvent).seq : 0;
  }

  get firstSeq(): number {
    return this.events.length ? (this.events[0] as StoredEvent).seq : 0;
  }

  /** Adds a batch; returns the events that were new, in seq order. */
  append(batch: readonly StoredEvent[]): StoredEvent[] {
    const fresh: StoredEvent[] = [];
    for (const ev of batch) {
      if (typeof ev?.seq !== 'number' || typeof ev.id !== 'string') continue;
      if (this.ids.has(ev.id)) continue;
      fresh.push(ev);
    }
    if (!fresh.length) return fresh;
    fresh.sort((a, b) => a.seq - b.seq);
    const unique: StoredEvent[] = [];
    let prev = -1;
    for (const ev of fresh) {
      if (ev.seq === prev) continue;
      prev = ev.seq;
      const at = upperIndex(this.events, ev.seq, bySeq);
      if (at >= 0 && (this.events[at] as StoredEvent).seq === ev.seq) continue;
      unique.push(ev);
    }
    if (!unique.length) return unique;
    const first = unique[0] as StoredEvent;
    if (first.seq > this.lastSeq) {
      // The common case (live tail, next history page): a plain push.
      for (const ev of unique) this.events.push(ev);
    } else {
      for (const ev of unique) {
        const at = upperIndex(this.events, ev.seq, bySeq);
        this.events.splice(at + 1, 0, ev);
      }
    }
    for (const ev of unique) this.ids.set(ev.id, ev);
    return unique;
  }

  byId(id: string): StoredEvent | undefined {
    return this.ids.get(id);
  }

  /** Index of the last event with seq <= seq (-1 when none). */
  indexAtOrBefore(seq: number): number {
    return upperIndex(this.events, seq, bySeq);
  }

  /** The event at or just before seq. */
  atOrBefore(seq: number): StoredEvent | undefined {
    const i = this.indexAtOrBefore(seq);
    return i >= 0 ? this.events[i] : undefined;
  }

  indexOfSeq(seq: number): number {
    const i = this.indexAtOrBefore(seq);
    return i >= 0 && (this.events[i] as StoredEvent).seq === seq ? i : -1;
  }
}
