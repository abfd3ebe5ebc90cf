/**
 * The one cursor (UI.md): everything shows the swarm at the cursor. Live mode = the cursor follows
 * the newest event; any move to the past leaves live mode; resume returns to it.
 */
export interface CursorState {
  live: boolean;
  /** The chosen seq while not live (null while live). */
  seq: number | null;
  /** Where the cursor was before the last move: what "what changed" compares against. */
  prevSeq: number | null;
  lastSeq: number;
}

export type CursorAction =
  | { type: 'events'; lastSeq: number }
  | { type: 'goto'; seq: number }
  | { type: 'resume' }
  | { type: 'pause' }
  | { type: 'reset'; live: boolean; seq: number | null };

export function initialCursor(seq: number | null = null): CursorState {
  return { live: seq === null, seq, prevSeq: null, lastSeq: 0 };
}

/** The seq everything is shown at. 0 when the session has no event yet. */
export function effectiveSeq(c: CursorState): number {
  if (c.live || c.seq === null) return c.lastSeq;
  return c.seq;
}

export function cursorReducer(c: CursorState, a: CursorAction): CursorState {
  switch (a.type) {
    case 'events': {
      if (a.lastSeq <= c.lastSeq) return c;
      // While live the cursor moves with the log, so what changed = since the previous head.
      return c.live ? { ...c, lastSeq: a.lastSeq, prevSeq: c.lastSeq || null } : { ...c, lastSeq: a.lastSeq };
    }
    case 'goto': {
      const cur = effectiveSeq(c);
      if (!c.live && c.seq === a.seq) return c;
      return { ...c, live: false, seq: a.seq, prevSeq: cur || null };
    }
    case 'pause':
      if (!c.live) return c;
      return { ...c, live: false, seq: c.lastSeq, prevSeq: c.prevSeq };
    case 'resume':
      if (c.live) return c;
      return { ...c, live: true, seq: null, prevSeq: effectiveSeq(c) || null };
    case 'reset':
      return { live: a.live, seq: a.seq, prevSeq: null, lastSeq: c.lastSeq };
    default:
      return c;
  }
}
