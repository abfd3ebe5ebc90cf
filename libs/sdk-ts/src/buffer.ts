/**
 * The bounded buffer between the caller's path and the publisher, and the count of every drop —
 * the Python SDK's `swarmscope.buffer`, same policy: one queue per priority; when full, the newest
 * event of the lowest priority below the incoming one makes room, else the incoming event is dropped;
 * `critical` events may use a reserve above the capacity (10 %, at least 1). Every drop is counted
 * by reason and priority.
 */
import { SDK } from "./contract.generated.js";

export type Priority = (typeof SDK.priorities)[number];
export const PRIORITY_NAMES: readonly Priority[] = SDK.priorities;
export const PRIORITY_RANK: Readonly<Record<string, number>> = Object.fromEntries(
  PRIORITY_NAMES.map((name, rank) => [name, rank]),
);
const CRITICAL = PRIORITY_NAMES.length - 1;

export type LossReason = (typeof SDK.sdk_drops.loss_reasons)[number];
export type FilterReason = (typeof SDK.sdk_drops.filter_reasons)[number];
export type DropReason = LossReason | FilterReason;
export const LOSS_REASONS: readonly string[] = SDK.sdk_drops.loss_reasons;
export const FILTER_REASONS: readonly string[] = SDK.sdk_drops.filter_reasons;

/** `{reason: {priority: count}}`, the shape of `custom.sdk_drops`'s `dropped`. */
export type DropSnapshot = Record<string, Record<string, number>>;

/** An event on its way: its wire form as a plain object. */
export type WireEvent = Record<string, unknown>;

/** (sequence number, event): the sequence number restores emission order across priorities. */
export interface Item {
  readonly seq: number;
  readonly event: WireEvent;
}

/** Counts drops by reason and priority. */
export class DropCounter {
  private readonly counts = new Map<string, number>();

  add(reason: DropReason, rank: number, count = 1): void {
    const key = `${reason}\u0000${rank}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + count);
  }

  /** `{reason: {priority: count}}` of every drop so far, sorted like the Python SDK's. */
  snapshot(): DropSnapshot {
    const entries = [...this.counts.entries()]
      .map(([key, count]) => {
        const [reason = "", rank = "0"] = key.split("\u0000");
        return { reason, rank: Number(rank), count };
      })
      .sort((a, b) => (a.reason < b.reason ? -1 : a.reason > b.reason ? 1 : a.rank - b.rank));
    const out: DropSnapshot = {};
    for (const { reason, rank, count } of entries) {
      (out[reason] ??= {})[PRIORITY_NAMES[rank] ?? String(rank)] = count;
    }
    return out;
  }

  total(reasons?: readonly string[]): number {
    let sum = 0;
    for (const [key, count] of this.counts) {
      const reason = key.slice(0, key.indexOf("\u0000"));
      if (reasons === undefined || reasons.includes(reason)) sum += count;
    }
    return sum;
  }
}

/** The drops counted in `now` and not yet in `before`. */
export function subtract(now: DropSnapshot, before: DropSnapshot): DropSnapshot {
  const out: DropSnapshot = {};
  for (const [reason, byPriority] of Object.entries(now)) {
    for (const [priority, count] of Object.entries(byPriority)) {
      const delta = count - (before[reason]?.[priority] ?? 0);
      if (delta) (out[reason] ??= {})[priority] = delta;
    }
  }
  return out;
}

/**
 * A FIFO of items with O(1) push and shift, and pop from the tail for shedding. Arrays' `shift` is
 * O(n) once they grow large, which a 10 000-event backlog would pay on every drain.
 */
export class Queue {
  private items: (Item | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: Item): void {
    this.items.push(item);
  }

  peek(): Item | undefined {
    return this.items[this.head];
  }

  shift(): Item | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head += 1;
    // Compact once the consumed prefix dominates, keeping shift amortized O(1).
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  pop(): Item | undefined {
    if (this.head >= this.items.length) return undefined;
    return this.items.pop();
  }

  /** Puts items back at the front (a batch that must be retried), keeping their order. */
  unshift(items: readonly Item[]): void {
    this.items = [...items, ...this.items.slice(this.head)];
    this.head = 0;
  }
}

/** A bounded, priority-aware buffer of items; see the module comment. */
export class EventBuffer {
  readonly capacity: number;
  readonly criticalCapacity: number;
  readonly queues: readonly [Queue, Queue, Queue, Queue];
  private readonly drops: DropCounter;

  constructor(capacity: number, drops: DropCounter, criticalReserve?: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`buffer capacity must be an integer of at least 1, got ${String(capacity)}`);
    }
    this.capacity = capacity;
    this.criticalCapacity = capacity + (criticalReserve ?? Math.max(1, Math.floor(capacity / 10)));
    this.queues = [new Queue(), new Queue(), new Queue(), new Queue()];
    this.drops = drops;
  }

  get length(): number {
    const q = this.queues;
    return q[0].length + q[1].length + q[2].length + q[3].length;
  }

  /** Adds an item; false if it was dropped (counted as `buffer_full`). */
  put(rank: number, item: Item): boolean {
    if (this.length < this.capacity) {
      (this.queues[rank] as Queue).push(item);
      return true;
    }
    return this.shed(rank, item);
  }

  /** The full-buffer path: makes room by priority, or drops the incoming item. */
  shed(rank: number, item: Item): boolean {
    const queues = this.queues;
    if (this.length < this.capacity) {
      (queues[rank] as Queue).push(item);
      return true;
    }
    for (let lower = 0; lower < rank; lower++) {
      if ((queues[lower] as Queue).pop() !== undefined) {
        this.drops.add("buffer_full", lower);
        (queues[rank] as Queue).push(item);
        return true;
      }
    }
    if (rank === CRITICAL && this.length < this.criticalCapacity) {
      (queues[rank] as Queue).push(item);
      return true;
    }
    this.drops.add("buffer_full", rank);
    return false;
  }

  /** The smallest sequence number still buffered, or undefined when empty. */
  headSeq(): number | undefined {
    let best: number | undefined;
    for (const q of this.queues) {
      const head = q.peek();
      if (head !== undefined && (best === undefined || head.seq < best)) best = head.seq;
    }
    return best;
  }

  /** Removes up to `limit` items in emission order, as [rank, item] pairs. */
  drain(limit: number): [number, Item][] {
    const out: [number, Item][] = [];
    const queues = this.queues;
    while (out.length < limit) {
      let bestRank = -1;
      let bestSeq = 0;
      for (let rank = 0; rank < queues.length; rank++) {
        const head = (queues[rank] as Queue).peek();
        if (head !== undefined && (bestRank < 0 || head.seq < bestSeq)) {
          bestRank = rank;
          bestSeq = head.seq;
        }
      }
      if (bestRank < 0) break;
      out.push([bestRank, (queues[bestRank] as Queue).shift() as Item]);
    }
    return out;
  }
}
