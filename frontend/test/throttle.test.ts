import { describe, expect, it } from 'vitest';
import { cursorReducer, initialCursor } from '../src/model/cursor';
import { EMPTY_QUERY } from '../src/model/search';
import type { SessionView } from '../src/state/sessionModel';
import { liveWait } from '../src/state/throttle';

const SEARCH = { input: '', query: EMPTY_QUERY, hits: [], at: -1 };

function view(patch: Partial<SessionView> = {}): SessionView {
  return {
    version: 0,
    cursor: cursorReducer(initialCursor(), { type: 'events', lastSeq: 10 }),
    loading: false,
    loaded: 0,
    error: null,
    stream: 'open',
    summary: null,
    selection: null,
    search: SEARCH,
    notice: null,
    missing: false,
    playing: false,
    ...patch,
  };
}

describe('liveWait: how long heavy panels may lag the store', () => {
  const wait = liveWait(400);
  it('throttles the live stream (new events, the cursor following them)', () => {
    const a = view();
    const b = view({ version: 1, cursor: cursorReducer(a.cursor, { type: 'events', lastSeq: 20 }) });
    expect(wait(a, b)).toBe(400);
  });
  it('shows a cursor the person moved at once', () => {
    const a = view();
    const b = view({ cursor: cursorReducer(a.cursor, { type: 'goto', seq: 3 }) });
    expect(wait(a, b)).toBe(0);
    expect(wait(b, view({ cursor: cursorReducer(b.cursor, { type: 'resume' }) }))).toBe(0);
  });
  it('throttles playback like live', () => {
    const a = view({ playing: true, cursor: cursorReducer(view().cursor, { type: 'goto', seq: 3 }) });
    const b = view({ playing: true, cursor: cursorReducer(a.cursor, { type: 'goto', seq: 4 }) });
    expect(wait(a, b)).toBe(400);
  });
  it('shows selection, search and load changes at once', () => {
    const a = view();
    expect(wait(a, view({ selection: { kind: 'span', id: 'x' } }))).toBe(0);
    expect(wait(a, view({ loading: true }))).toBe(0);
  });
});
