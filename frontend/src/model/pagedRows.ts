import type { StateItem, StatePage, StatePageQuery } from '../api/types';

/** Rows of one state collection fetched page by page as a virtual list scrolls (v1.1 pages). */
export type FetchPage = (q: StatePageQuery, signal: AbortSignal) => Promise<StatePage>;

export const PAGE_ROWS = 200;

export interface PagedRowsOptions {
  /** items the collection has at this seq (from the bounded view) */
  count: number;
  order: 'asc' | 'desc';
  /** filters (`q`, `prefix`, …): the rows are the matches, found page after page */
  filters?: Omit<StatePageQuery, 'cursor' | 'limit' | 'order'>;
  pageRows?: number;
}

/**
 * Unfiltered, rows are positions: row i is position i (asc) or count-1-i (desc), and the block of
 * rows a scroll shows is fetched by its first position (random access: dragging to the middle of
 * 50,000 messages costs one page). Filtered, the matches are unknown ahead: pages are fetched one
 * after the other from the previous `next_cursor`, and the list grows as it is scrolled.
 * Only what `ensure` is asked for is fetched; a block is asked once.
 */
export class PagedRows {
  private readonly blocks = new Map<number, StateItem[]>();
  private readonly pending = new Set<number>();
  private readonly ctl = new AbortController();
  private readonly pageRows: number;
  private loaded: StateItem[] = [];
  private nextCursor: number | null = 0;
  private busy = false;
  error: string | null = null;

  constructor(
    private readonly fetchPage: FetchPage,
    private readonly opts: PagedRowsOptions,
    private readonly onChange: () => void,
  ) {
    this.pageRows = opts.pageRows ?? PAGE_ROWS;
    if (opts.order === 'desc') this.nextCursor = opts.count - 1;
  }

  get filtered(): boolean {
    const f = this.opts.filters ?? {};
    return Object.values(f).some((v) => v !== undefined && v !== '');
  }

  /** Rows the list has room for: every position, or the matches found so far (+1 while more may come). */
  get total(): number {
    if (!this.filtered) return this.opts.count;
    return this.loaded.length + (this.more ? 1 : 0);
  }

  /** Filtered: more matches may follow the ones loaded. */
  get more(): boolean {
    return this.nextCursor !== null && this.nextCursor >= 0 && this.nextCursor < this.opts.count;
  }

  row(index: number): StateItem | undefined {
    if (this.filtered) return this.loaded[index];
    return this.blocks.get(Math.floor(index / this.pageRows))?.[index % this.pageRows];
  }

  /** Makes sure rows first..last (exclusive) are on their way. */
  ensure(first: number, last: number): void {
    if (this.ctl.signal.aborted) return;
    if (this.filtered) {
      if (last >= this.loaded.length && this.more && !this.busy) void this.loadNext();
      return;
    }
    const top = Math.min(last, this.opts.count);
    for (let b = Math.floor(Math.max(0, first) / this.pageRows); b * this.pageRows < top; b++) {
      if (!this.blocks.has(b) && !this.pending.has(b)) void this.loadBlock(b);
    }
  }

  dispose(): void {
    this.ctl.abort();
  }

  private async loadBlock(block: number): Promise<void> {
    this.pending.add(block);
    const firstRow = block * this.pageRows;
    const cursor = this.opts.order === 'asc' ? firstRow : this.opts.count - 1 - firstRow;
    try {
      const page = await this.fetchPage({ cursor, limit: this.pageRows, order: this.opts.order }, this.ctl.signal);
      this.blocks.set(block, page.items);
      this.error = null;
    } catch (err) {
      if (this.ctl.signal.aborted) return;
      this.error = err instanceof Error ? err.message : String(err);
    } finally {
      this.pending.delete(block);
    }
    this.onChange();
  }

  private async loadNext(): Promise<void> {
    if (this.nextCursor === null) return;
    this.busy = true;
    try {
      const page = await this.fetchPage(
        { ...this.opts.filters, cursor: this.nextCursor, limit: this.pageRows, order: this.opts.order },
        this.ctl.signal,
      );
      this.loaded = this.loaded.concat(page.items);
      this.nextCursor = page.next_cursor === null ? null : Number(page.next_cursor);
      this.error = null;
    } catch (err) {
      if (this.ctl.signal.aborted) return;
      this.error = err instanceof Error ? err.message : String(err);
    } finally {
      this.busy = false;
    }
    this.onChange();
  }
}
