import { ApiError, type ApiClient } from '../api/client';
import type { BatchEvents, SessionSummary, StoredEvent } from '../api/types';
import { AgentIndex } from '../model/agents';
import { cursorReducer, effectiveSeq, initialCursor, type CursorAction, type CursorState } from '../model/cursor';
import { EventLog } from '../model/eventLog';
import { InteractionIndex } from '../model/interaction';
import { LaneIndex } from '../model/lanes';
import { LiveBuffer } from '../model/liveBuffer';
import { EMPTY_QUERY, isEmptyQuery, parseSearch, searchEvents, type SearchQuery } from '../model/search';
import { SequenceIndex } from '../model/sequence';
import { SpanIndex } from '../model/spans';
import { Store } from '../lib/store';

export type StreamStatus = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

export type Selection = { kind: 'span'; id: string } | { kind: 'agent'; id: string } | null;

export interface SearchState {
  input: string;
  query: SearchQuery;
  hits: number[];
  /** Index into `hits` of the last jump (for "3 / 17"). */
  at: number;
}

export interface SessionView {
  /** Bumped once per applied batch: derived views recompute on it. */
  version: number;
  cursor: CursorState;
  loading: boolean;
  loaded: number;
  error: string | null;
  stream: StreamStatus;
  summary: SessionSummary | null;
  selection: Selection;
  search: SearchState;
  notice: Notice | null;
  /** The gateway answered 404 for this session: it does not exist (yet); the stream waits for it. */
  missing: boolean;
  /** Playback is moving the cursor: views treat it like live (throttled), not like a click. */
  playing: boolean;
}

export interface Notice {
  id: number;
  text: string;
  kind: 'info' | 'error';
  at: number;
  /** A step's outcome: the next cursor move makes it stale, so it goes then. */
  step: boolean;
}

/** How long a notice stays up (unless dismissed, or a cursor move makes a step's notice stale). */
export const NOTICE_MS = 6000;

export interface FrameScheduler {
  request(cb: () => void): number;
  cancel(id: number): void;
}

const rafScheduler: FrameScheduler = {
  request: (cb) => (typeof requestAnimationFrame === 'function' ? requestAnimationFrame(() => cb()) : (setTimeout(cb, 16) as unknown as number)),
  cancel: (id) => (typeof cancelAnimationFrame === 'function' ? cancelAnimationFrame(id) : clearTimeout(id)),
};

/** History page size (the store's maximum): few round trips for big sessions. */
export const PAGE = 5000;
/** Beyond this many events a tab stops loading history: memory stays bounded for any session. */
export const MAX_EVENTS = 250_000;

export interface ApplyStats {
  batches: number;
  events: number;
  maxApplyMs: number;
  totalApplyMs: number;
  /** The last 2000 batch application times (ms), for the benchmark's percentiles. */
  recentApplyMs: number[];
}

/**
 * Everything one open session needs: the event log and its incremental indexes (spans, agents,
 * lanes, interactions), the live stream, and the view state (cursor, selection, search). Live
 * events are buffered and applied once per animation frame.
 */
export class SessionModel {
  readonly log = new EventLog();
  readonly spans = new SpanIndex();
  readonly agents = new AgentIndex();
  readonly lanes = new LaneIndex();
  readonly interaction = new InteractionIndex();
  readonly sequence = new SequenceIndex();
  readonly view: Store<SessionView>;
  readonly stats: ApplyStats = { batches: 0, events: 0, maxApplyMs: 0, totalApplyMs: 0, recentApplyMs: [] };

  private readonly buffer = new LiveBuffer();
  private frame: number | null = null;
  private source: EventSource | null = null;
  private retry: ReturnType<typeof setTimeout> | null = null;
  private backoff = 500;
  private stopped = false;
  private readonly abort = new AbortController();
  private searchedTo = 0;
  private noticeTimer: ReturnType<typeof setTimeout> | null = null;
  private noticeSeq = 0;
  /** session_end's status once the log has it (fresher than the summary fetched at open). */
  endStatus: string | null = null;

  constructor(
    readonly sessionId: string,
    private readonly api: ApiClient,
    initialSeq: number | null = null,
    private readonly scheduler: FrameScheduler = rafScheduler,
  ) {
    this.view = new Store<SessionView>({
      version: 0,
      cursor: initialCursor(initialSeq),
      loading: true,
      loaded: 0,
      error: null,
      stream: 'idle',
      summary: null,
      selection: null,
      search: { input: '', query: EMPTY_QUERY, hits: [], at: -1 },
      notice: null,
      missing: false,
      playing: false,
    });
  }

  /**
   * Loads history, then follows the live stream (resuming after the last seq loaded). A session
   * bigger than one page is fetched from both ends at once (oldest page ascending, newest page
   * descending), then the middle: a 10k-event session costs one round trip, not two in a row.
   */
  async start(opts: { live?: boolean } = {}): Promise<void> {
    const signal = this.abort.signal;
    const summaryP = this.api.session(this.sessionId, signal).catch(() => null);
    const firstP = this.api.events(this.sessionId, { after_seq: 0, limit: PAGE }, signal);
    firstP.catch(() => undefined); // handled below; avoid an unhandled rejection meanwhile
    try {
      const summary = await summaryP;
      if (this.stopped) return;
      if (summary) this.view.set({ summary });
      const tailP =
        summary && summary.event_count > PAGE ? this.api.events(this.sessionId, { order: 'desc', limit: PAGE }, signal) : null;
      tailP?.catch(() => undefined);
      const first = await firstP;
      if (this.stopped) return;
      // History pages go into the indexes quietly; the views render once, when all is loaded
      // (a 10k-event session is drawn once, not once per page).
      this.ingest(first.items, { quiet: true });
      this.view.set({ loaded: this.log.length });
      const last = first.items[first.items.length - 1];
      const complete = !last || first.items.length < PAGE || ('next_cursor' in first && !first.next_cursor);
      if (!complete) {
        let until = Infinity;
        if (tailP) {
          const tail = await tailP;
          if (this.stopped) return;
          const asc = [...tail.items].sort((a, b) => a.seq - b.seq);
          if (asc.length) until = (asc[0] as StoredEvent).seq;
          this.ingest(asc, { quiet: true });
          this.view.set({ loaded: this.log.length });
        }
        let after = last.seq;
        while (after < until - 1 && this.log.length < MAX_EVENTS) {
          const q = Number.isFinite(until) ? { after_seq: after, until_seq: until - 1, limit: PAGE } : { after_seq: after, limit: PAGE };
          const page = await this.api.events(this.sessionId, q, signal);
          if (this.stopped) return;
          this.ingest(page.items, { quiet: true });
          this.view.set({ loaded: this.log.length });
          const end = page.items[page.items.length - 1];
          if (!end || page.items.length < PAGE || ('next_cursor' in page && !page.next_cursor)) break;
          after = end.seq;
        }
      }
      if (this.log.length >= MAX_EVENTS) {
        this.notify(`Showing ${MAX_EVENTS.toLocaleString()} events of this session (its start and its newest events).`, 'info');
      }
      // History is not a step: "what changed" starts from the first move after loading.
      this.view.set((v) => ({
        loading: false,
        version: v.version + 1,
        cursor: { ...cursorReducer(v.cursor, { type: 'events', lastSeq: this.log.lastSeq }), prevSeq: null },
      }));
    } catch (err) {
      if (this.stopped) return;
      if (err instanceof ApiError && err.status === 404 && this.log.length === 0 && opts.live !== false) {
        // Not stored yet (a deep link to a session about to start, or still in the pipeline):
        // follow the stream; its first events will fill the view.
        this.view.set({ loading: false, missing: true });
        void this.connect();
        return;
      }
      const msg = err instanceof ApiError ? `${err.message} (${err.code})` : String(err);
      this.view.set({ loading: false, error: msg });
      return;
    }
    if (opts.live !== false) void this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.abort.abort();
    this.source?.close();
    this.source = null;
    if (this.retry) clearTimeout(this.retry);
    if (this.frame !== null) this.scheduler.cancel(this.frame);
    this.frame = null;
    if (this.noticeTimer) clearTimeout(this.noticeTimer);
    this.view.set({ stream: 'closed' });
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    this.view.set({ stream: this.view.get().stream === 'idle' ? 'connecting' : 'reconnecting' });
    let url: string;
    try {
      url = await this.api.streamUrl(this.sessionId, Math.max(this.log.lastSeq, this.buffer.highestSeq));
    } catch {
      this.scheduleReconnect();
      return;
    }
    if (this.stopped || typeof EventSource === 'undefined') return;
    const es = new EventSource(url);
    this.source = es;
    const onData = (m: MessageEvent<string>) => this.receive(m.data);
    es.addEventListener('batch_events', onData as EventListener);
    es.addEventListener('trace_event', onData as EventListener);
    es.onmessage = onData;
    es.addEventListener('resync', () => {
      // The server dropped our backlog: re-read from what we have.
      es.close();
      this.flush();
      void this.connect();
    });
    es.onopen = () => {
      this.backoff = 500;
      this.view.set({ stream: 'open' });
    };
    es.onerror = (e: Event) => {
      // The gateway's own `event: error` frame carries {code, message}: tell the person once.
      const data = (e as MessageEvent<string>).data;
      if (typeof data === 'string' && data) {
        try {
          const err = JSON.parse(data) as { code?: string; message?: string };
          // A session with no events yet is not an error: we are waiting for it (see start()).
          if (!(err.code === 'not_found' && this.log.length === 0)) {
            this.notify(`Live stream: ${err.message ?? 'error'} (${err.code ?? 'error'}); reconnecting`, 'error');
          }
        } catch {
          // not JSON: a transport error, nothing to show beyond the stream indicator
        }
      }
      // Reconnect ourselves (not EventSource's own retry) so the resume point and token are fresh.
      es.close();
      if (this.source === es) this.source = null;
      this.scheduleReconnect();
    };
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    this.view.set({ stream: 'reconnecting' });
    this.retry = setTimeout(() => void this.connect(), this.backoff);
    this.backoff = Math.min(this.backoff * 2, 8000);
  }

  /** Parses one SSE message (`{session_id, events}`, an event array or one event) into the buffer. */
  receive(data: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(data);
    } catch {
      return;
    }
    let events: StoredEvent[] = [];
    if (Array.isArray(parsed)) events = parsed as StoredEvent[];
    else if (parsed && typeof parsed === 'object') {
      const o = parsed as Partial<BatchEvents> & { event?: StoredEvent; seq?: number };
      if (Array.isArray(o.events)) events = o.events;
      else if (o.event) events = [o.event];
      else if (typeof o.seq === 'number') events = [o as unknown as StoredEvent];
    }
    if (this.buffer.push(events) && this.frame === null) {
      this.frame = this.scheduler.request(() => {
        this.frame = null;
        this.flush();
      });
    }
  }

  /** Applies everything buffered since the last frame, in one store update. */
  flush(): void {
    const batch = this.buffer.drain();
    if (batch.length) this.ingest(batch);
  }

  /** Adds events to the log and every index; one view update. */
  ingest(batch: readonly StoredEvent[], opts: { quiet?: boolean } = {}): StoredEvent[] {
    const t0 = typeof performance !== 'undefined' ? performance.now() : 0;
    const lastBefore = this.log.lastSeq;
    const added = this.log.append(batch);
    if (!added.length) return added;
    for (const ev of added) {
      if (ev.type === 'session_end') {
        const st = ev.data?.status;
        this.endStatus = typeof st === 'string' ? st : 'completed';
      }
    }
    this.spans.apply(added);
    this.agents.apply(added);
    this.lanes.apply(added);
    this.interaction.apply(added);
    this.sequence.apply(added);
    const v = this.view.get();
    let search = v.search;
    if (!isEmptyQuery(search.query)) {
      const inOrder = (added[0] as StoredEvent).seq > lastBefore;
      const hits = inOrder
        ? search.hits.concat(searchEvents(this.log.events, search.query, this.searchedTo))
        : searchEvents(this.log.events, search.query);
      search = { ...search, hits };
    }
    this.searchedTo = this.log.length;
    if (opts.quiet) {
      if (search !== v.search) this.view.set({ search });
      return added;
    }
    this.view.set({
      version: v.version + 1,
      cursor: cursorReducer(v.cursor, { type: 'events', lastSeq: this.log.lastSeq }),
      search,
      // The session exists after all (it started after the page opened).
      missing: false,
    });
    if (t0) {
      const dt = performance.now() - t0;
      this.stats.batches++;
      this.stats.events += added.length;
      this.stats.totalApplyMs += dt;
      if (dt > this.stats.maxApplyMs) this.stats.maxApplyMs = dt;
      this.stats.recentApplyMs.push(dt);
      if (this.stats.recentApplyMs.length > 2000) this.stats.recentApplyMs.splice(0, 1000);
    }
    return added;
  }

  // -- cursor -----------------------------------------------------------------------------------

  get seq(): number {
    return effectiveSeq(this.view.get().cursor);
  }

  /** The event at the cursor (the newest event while live). */
  cursorEvent(): StoredEvent | undefined {
    return this.log.atOrBefore(this.seq);
  }

  dispatch(action: CursorAction): void {
    this.view.set((v) => {
      const cursor = cursorReducer(v.cursor, action);
      // A step's notice describes where the cursor was: once it moves, the notice is stale.
      const stale = cursor !== v.cursor && v.notice?.step;
      return stale ? { cursor, notice: null } : { cursor };
    });
  }

  /** Moves the cursor to an event (leaves live mode). */
  goto(seq: number): void {
    this.dispatch({ type: 'goto', seq });
  }

  gotoIndex(index: number): void {
    const ev = this.log.events[Math.max(0, Math.min(index, this.log.length - 1))];
    if (ev) this.goto(ev.seq);
  }

  resume(): void {
    this.dispatch({ type: 'resume' });
  }

  select(selection: Selection): void {
    this.view.set({ selection });
  }

  /** Shows a notice for NOTICE_MS; `step` notices also go at the next cursor move. */
  notify(text: string, kind: 'info' | 'error' = 'info', opts: { step?: boolean } = {}): void {
    const id = ++this.noticeSeq;
    this.view.set({ notice: { id, text, kind, at: Date.now(), step: opts.step ?? false } });
    if (this.noticeTimer) clearTimeout(this.noticeTimer);
    this.noticeTimer = setTimeout(() => {
      this.noticeTimer = null;
      if (this.view.get().notice?.id === id) this.view.set({ notice: null });
    }, NOTICE_MS);
  }

  dismissNotice(): void {
    if (this.noticeTimer) clearTimeout(this.noticeTimer);
    this.noticeTimer = null;
    this.view.set({ notice: null });
  }

  /** The events of one span, in log order (its start to its end, as far as the log holds them). */
  spanEvents(spanId: string, limit = 200): StoredEvent[] {
    const span = this.spans.get(spanId);
    if (!span) return [];
    const out: StoredEvent[] = [];
    const last = span.endSeq ?? span.lastSeq;
    for (let i = Math.max(0, this.log.indexAtOrBefore(span.startSeq)); i < this.log.length && out.length < limit; i++) {
      const ev = this.log.events[i] as StoredEvent;
      if (ev.seq > last) break;
      if ((ev.span_id || ev.id) === spanId) out.push(ev);
    }
    return out;
  }

  // -- search -----------------------------------------------------------------------------------

  setSearch(input: string): void {
    const query = parseSearch(input);
    const hits = searchEvents(this.log.events, query);
    this.searchedTo = this.log.length;
    this.view.set({ search: { input, query, hits, at: -1 } });
  }

  /** Jumps to the next/previous hit from the cursor; returns its seq. */
  jumpHit(dir: 1 | -1): number | null {
    const { hits } = this.view.get().search;
    if (!hits.length) return null;
    const cur = this.seq;
    let idx: number;
    if (dir === 1) {
      idx = hits.findIndex((h) => h > cur);
      if (idx < 0) idx = 0;
    } else {
      idx = -1;
      for (let i = hits.length - 1; i >= 0; i--) {
        if ((hits[i] as number) < cur) {
          idx = i;
          break;
        }
      }
      if (idx < 0) idx = hits.length - 1;
    }
    const seq = hits[idx] as number;
    this.view.set((v) => ({ search: { ...v.search, at: idx } }));
    this.goto(seq);
    return seq;
  }
}
