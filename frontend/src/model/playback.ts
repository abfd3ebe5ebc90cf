import type { StoredEvent } from '../api/types';

/**
 * Playback: the index of the last event at or before `target` (producer time), walking forward
 * from `from`. Producer clocks can step back a little between agents, so an event whose time is
 * earlier than its predecessor's is passed over with it rather than stopping the walk.
 */
export function advancePlayback(events: readonly StoredEvent[], from: number, target: number): number {
  let i = Math.max(0, from);
  let maxSeen = events[i]?.timestamp ?? -Infinity;
  while (i + 1 < events.length) {
    const t = (events[i + 1] as StoredEvent).timestamp;
    if (t > target && t >= maxSeen) break;
    i++;
    if (t > maxSeen) maxSeen = t;
  }
  return i;
}

export const PLAYBACK_SPEEDS = [1, 4, 16, 64] as const;
