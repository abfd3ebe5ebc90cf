import { describe, expect, it, vi } from 'vitest';
import { ApiClient } from '../src/api/client';
import type { FrameScheduler } from '../src/state/sessionModel';
import { NOTICE_MS, SessionModel } from '../src/state/sessionModel';
import { effectiveSeq } from '../src/model/cursor';
import { ev, storedSwarm } from './fixtures';

class ManualFrames implements FrameScheduler {
  queue: (() => void)[] = [];
  request(cb: () => void): number {
    this.queue.push(cb);
    return this.queue.length;
  }
  cancel(): void {
    this.queue = [];
  }
  run(): void {
    const q = this.queue;
    this.queue = [];
    for (const cb of q) cb();
  }
}

function fakeApi(routes: Record<string, unknown>): ApiClient {
  const fetchImpl = (async (input: RequestInfo | URL) => {
    const url = String(input);
    const key = Object.keys(routes).find((k) => url.startsWith(k));
    if (!key) return new Response(JSON.stringify({ error: { code: 'not_found', message: url } }), { status: 404 });
    return new Response(JSON.stringify(routes[key]), { status: 200 });
  }) as typeof fetch;
  return new ApiClient(null, fetchImpl);
}

describe('SessionModel live batches', () => {
  it('applies every batch received between two frames in one update', () => {
    const frames = new ManualFrames();
    const m = new SessionModel('s', fakeApi({}), null, frames);
    let updates = 0;
    m.view.subscribe(() => updates++);
    m.receive(JSON.stringify({ session_id: 's', events: [ev(1), ev(2)] }));
    m.receive(JSON.stringify({ session_id: 's', events: [ev(3)] }));
    m.receive(JSON.stringify([ev(4)]));
    expect(frames.queue.length).toBe(1); // one frame requested for the whole burst
    expect(m.log.length).toBe(0);
    frames.run();
    expect(m.log.length).toBe(4);
    expect(updates).toBe(1);
    expect(m.view.get().version).toBe(1);
    expect(effectiveSeq(m.view.get().cursor)).toBe(4);
  });

  it('drops repeated events after a reconnect and ignores garbage', () => {
    const frames = new ManualFrames();
    const m = new SessionModel('s', fakeApi({}), null, frames);
    m.receive(JSON.stringify({ events: [ev(1), ev(2)] }));
    frames.run();
    m.receive('not json');
    m.receive(JSON.stringify({ events: [ev(2), ev(3)] }));
    frames.run();
    expect(m.log.events.map((e) => e.seq)).toEqual([1, 2, 3]);
  });

  it('keeps the cursor where the user put it while live events arrive', () => {
    const frames = new ManualFrames();
    const m = new SessionModel('s', fakeApi({}), null, frames);
    m.ingest([ev(1), ev(2), ev(3)]);
    m.goto(2);
    m.receive(JSON.stringify({ events: [ev(4), ev(5)] }));
    frames.run();
    expect(m.seq).toBe(2);
    expect(m.cursorEvent()?.seq).toBe(2);
    m.resume();
    expect(m.seq).toBe(5);
  });

  it('updates indexes incrementally: spans, agents, lanes, interactions', () => {
    const m = new SessionModel('s', fakeApi({}), null, new ManualFrames());
    const events = storedSwarm('s');
    m.ingest(events.slice(0, 30));
    const spansBefore = m.spans.spans.size;
    m.ingest(events.slice(30));
    expect(m.spans.spans.size).toBeGreaterThan(spansBefore);
    expect(m.agents.order.map((a) => a.id)).toEqual(['(session)', 'coord-1', 'res-1', 'cod-1', 'tst-1', 'rev-1']);
    expect([...m.lanes.lanes.values()].reduce((n, l) => n + l.length, 0)).toBe(events.length);
    expect(m.interaction.edges.size).toBeGreaterThan(0);
  });

  it('keeps search hits current as live events arrive', () => {
    const frames = new ManualFrames();
    const m = new SessionModel('s', fakeApi({}), null, frames);
    m.ingest([ev(1, { type: 'error', data: { message: 'boom' } }), ev(2)]);
    m.setSearch('type:error');
    expect(m.view.get().search.hits).toEqual([1]);
    m.receive(JSON.stringify({ events: [ev(3, { type: 'error', data: { message: 'again' } })] }));
    frames.run();
    expect(m.view.get().search.hits).toEqual([1, 3]);
    expect(m.jumpHit(1)).toBe(1);
    expect(m.jumpHit(1)).toBe(3);
    expect(m.jumpHit(1)).toBe(1); // wraps
  });

  it('loads history page by page and starts paused at a deep-linked seq', async () => {
    const events = storedSwarm('s');
    const api = fakeApi({
      '/api/v1/sessions/s/events': { items: events, next_cursor: null },
      '/api/v1/sessions/s': { id: 's', status: 'completed', event_count: events.length, agent_count: 5, error_count: 3, tokens: 0, cost: 0 },
    });
    const m = new SessionModel('s', api, 10, new ManualFrames());
    await m.start({ live: false });
    expect(m.view.get().loading).toBe(false);
    expect(m.log.length).toBe(events.length);
    expect(m.seq).toBe(10);
    expect(m.view.get().cursor.live).toBe(false);
    m.stop();
  });

  it('reports a load error instead of throwing', async () => {
    const m = new SessionModel('missing', fakeApi({}), null, new ManualFrames());
    await m.start({ live: false });
    expect(m.view.get().error).toMatch(/not_found/);
    m.stop();
  });
});

describe('SessionModel history of a big session', () => {
  it('fetches both ends at once, then the middle, and ends with every event once', async () => {
    const all = Array.from({ length: 12_000 }, (_, i) => ev(i + 1, { timestamp: i }));
    const calls: string[] = [];
    const fetchImpl = (async (input: RequestInfo | URL) => {
      const url = new URL(String(input), 'http://x');
      calls.push(url.pathname + url.search);
      const json = (body: unknown) => new Response(JSON.stringify(body), { status: 200 });
      if (url.pathname === '/api/v1/sessions/big')
        return json({ id: 'big', status: 'completed', event_count: all.length, agent_count: 1, error_count: 0, tokens: 0, cost: 0 });
      const q = url.searchParams;
      const limit = Number(q.get('limit'));
      if (q.get('order') === 'desc') return json({ items: all.slice(-limit).reverse(), next_cursor: 'more' });
      const after = Number(q.get('after_seq') ?? 0);
      const until = q.get('until_seq') ? Number(q.get('until_seq')) : Infinity;
      const items = all.filter((e) => e.seq > after && e.seq <= until).slice(0, limit);
      return json({ items, next_cursor: items.length === limit ? 'more' : null });
    }) as typeof fetch;
    const m = new SessionModel('big', new ApiClient(null, fetchImpl), null, new ManualFrames());
    let renders = 0;
    m.view.subscribe(() => renders++);
    await m.start({ live: false });
    expect(m.log.length).toBe(12_000);
    expect(m.log.events.every((e, i) => e.seq === i + 1)).toBe(true);
    expect(calls.filter((c) => c.includes('/events'))).toEqual([
      '/api/v1/sessions/big/events?after_seq=0&limit=5000',
      '/api/v1/sessions/big/events?order=desc&limit=5000',
      '/api/v1/sessions/big/events?after_seq=5000&until_seq=7000&limit=5000',
    ]);
    expect(m.view.get().version).toBe(1); // the views render once, after the history is in
    expect(renders).toBeGreaterThan(0);
    m.stop();
  });

  it('asks only once for a session that fits in one page', async () => {
    const events = storedSwarm('s');
    const calls: string[] = [];
    const fetchImpl = (async (input: RequestInfo | URL) => {
      calls.push(String(input));
      if (String(input).includes('/events'))
        return new Response(JSON.stringify({ items: events, next_cursor: null }), { status: 200 });
      return new Response(JSON.stringify({ id: 's', status: 'active', event_count: events.length, agent_count: 5, error_count: 0, tokens: 0, cost: 0 }), { status: 200 });
    }) as typeof fetch;
    const m = new SessionModel('s', new ApiClient(null, fetchImpl), null, new ManualFrames());
    await m.start({ live: false });
    expect(calls.filter((c) => c.includes('/events'))).toHaveLength(1);
    expect(m.log.length).toBe(events.length);
    m.stop();
  });
});

describe('SessionModel notices', () => {
  it('a step notice goes at the next cursor move, any notice after NOTICE_MS', () => {
    vi.useFakeTimers();
    try {
      const m = new SessionModel('s', fakeApi({}), null, new ManualFrames());
      m.ingest([ev(1), ev(2), ev(3)]);
      m.goto(2);
      m.notify('Step out: no enclosing span', 'info', { step: true });
      expect(m.view.get().notice?.text).toContain('no enclosing span');
      m.goto(2); // not a move
      expect(m.view.get().notice).not.toBeNull();
      m.goto(3);
      expect(m.view.get().notice).toBeNull();
      m.notify('Showing 250,000 events');
      m.goto(1);
      expect(m.view.get().notice).not.toBeNull(); // not about the cursor: it stays…
      vi.advanceTimersByTime(NOTICE_MS + 1);
      expect(m.view.get().notice).toBeNull(); // …until its time is up
      // A newer notice is not cut short by the older one's timer.
      m.notify('first');
      vi.advanceTimersByTime(NOTICE_MS - 100);
      m.notify('second');
      vi.advanceTimersByTime(200);
      expect(m.view.get().notice?.text).toBe('second');
      m.stop();
    } finally {
      vi.useRealTimers();
    }
  });

  it('a session the gateway does not know is missing, not active, until its first events', async () => {
    const m = new SessionModel('nope', fakeApi({}), null, new ManualFrames());
    await m.start({ live: false });
    expect(m.view.get().missing).toBe(false); // live: false does not wait for it
    const waiting = new SessionModel('nope', fakeApi({}), null, new ManualFrames());
    await waiting.start();
    expect(waiting.view.get().missing).toBe(true);
    expect(waiting.view.get().notice).toBeNull();
    waiting.ingest([ev(1, { session_id: 'nope' })]);
    expect(waiting.view.get().missing).toBe(false);
    waiting.stop();
  });
});
