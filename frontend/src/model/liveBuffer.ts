import type { StoredEvent } from '../api/types';

/**
 * Collects stream batches between animation frames; the view applies them once per frame, so a
 * burst of 500 events/s costs one store update per frame, not one per event. Tracks the highest
 * seq received so a reconnect resumes after it (nothing missed, duplicates dropped by the log).
 */
export class LiveBuffer {
  private pending: StoredEvent[] = [];
  highestSeq = 0;
  received = 0;

  push(events: readonly StoredEvent[]): boolean {
    const wasEmpty = this.pending.length === 0;
    for (const ev of events) {
      if (typeof ev?.seq !== 'number') continue;
      this.pending.push(ev);
      this.received++;
      if (ev.seq > this.highestSeq) this.highestSeq = ev.seq;
    }
    return wasEmpty && this.pending.length > 0;
  }

  get size(): number {
    return this.pending.length;
  }

  /** Everything received since the last drain, in one array. */
  drain(): StoredEvent[] {
    const out = this.pending;
    this.pending = [];
    return out;
  }
}
