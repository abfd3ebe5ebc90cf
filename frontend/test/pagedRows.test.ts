import { describe, expect, it } from 'vitest';
import type { StateItem, StatePage, StatePageQuery } from '../src/api/types';
import { PagedRows } from '../src/model/pagedRows';

/** A collection paged as the gateway pages it (position cursors, filters scan on). */
function server(items: StateItem[]) {
  const asked: StatePageQuery[] = [];
  const fetchPage = async (q: StatePageQuery): Promise<StatePage> => {
    asked.push(q);
    const step = q.order === 'desc' ? -1 : 1;
    let pos = q.cursor ?? (step === 1 ? 0 : items.length - 1);
    const out: StateItem[] = [];
    while (pos >= 0 && pos < items.length && out.length < (q.limit ?? 500)) {
      const item = items[pos] as StateItem;
      if (!q.q || JSON.stringify(item).toLowerCase().includes(q.q.toLowerCase())) out.push(item);
      pos += step;
    }
    return {
      session_id: 's',
      seq: 1,
      collection: 'communications',
      count: items.length,
      order: q.order ?? 'asc',
      items: out,
      next_cursor: pos >= 0 && pos < items.length ? String(pos) : null,
    };
  };
  return { fetchPage, asked };
}

const MESSAGES: StateItem[] = Array.from({ length: 50_000 }, (_, i) => ({
  key: i,
  value: { message_id: `m${i}`, content: i % 1000 === 7 ? 'needle here' : 'hay' },
}));

const settle = () => new Promise((r) => setTimeout(r, 0));

describe('PagedRows: a state collection paged as a virtual list scrolls', () => {
  it('fetches only the blocks of the rows asked for, once each, by position', async () => {
    const { fetchPage, asked } = server(MESSAGES);
    let changes = 0;
    const rows = new PagedRows(fetchPage, { count: MESSAGES.length, order: 'asc', pageRows: 200 }, () => changes++);
    expect(rows.total).toBe(50_000);
    rows.ensure(25_010, 25_040); // dragged to the middle
    rows.ensure(25_010, 25_040); // asked again while in flight
    await settle();
    expect(asked).toEqual([{ cursor: 25_000, limit: 200, order: 'asc' }]);
    expect(rows.row(25_010)?.key).toBe(25_010);
    expect(rows.row(0)).toBeUndefined();
    expect(changes).toBe(1);
    rows.ensure(25_190, 25_210); // crosses into the next block
    await settle();
    expect(asked.map((q) => q.cursor)).toEqual([25_000, 25_200]);
    expect(rows.row(25_205)?.key).toBe(25_205);
  });

  it('newest first: row 0 is the last position', async () => {
    const { fetchPage, asked } = server(MESSAGES);
    const rows = new PagedRows(fetchPage, { count: MESSAGES.length, order: 'desc', pageRows: 100 }, () => {});
    rows.ensure(0, 30);
    rows.ensure(150, 160);
    await settle();
    expect(asked.map((q) => q.cursor)).toEqual([49_999, 49_899]);
    expect(rows.row(0)?.key).toBe(49_999);
    expect(rows.row(155)?.key).toBe(49_999 - 155);
  });

  it('filtered: matches load page after page from the previous next_cursor', async () => {
    const { fetchPage, asked } = server(MESSAGES);
    const rows = new PagedRows(
      fetchPage,
      { count: MESSAGES.length, order: 'asc', filters: { q: 'NEEDLE' }, pageRows: 20 },
      () => {},
    );
    expect(rows.filtered).toBe(true);
    rows.ensure(0, 10);
    await settle();
    expect(rows.total).toBe(21); // 20 matches and a row for "more"
    expect(rows.row(19)?.key).toBe(19_007);
    rows.ensure(0, 10); // nothing more is needed yet
    await settle();
    expect(asked).toHaveLength(1);
    rows.ensure(15, 25);
    await settle();
    rows.ensure(35, 45);
    await settle();
    expect(rows.total).toBe(50);
    expect(rows.more).toBe(false);
    expect(asked.map((q) => q.cursor)).toEqual([0, 19_008, 39_008]);
  });

  it('a failed page is reported and asked again later; a disposed list asks nothing', async () => {
    let fail = true;
    const { fetchPage: real } = server(MESSAGES);
    const rows = new PagedRows(
      (q) => (fail ? Promise.reject(new Error('HTTP 503')) : real(q)),
      { count: 1000, order: 'asc', pageRows: 100 },
      () => {},
    );
    rows.ensure(0, 10);
    await settle();
    expect(rows.error).toBe('HTTP 503');
    fail = false;
    rows.ensure(0, 10);
    await settle();
    expect(rows.error).toBeNull();
    expect(rows.row(3)?.key).toBe(3);
    rows.dispose();
    let asked = 0;
    const gone = new PagedRows(async (q) => (asked++, real(q)), { count: 1000, order: 'asc' }, () => {});
    gone.dispose();
    gone.ensure(0, 10);
    expect(asked).toBe(0);
  });
});
