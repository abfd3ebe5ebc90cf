import { describe, expect, it } from 'vitest';
import { cursorReducer, effectiveSeq, initialCursor } from '../src/model/cursor';

describe('cursor', () => {
  it('follows the newest event while live', () => {
    let c = initialCursor();
    c = cursorReducer(c, { type: 'events', lastSeq: 10 });
    expect(c.live).toBe(true);
    expect(effectiveSeq(c)).toBe(10);
    c = cursorReducer(c, { type: 'events', lastSeq: 15 });
    expect(effectiveSeq(c)).toBe(15);
    expect(c.prevSeq).toBe(10);
  });

  it('a move to the past leaves live mode and stays put as events arrive', () => {
    let c = cursorReducer(initialCursor(), { type: 'events', lastSeq: 10 });
    c = cursorReducer(c, { type: 'goto', seq: 4 });
    expect(c.live).toBe(false);
    expect(c.prevSeq).toBe(10);
    c = cursorReducer(c, { type: 'events', lastSeq: 20 });
    expect(effectiveSeq(c)).toBe(4);
    expect(c.lastSeq).toBe(20);
  });

  it('resume returns to live at the newest event', () => {
    let c = cursorReducer(initialCursor(), { type: 'events', lastSeq: 10 });
    c = cursorReducer(c, { type: 'goto', seq: 3 });
    c = cursorReducer(c, { type: 'events', lastSeq: 12 });
    c = cursorReducer(c, { type: 'resume' });
    expect(c.live).toBe(true);
    expect(effectiveSeq(c)).toBe(12);
    expect(c.prevSeq).toBe(3);
  });

  it('pause freezes the cursor at the newest event', () => {
    let c = cursorReducer(initialCursor(), { type: 'events', lastSeq: 7 });
    c = cursorReducer(c, { type: 'pause' });
    c = cursorReducer(c, { type: 'events', lastSeq: 9 });
    expect(c.live).toBe(false);
    expect(effectiveSeq(c)).toBe(7);
  });

  it('a deep link starts paused at its seq', () => {
    let c = initialCursor(42);
    c = cursorReducer(c, { type: 'events', lastSeq: 100 });
    expect(c.live).toBe(false);
    expect(effectiveSeq(c)).toBe(42);
  });

  it('is a no-op for stale or repeated actions', () => {
    const c = cursorReducer(initialCursor(), { type: 'events', lastSeq: 10 });
    expect(cursorReducer(c, { type: 'events', lastSeq: 9 })).toBe(c);
    expect(cursorReducer(c, { type: 'resume' })).toBe(c);
    const g = cursorReducer(c, { type: 'goto', seq: 5 });
    expect(cursorReducer(g, { type: 'goto', seq: 5 })).toBe(g);
  });
});
