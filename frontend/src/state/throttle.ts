import type { SessionView } from './sessionModel';

/**
 * How long a heavy view may wait before showing a store change: a cursor the person moved shows at
 * once; the live stream (new events, the cursor following them) at most every `liveMs`.
 */
export function liveWait(liveMs: number) {
  return (prev: SessionView, next: SessionView): number => {
    if (next.playing && prev.playing) return liveMs;
    const moved = prev.cursor !== next.cursor && !(next.cursor.live && prev.cursor.live);
    if (moved || prev.selection !== next.selection || prev.search !== next.search || prev.loading !== next.loading) return 0;
    return liveMs;
  };
}

export const versionAndCursor = (v: SessionView) => ({ version: v.version, cursor: v.cursor });
