import { describe, expect, it } from 'vitest';
import { EventLog, countAtOrBelow, upperIndex } from '../src/model/eventLog';
import { ev } from './fixtures';

describe('EventLog', () => {
  it('appends in order and reports only new events', () => {
    const log = new EventLog();
    expect(log.append([ev(1), ev(2), ev(3)]).map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(log.append([ev(3), ev(4)]).map((e) => e.seq)).toEqual([4]);
    expect(log.lastSeq).toBe(4);
    expect(log.length).toBe(4);
  });

  it('drops duplicates by id and by seq, inside one batch too', () => {
    const log = new EventLog();
    log.append([ev(1), ev(1), ev(2)]);
    log.append([{ ...ev(2), id: 'other-id' }]);
    expect(log.events.map((e) => e.seq)).toEqual([1, 2]);
  });

  it('merges out-of-order batches into seq order', () => {
    const log = new EventLog();
    log.append([ev(5), ev(6)]);
    log.append([ev(2), ev(9), ev(1)]);
    expect(log.events.map((e) => e.seq)).toEqual([1, 2, 5, 6, 9]);
    expect(log.byId('e5')?.seq).toBe(5);
  });

  it('finds the event at or before a seq', () => {
    const log = new EventLog();
    log.append([ev(2), ev(4), ev(8)]);
    expect(log.atOrBefore(1)).toBeUndefined();
    expect(log.atOrBefore(4)?.seq).toBe(4);
    expect(log.atOrBefore(7)?.seq).toBe(4);
    expect(log.atOrBefore(100)?.seq).toBe(8);
    expect(log.indexOfSeq(8)).toBe(2);
    expect(log.indexOfSeq(5)).toBe(-1);
  });

  it('ignores malformed stream items', () => {
    const log = new EventLog();
    log.append([null as never, { id: 'x' } as never, ev(1)]);
    expect(log.length).toBe(1);
  });

  it('binary search helpers', () => {
    expect(upperIndex([1, 3, 5], 4, (n) => n)).toBe(1);
    expect(countAtOrBelow([1, 3, 5], 5)).toBe(3);
    expect(countAtOrBelow([], 5)).toBe(0);
  });
});
