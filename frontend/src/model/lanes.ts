import type { StoredEvent } from '../api/types';
import { SESSION_LANE } from './agents';
import { categoryOf, isErrorEvent, type Category } from './categories';

/** Events of each agent lane, kept sorted by timestamp as batches arrive. */
export class LaneIndex {
  readonly lanes = new Map<string, StoredEvent[]>();
  minTime = Infinity;
  maxTime = -Infinity;

  apply(events: readonly StoredEvent[]): void {
    for (const ev of events) {
      const key = ev.agent_id ?? SESSION_LANE;
      let lane = this.lanes.get(key);
      if (!lane) {
        lane = [];
        this.lanes.set(key, lane);
      }
      const last = lane[lane.length - 1];
      if (!last || last.timestamp <= ev.timestamp) lane.push(ev);
      else {
        // Producer clocks of one agent are nearly monotonic: search from the end.
        let i = lane.length - 1;
        while (i >= 0 && (lane[i] as StoredEvent).timestamp > ev.timestamp) i--;
        lane.splice(i + 1, 0, ev);
      }
      if (ev.timestamp < this.minTime) this.minTime = ev.timestamp;
      if (ev.timestamp > this.maxTime) this.maxTime = ev.timestamp;
    }
  }
}

export interface LaneGlyph {
  kind: 'event';
  x: number;
  event: StoredEvent;
  category: Category;
  future: boolean;
}

export interface LaneBucket {
  kind: 'bucket';
  x0: number;
  x1: number;
  count: number;
  errors: number;
  /** The most frequent category in the bucket (its colour), plus a count label when drawn. */
  category: Category;
  firstSeq: number;
  lastSeq: number;
  future: boolean;
}

export type LaneItem = LaneGlyph | LaneBucket;

/** First index whose timestamp >= t. */
export function lowerByTime(lane: readonly StoredEvent[], t: number): number {
  let lo = 0;
  let hi = lane.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((lane[mid] as StoredEvent).timestamp < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * What to draw for one lane between pixels [x0, x1]: single glyphs where events are sparse, and
 * aggregate bars where several events fall into the same `bucketPx`-wide column (dense lanes stay
 * cheap to draw and readable at any zoom). Only the visible slice is visited.
 */
export function aggregateLane(
  lane: readonly StoredEvent[],
  toX: (t: number) => number,
  toTime: (x: number) => number,
  x0: number,
  x1: number,
  bucketPx: number,
  cursorSeq: number,
): LaneItem[] {
  const out: LaneItem[] = [];
  if (!lane.length) return out;
  let i = lowerByTime(lane, toTime(x0 - bucketPx));
  const counts = new Map<Category, number>();
  while (i < lane.length) {
    const first = lane[i] as StoredEvent;
    const fx = toX(first.timestamp);
    if (fx > x1 + bucketPx) break;
    const bucket = Math.floor(fx / bucketPx);
    let j = i + 1;
    while (j < lane.length && Math.floor(toX((lane[j] as StoredEvent).timestamp) / bucketPx) === bucket) j++;
    if (j - i === 1) {
      out.push({ kind: 'event', x: fx, event: first, category: categoryOf(first), future: first.seq > cursorSeq });
    } else {
      counts.clear();
      let errors = 0;
      let minSeq = Infinity;
      let maxSeq = -Infinity;
      let past = 0;
      for (let k = i; k < j; k++) {
        const ev = lane[k] as StoredEvent;
        const c = categoryOf(ev);
        counts.set(c, (counts.get(c) ?? 0) + 1);
        if (isErrorEvent(ev)) errors++;
        if (ev.seq < minSeq) minSeq = ev.seq;
        if (ev.seq > maxSeq) maxSeq = ev.seq;
        if (ev.seq <= cursorSeq) past++;
      }
      let best: Category = 'other';
      let bestN = -1;
      for (const [c, n] of counts) {
        if (n > bestN) {
          best = c;
          bestN = n;
        }
      }
      out.push({
        kind: 'bucket',
        x0: bucket * bucketPx,
        x1: (bucket + 1) * bucketPx,
        count: j - i,
        errors,
        category: errors > 0 ? 'error' : best,
        firstSeq: minSeq,
        lastSeq: maxSeq,
        future: past === 0,
      });
    }
    i = j;
  }
  return out;
}

/** The event of a lane nearest to pixel x (within maxPx), for click-to-time-travel. */
export function nearestInLane(
  lane: readonly StoredEvent[],
  toX: (t: number) => number,
  toTime: (x: number) => number,
  x: number,
  maxPx: number,
): StoredEvent | null {
  if (!lane.length) return null;
  const i = lowerByTime(lane, toTime(x));
  let best: StoredEvent | null = null;
  let bestD = maxPx;
  for (let k = Math.max(0, i - 2); k < Math.min(lane.length, i + 2); k++) {
    const ev = lane[k] as StoredEvent;
    const d = Math.abs(toX(ev.timestamp) - x);
    if (d <= bestD) {
      bestD = d;
      best = ev;
    }
  }
  return best;
}

/** The last event of any lane at or before time t (the swarm as it was then), or null. */
export function latestAtOrBefore(lanes: Iterable<readonly StoredEvent[]>, t: number): StoredEvent | null {
  let best: StoredEvent | null = null;
  for (const lane of lanes) {
    const i = lowerByTime(lane, t + 1e-9) - 1;
    const ev = lane[i];
    if (ev && ev.timestamp <= t && (!best || ev.timestamp > best.timestamp || (ev.timestamp === best.timestamp && ev.seq > best.seq))) best = ev;
  }
  return best;
}

/**
 * What a click on the timeline time-travels to: in a lane, that agent's event nearest the
 * pointer however far (empty lane space is clickable too); above or below the lanes, the swarm at
 * that time (the last event at or before it).
 */
export function eventForClick(
  lanes: readonly (readonly StoredEvent[])[],
  laneIndex: number,
  x: number,
  toX: (t: number) => number,
  toTime: (x: number) => number,
): StoredEvent | null {
  const lane = lanes[laneIndex];
  if (lane && lane.length) return nearestInLane(lane, toX, toTime, x, Infinity);
  return latestAtOrBefore(lanes, toTime(x));
}
