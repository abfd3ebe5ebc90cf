import { assert, describe, expect, it } from 'vitest';
import { ApiClient, ApiError, itemsOf } from '../src/api/client';

function memoryStorage() {
  const m = new Map<string, string>();
  return { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v), removeItem: (k: string) => void m.delete(k) };
}

describe('ApiClient', () => {
  it('uses relative /api/v1 paths and turns error bodies into ApiError', async () => {
    const seen: string[] = [];
    const api = new ApiClient(null, (async (url: RequestInfo | URL) => {
      seen.push(String(url));
      return new Response(JSON.stringify({ error: { code: 'expression_error', message: 'bad CEL' } }), { status: 422 });
    }) as typeof fetch);
    const err = await api.runBreakpoints('s 1', 5, 'forward', ['event.']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).code).toBe('expression_error');
    expect((err as ApiError).status).toBe(422);
    expect(seen[0]).toBe('/api/v1/sessions/s%201/breakpoints/run');
  });

  it('asks for a key once on 401, keeps it, sends Bearer, and gets a stream token for SSE', async () => {
    const storage = memoryStorage();
    const auths: (string | null)[] = [];
    const tokenBodies: unknown[] = [];
    const api = new ApiClient(storage, (async (url: RequestInfo | URL, init?: RequestInit) => {
      const auth = (init?.headers as Record<string, string> | undefined)?.Authorization ?? null;
      auths.push(auth);
      if (auth !== 'Bearer k1') return new Response(JSON.stringify({ error: { code: 'unauthorized', message: 'key' } }), { status: 401 });
      if (String(url).endsWith('/auth/token')) {
        tokenBodies.push(JSON.parse(String(init?.body)));
        return new Response(JSON.stringify({ token: 'v1.tok', expires_at: 1 }), { status: 200 });
      }
      return new Response(JSON.stringify({ items: [], next_cursor: null }), { status: 200 });
    }) as typeof fetch);
    let asked = 0;
    api.onKeyNeeded(async () => {
      asked++;
      return 'k1';
    });
    await Promise.all([api.sessions({}), api.sessions({ q: 'x' })]);
    expect(asked).toBe(1);
    expect(storage.getItem('swarmscope.apiKey')).toBe('k1');
    const url = await api.streamUrl('s', 42);
    expect(url).toBe('/api/v1/sessions/s/stream?after_seq=42&token=v1.tok');
    // The token is asked for this session only (the gateway binds it to the session).
    expect(tokenBodies).toEqual([{ session_id: 's' }]);
  });

  it('asks for bounded state views and pages, never a whole state', async () => {
    const seen: string[] = [];
    const api = new ApiClient(null, (async (url: RequestInfo | URL) => {
      seen.push(String(url));
      return new Response('{}', { status: 200 });
    }) as typeof fetch);
    await api.state('s', 42);
    await api.statePage('s', 42, 'communications', { cursor: 1000, limit: 200, order: 'desc', q: 'x y' });
    await api.diff('s', 1, 42);
    expect(seen).toEqual([
      '/api/v1/sessions/s/state?seq=42&limit=100',
      '/api/v1/sessions/s/state/communications?seq=42&cursor=1000&limit=200&order=desc&q=x+y',
      '/api/v1/sessions/s/diff?from_seq=1&to_seq=42&limit=500',
    ]);
    expect(seen.some((u) => u.includes('full='))).toBe(false);
  });

  it('reports network failures as ApiError', async () => {
    const api = new ApiClient(null, (async () => {
      throw new TypeError('fetch failed');
    }) as typeof fetch);
    await expect(api.session('s')).rejects.toMatchObject({ code: 'network' });
  });

  it('accepts list answers with or without a page wrapper', () => {
    expect(itemsOf([1, 2])).toEqual([1, 2]);
    expect(itemsOf({ items: [3], next_cursor: null })).toEqual([3]);
  });
});

describe('prefetch', () => {
  it('hands a GET started at boot to the first caller of that URL, once', async () => {
    let calls = 0;
    const api = new ApiClient(null, (async () => {
      calls++;
      return new Response(JSON.stringify({ items: [], next_cursor: null }), { status: 200 });
    }) as typeof fetch);
    api.prefetch([api.eventsPath('s', { after_seq: 0, limit: 5000 })]);
    await api.events('s', { after_seq: 0, limit: 5000 });
    expect(calls).toBe(1);
    await api.events('s', { after_seq: 0, limit: 5000 });
    expect(calls).toBe(2);
  });
});

describe('declining the key prompt', () => {
  it('stops asking until the person asks to enter a key', async () => {
    const api = new ApiClient(null, (async () =>
      new Response(JSON.stringify({ error: { code: 'unauthorized', message: 'key' } }), { status: 401 })) as typeof fetch);
    let asked = 0;
    api.onKeyNeeded(async () => {
      asked++;
      return null;
    });
    await expect(api.sessions({})).rejects.toMatchObject({ status: 401 });
    await expect(api.sessions({})).rejects.toMatchObject({ status: 401 });
    expect(asked).toBe(1);
    expect(api.declined).toBe(true);
  });
});

describe('a refused key', () => {
  const keyed = (good: string, asked: string[]) =>
    (async (url: RequestInfo | URL, init?: RequestInit) => {
      const auth = (init?.headers as Record<string, string> | undefined)?.Authorization ?? null;
      asked.push(`${String(url)} ${auth ?? '-'}`);
      if (auth !== `Bearer ${good}`) {
        const message = auth ? 'unknown API key' : 'an API key is required';
        return new Response(JSON.stringify({ error: { code: 'unauthorized', message } }), { status: 401 });
      }
      if (String(url).endsWith('/auth/token')) return new Response(JSON.stringify({ token: 'v2.9.k.s.sig' }), { status: 200 });
      return new Response(JSON.stringify({ items: [], next_cursor: null }), { status: 200 });
    }) as typeof fetch;

  it('is asked again with the gateway reason until a key is accepted', async () => {
    const storage = memoryStorage();
    const api = new ApiClient(storage, keyed('right-key', []));
    const prompts: (string | null)[] = [];
    const answers = ['wrong-key', 'still-wrong', 'right-key'];
    api.onKeyNeeded(async (refused) => {
      prompts.push(refused);
      return answers.shift() ?? null;
    });
    await expect(api.sessions({})).resolves.toEqual({ items: [], next_cursor: null });
    // First ask: no key yet; then twice with the gateway's reason for refusing the key given.
    expect(prompts).toEqual([null, 'unknown API key', 'unknown API key']);
    expect(storage.getItem('swarmscope.apiKey')).toBe('right-key');
    expect(api.declined).toBe(false);
  });

  it('is forgotten when the person cancels the prompt after it was refused', async () => {
    const storage = memoryStorage();
    storage.setItem('swarmscope.apiKey', 'stale-key');
    const api = new ApiClient(storage, keyed('right-key', []));
    const prompts: (string | null)[] = [];
    api.onKeyNeeded(async (refused) => {
      prompts.push(refused);
      return null;
    });
    await expect(api.sessions({})).rejects.toMatchObject({ status: 401, message: 'unknown API key' });
    expect(prompts).toEqual(['unknown API key']);
    expect(storage.getItem('swarmscope.apiKey')).toBeNull();
    expect(api.declined).toBe(true);
  });

  it('is asked for once when concurrent requests all fail with it', async () => {
    const storage = memoryStorage();
    const api = new ApiClient(storage, keyed('right-key', []));
    let asked = 0;
    const answers = ['wrong-key', 'right-key'];
    api.onKeyNeeded(async () => {
      asked++;
      return answers.shift() ?? null;
    });
    await Promise.all([api.sessions({}), api.sessions({ q: 'a' }), api.facets()]);
    expect(asked).toBe(2);
  });
});

describe('export download URL', () => {
  it('is the plain export without a key', async () => {
    const api = new ApiClient(memoryStorage(), (async () => assert.fail('no request without a key')) as typeof fetch);
    expect(await api.downloadUrl('s 1')).toBe('/api/v1/sessions/s%201/export?format=jsonl');
  });

  it('carries a stream token bound to the session when a key is in use', async () => {
    const storage = memoryStorage();
    storage.setItem('swarmscope.apiKey', 'right-key');
    const bodies: unknown[] = [];
    const api = new ApiClient(storage, (async (url: RequestInfo | URL, init?: RequestInit) => {
      expect(String(url)).toBe('/api/v1/auth/token');
      expect((init?.headers as Record<string, string>).Authorization).toBe('Bearer right-key');
      bodies.push(JSON.parse(String(init?.body)));
      return new Response(JSON.stringify({ token: 'v2.9.k.s-1.sig+/=' }), { status: 200 });
    }) as typeof fetch);
    expect(await api.downloadUrl('s-1')).toBe('/api/v1/sessions/s-1/export?format=jsonl&token=v2.9.k.s-1.sig%2B%2F%3D');
    expect(bodies).toEqual([{ session_id: 's-1' }]);
  });
});
