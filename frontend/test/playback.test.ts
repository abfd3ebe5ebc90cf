import { describe, expect, it } from 'vitest';
import { advancePlayback } from '../src/model/playback';
import { ev } from './fixtures';

describe('playback', () => {
  const events = [ev(1, { timestamp: 0 }), ev(2, { timestamp: 100 }), ev(3, { timestamp: 90 }), ev(4, { timestamp: 200 }), ev(5, { timestamp: 300 })];
  it('advances to the last event at or before the target time', () => {
    expect(advancePlayback(events, 0, 50)).toBe(0);
    expect(advancePlayback(events, 0, 150)).toBe(2); // seq 3 (t=90) goes along with seq 2
    expect(advancePlayback(events, 2, 250)).toBe(3);
    expect(advancePlayback(events, 3, 10_000)).toBe(4);
  });
  it('never moves backwards', () => {
    expect(advancePlayback(events, 3, 0)).toBe(3);
  });
});
