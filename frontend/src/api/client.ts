import type {
  AgentSummary,
  BreakpointHit,
  CallStack,
  CompileResult,
  DeadLetter,
  Page,
  PerformanceReport,
  SearchDirection,
  SessionComparison,
  SessionFacets,
  SessionSummary,
  StateCollectionName,
  StateDiff,
  StatePage,
  StatePageQuery,
  StepDirection,
  StepResult,
  StoredEvent,
  SystemState,
  WatchResult,
  Json,
} from './types';

const API = '/api/v1';
/** Items of each growing collection the debugger's state view starts with (the rest is paged). */
export const STATE_VIEW_LIMIT = 100;
/** Changes of a diff asked at once (the "what changed" section shows 200 of them). */
export const DIFF_PAGE = 500;
const KEY_STORAGE = 'swarmscope.apiKey';

/** An error the gateway answered (`{error: {code, message}}`) or a transport failure. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** GET /sessions parameters (CONTRACT §4, the search by attribute is v1.1). */
export interface SessionsQuery {
  status?: string | undefined;
  q?: string | undefined;
  limit?: number;
  cursor?: string | null;
  agent_type?: string | undefined;
  tool?: string | undefined;
  model?: string | undefined;
  error_type?: string | undefined;
  from_ts?: number | undefined;
  to_ts?: number | undefined;
  min_cost?: number | undefined;
  max_cost?: number | undefined;
  system?: 'include' | 'exclude' | 'only';
}

export interface EventsQuery {
  after_seq?: number;
  until_seq?: number;
  limit?: number;
  order?: 'asc' | 'desc';
  agent?: string;
  type?: string;
  phase?: string;
  q?: string;
  from_ts?: number;
  to_ts?: number;
}

/**
 * Asks the person for an API key; `refused` is the gateway's message when the key it holds was
 * just refused (so the prompt can say why it is asking again), null on the first ask.
 */
export type KeyAsker = (refused: string | null) => Promise<string | null>;

function queryString(params: Record<string, string | number | boolean | null | undefined>): string {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') qs.set(k, String(v));
  }
  const s = qs.toString();
  return s ? `?${s}` : '';
}

const enc = encodeURIComponent;

/**
 * The gateway client. Relative paths only, so the same build works behind the gateway and behind
 * Vite's dev proxy. When the gateway asks for a key (401), the UI asks the person once, keeps the key
 * in sessionStorage (gone when the tab closes) and retries.
 */
export class ApiClient {
  private askKey: KeyAsker | null = null;
  /** GETs started before anyone asked (see prefetch), handed to the first caller of that URL. */
  private readonly early = new Map<string, Promise<Response>>();
  private asking: Promise<string | null> | null = null;

  constructor(
    private readonly storage: Pick<Storage, 'getItem' | 'setItem' | 'removeItem'> | null = typeof sessionStorage !==
    'undefined'
      ? sessionStorage
      : null,
    private readonly fetchImpl: typeof fetch = (...args) => fetch(...args),
  ) {
    // Requests public/boot.js started before the bundle loaded.
    const boot = typeof window !== 'undefined' ? (window as { __swarmscopeEarly?: Record<string, Promise<Response>> }).__swarmscopeEarly : undefined;
    if (boot) {
      for (const [path, res] of Object.entries(boot)) this.early.set(path, res);
      delete (window as { __swarmscopeEarly?: unknown }).__swarmscopeEarly;
    }
  }

  /** Registers the UI callback that asks the person for an API key. */
  onKeyNeeded(asker: KeyAsker): void {
    this.askKey = asker;
  }

  get apiKey(): string | null {
    return this.storage?.getItem(KEY_STORAGE) ?? null;
  }

  setApiKey(key: string | null): void {
    if (!this.storage) return;
    if (key) this.storage.setItem(KEY_STORAGE, key);
    else this.storage.removeItem(KEY_STORAGE);
  }

  private headers(key: string | null, extra?: Record<string, string>): Record<string, string> {
    const h: Record<string, string> = { Accept: 'application/json', ...extra };
    if (key) h.Authorization = `Bearer ${key}`;
    return h;
  }

  /** True once the person dismissed the key prompt: refreshes then fail quietly instead of nagging. */
  declined = false;

  private async requestKey(refused: string | null): Promise<string | null> {
    if (!this.askKey || this.declined) return null;
    // Many requests fail with 401 at once on first load; ask the person only once.
    this.asking ??= this.askKey(refused)
      .then((key) => {
        if (!key) {
          this.declined = true;
          // A refused key is worth nothing: forget it, so the UI offers "Enter API key" again.
          if (refused !== null) this.setApiKey(null);
        } else {
          this.setApiKey(key);
        }
        return key;
      })
      .finally(() => {
        this.asking = null;
      });
    return this.asking;
  }

  /**
   * A raw authorized fetch (for streaming bodies, uploads, downloads). On 401 the person is asked
   * for a key, and asked again with the gateway's reason for as long as the key they give is
   * refused, until one is accepted or they cancel (then the 401 is thrown).
   */
  async raw(path: string, init: RequestInit = {}): Promise<Response> {
    let key = this.apiKey;
    for (;;) {
      let res: Response;
      try {
        res = await this.fetchImpl(path, {
          ...init,
          headers: this.headers(key, init.headers as Record<string, string> | undefined),
        });
      } catch (err) {
        throw new ApiError(0, 'network', `gateway unreachable: ${(err as Error).message}`);
      }
      if (res.status !== 401) {
        if (!res.ok) throw await errorFrom(res);
        return res;
      }
      // Another request may have obtained a new key while this one was in flight: use it
      // rather than asking the person a second time.
      const current = this.apiKey;
      if (current && current !== key) {
        key = current;
        continue;
      }
      const refusal = await errorFrom(res);
      const next = await this.requestKey(key ? refusal.message : null);
      if (!next) throw refusal;
      key = next;
    }
  }

  async get<T>(path: string, signal?: AbortSignal): Promise<T> {
    const early = this.early.get(path);
    if (early) {
      this.early.delete(path);
      const res = await early.catch(() => null);
      // A failed early answer (401, 404…) is asked again the normal way, with its error handling.
      if (res?.ok) return (await res.json()) as T;
    }
    const res = await this.raw(path, signal ? { signal } : {});
    return (await res.json()) as T;
  }

  /**
   * Starts GETs the page will need before React has rendered anything (a session's first events
   * page, its summary): the first render waits on the network, so the network starts first.
   */
  prefetch(paths: string[]): void {
    for (const p of paths) if (!this.early.has(p)) this.early.set(p, this.raw(p));
  }

  eventsPath(sid: string, q: EventsQuery): string {
    return `${API}/sessions/${enc(sid)}/events${queryString({ ...q })}`;
  }

  sessionPath(sid: string): string {
    return `${API}/sessions/${enc(sid)}`;
  }

  async post<T>(path: string, body: unknown, signal?: AbortSignal): Promise<T> {
    const res = await this.raw(path, {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'Content-Type': 'application/json' },
      ...(signal ? { signal } : {}),
    });
    return (await res.json()) as T;
  }

  sessions(p: SessionsQuery, signal?: AbortSignal) {
    return this.get<Page<SessionSummary>>(`${API}/sessions${queryString({ ...p })}`, signal);
  }
  facets(signal?: AbortSignal) {
    return this.get<SessionFacets>(`${API}/facets`, signal);
  }
  compileExpressions(expressions: string[], use: 'condition' | 'watch', signal?: AbortSignal) {
    return this.post<CompileResult>(`${API}/expressions/compile`, { expressions, use }, signal);
  }
  session(sid: string, signal?: AbortSignal) {
    return this.get<SessionSummary>(this.sessionPath(sid), signal);
  }
  events(sid: string, q: EventsQuery, signal?: AbortSignal) {
    return this.get<Page<StoredEvent>>(this.eventsPath(sid, q), signal);
  }
  event(sid: string, id: string, signal?: AbortSignal) {
    return this.get<StoredEvent>(`${API}/sessions/${enc(sid)}/events/${enc(id)}`, signal);
  }
  agents(sid: string, signal?: AbortSignal) {
    return this.get<AgentSummary[] | Page<AgentSummary>>(`${API}/sessions/${enc(sid)}/agents`, signal);
  }
  performance(sid: string, signal?: AbortSignal) {
    return this.get<PerformanceReport>(`${API}/sessions/${enc(sid)}/performance`, signal);
  }
  /** The bounded view (v1.1): each growing collection cut to its newest `limit` items. The UI never
   * asks for the whole state: collections are paged (statePage). */
  state(sid: string, seq: number, signal?: AbortSignal, limit = STATE_VIEW_LIMIT) {
    return this.get<SystemState>(`${API}/sessions/${enc(sid)}/state${queryString({ seq, limit })}`, signal);
  }
  statePage(sid: string, seq: number, collection: StateCollectionName, q: StatePageQuery, signal?: AbortSignal) {
    return this.get<StatePage>(
      `${API}/sessions/${enc(sid)}/state/${enc(collection)}${queryString({ seq, ...q })}`,
      signal,
    );
  }
  diff(sid: string, fromSeq: number, toSeq: number, signal?: AbortSignal, limit = DIFF_PAGE) {
    return this.get<StateDiff>(
      `${API}/sessions/${enc(sid)}/diff${queryString({ from_seq: fromSeq, to_seq: toSeq, limit })}`,
      signal,
    );
  }
  step(sid: string, eventId: string, direction: StepDirection, signal?: AbortSignal) {
    return this.get<StepResult>(
      `${API}/sessions/${enc(sid)}/events/${enc(eventId)}/step?direction=${direction}`,
      signal,
    );
  }
  stack(sid: string, eventId: string, signal?: AbortSignal) {
    return this.get<CallStack>(`${API}/sessions/${enc(sid)}/events/${enc(eventId)}/stack`, signal);
  }
  runBreakpoints(sid: string, fromSeq: number, direction: SearchDirection, conditions: string[]) {
    return this.post<BreakpointHit>(`${API}/sessions/${enc(sid)}/breakpoints/run`, {
      from_seq: fromSeq,
      direction,
      conditions,
    });
  }
  watch(sid: string, seq: number, expressions: string[], signal?: AbortSignal) {
    return this.post<WatchResult>(`${API}/sessions/${enc(sid)}/watch`, { seq, expressions }, signal);
  }
  compare(a: string, b: string, signal?: AbortSignal) {
    return this.get<SessionComparison>(`${API}/compare${queryString({ a, b })}`, signal);
  }
  dlq(p: { limit?: number; before_seq?: number; reason?: string }, signal?: AbortSignal) {
    return this.get<DeadLetter[] | Page<DeadLetter>>(`${API}/dlq${queryString(p)}`, signal);
  }
  exportUrl(sid: string): string {
    return `${API}/sessions/${enc(sid)}/export?format=jsonl`;
  }
  /**
   * The export URL a browser download can open. A download cannot carry an Authorization header,
   * so with a key it carries a fresh stream token (POST /auth/token), which the gateway binds to
   * this session and lets open nothing but its stream and export, read-only, for minutes.
   */
  async downloadUrl(sid: string): Promise<string> {
    const url = this.exportUrl(sid);
    if (!this.apiKey) return url;
    return `${url}&token=${enc(await this.token(sid))}`;
  }
  private async token(sid: string): Promise<string> {
    return (await this.post<{ token: string }>(`${API}/auth/token`, { session_id: sid })).token;
  }
  async importJsonl(body: Blob | string, gzipped = false): Promise<Json> {
    const headers: Record<string, string> = { 'Content-Type': 'application/x-ndjson' };
    if (gzipped) headers['Content-Encoding'] = 'gzip';
    const res = await this.raw(`${API}/import`, { method: 'POST', body, headers });
    const text = await res.text();
    try {
      return JSON.parse(text) as Json;
    } catch {
      return text;
    }
  }
  ingest(events: unknown[]): Promise<Json> {
    return this.post<Json>(`${API}/ingest`, events);
  }

  /**
   * The URL of a session's SSE stream. EventSource cannot send headers, so with a key the gateway's
   * short-lived stream token (POST /auth/token) rides in the query; it is bound to this session and
   * opens nothing else.
   */
  async streamUrl(sid: string, afterSeq: number): Promise<string> {
    const params: Record<string, string | number> = { after_seq: afterSeq };
    if (this.apiKey) params.token = await this.token(sid);
    return `${API}/sessions/${enc(sid)}/stream${queryString(params)}`;
  }
}

/** Items of a list answer, whether the gateway wraps it in a page or not. */
export function itemsOf<T>(body: T[] | Page<T>): T[] {
  return Array.isArray(body) ? body : body.items;
}

async function errorFrom(res: Response): Promise<ApiError> {
  let code = `http_${res.status}`;
  let message = res.statusText || `HTTP ${res.status}`;
  try {
    const body = (await res.json()) as { error?: { code?: string; message?: string }; detail?: unknown };
    if (body.error) {
      code = body.error.code ?? code;
      message = body.error.message ?? message;
    } else if (body.detail !== undefined) {
      message = typeof body.detail === 'string' ? body.detail : JSON.stringify(body.detail);
    }
  } catch {
    // Not JSON (a proxy's HTML error page, say): the status line is all we can say.
  }
  return new ApiError(res.status, code, message);
}
