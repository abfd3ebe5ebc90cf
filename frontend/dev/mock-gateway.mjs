// A development stand-in for the gateway: serves dist/ and answers the /api/v1 routes the UI uses
// from in-memory sessions of the swarm story (shared/swarm.mjs: the demo's, under several sessions and
// sizes; not normalized as ingest would: Claude-Flow alias names stay), with a live session that keeps
// growing over SSE.
// It exists so the UI can be developed and looked at without the whole stack; the e2e tests and the
// benchmark run against the real gateway. Run: `npm run build && npm run dev:mock` (PORT, default 8787).
// Its "CEL" understands only `a == b`, `!=`, `&&`, `||` over event/state paths: enough to click around.
import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeLiveTail, makeSwarm } from '../shared/swarm.mjs';

const root = fileURLToPath(new URL('../dist/', import.meta.url));
const port = Number(process.env.PORT ?? 8787);
const sessions = new Map(); // id -> {events: [], summary}
let seq = 0;
const listeners = new Set();

function add(sessionId, evs) {
  let s = sessions.get(sessionId);
  if (!s) sessions.set(sessionId, (s = { id: sessionId, events: [], ids: new Set() }));
  const added = [];
  for (const e of evs) {
    if (s.ids.has(e.id)) continue;
    s.ids.add(e.id);
    const stored = { phase: 'complete', span_id: e.id, metadata: {}, ...e, seq: ++seq, received_at: Date.now() };
    if (!stored.span_id) stored.span_id = stored.id;
    s.events.push(stored);
    added.push(stored);
  }
  for (const l of listeners) if (l.sid === sessionId && added.length) l.send(added);
  return added;
}

const now = Date.now();
add('swarm-demo-01', makeSwarm({ sessionId: 'swarm-demo-01', t0: now - 3_600_000, workPerTask: 4 }));
add('swarm-demo-02', makeSwarm({ sessionId: 'swarm-demo-02', t0: now - 1_800_000, workPerTask: 5, failTest: false }));
add('swarm-demo-03', makeSwarm({ sessionId: 'swarm-demo-03', t0: now - 1_200_000, failing: true }));
add('swarm-hostile', makeSwarm({ sessionId: 'swarm-hostile', t0: now - 900_000, workPerTask: 2, hostile: '<img src=x onerror="window.__pwned=1">' }));
add('swarm-big', makeSwarm({ sessionId: 'swarm-big', workPerTask: 420 })); // ~10k events over ~4 h, ending now
const live = makeSwarm({ sessionId: 'swarm-live', t0: now - 5_000 });
live.pop(); // no session_end: still running
add('swarm-live', live.slice(0, 40));
let liveIdx = 40;
let tail = 0;
setInterval(() => {
  if (liveIdx < live.length) add('swarm-live', live.slice(liveIdx, (liveIdx += 2)));
  else add('swarm-live', makeLiveTail('swarm-live', (tail += 3) - 3, 3));
}, 400).unref();

function summary(s) {
  const ev = s.events;
  const first = ev[0];
  const start = ev.find((e) => e.type === 'session_start');
  const end = ev.find((e) => e.type === 'session_end');
  const errors = ev.filter((e) => e.type === 'error' || e.phase === 'error').length;
  const tokens = ev.reduce((n, e) => n + (e.performance?.input_tokens ?? 0) + (e.performance?.output_tokens ?? 0), 0);
  const cost = ev.reduce((n, e) => n + (e.performance?.cost_usd ?? 0), 0);
  return {
    id: s.id,
    name: start?.data?.name ?? null,
    status: end ? end.data.status : 'active',
    objective: start?.data?.objective ?? null,
    start_time: first?.timestamp ?? null,
    end_time: end?.timestamp ?? null,
    last_event_time: ev[ev.length - 1]?.timestamp ?? null,
    last_seq: ev[ev.length - 1]?.seq ?? null,
    event_count: ev.length,
    agent_count: new Set(ev.map((e) => e.agent_id).filter(Boolean)).size,
    error_count: errors,
    tokens,
    cost,
  };
}

function reduce(events, upto) {
  const st = { session_id: '', seq: 0, timestamp: null, session: {}, agents: {}, tasks: {}, memory: {}, communications: [], open_spans: {}, counters: { events: 0, errors: 0, tool_calls: 0, llm_calls: 0, input_tokens: 0, output_tokens: 0, cost_usd: 0 } };
  for (const e of events) {
    if (e.seq > upto) break;
    st.session_id = e.session_id;
    st.seq = e.seq;
    st.timestamp = e.timestamp;
    const d = e.data ?? {};
    const a = e.agent_id;
    st.counters.events++;
    if (e.type === 'error' || e.phase === 'error') st.counters.errors++;
    if (e.phase === 'start') st.open_spans[e.span_id] = { type: e.type, agent_id: a ?? null, parent_id: e.metadata?.parent_id ?? null, seq: e.seq };
    else if (e.phase === 'complete' || e.phase === 'error') delete st.open_spans[e.span_id];
    switch (e.type) {
      case 'session_start': st.session = { status: 'active', objective: d.objective }; break;
      case 'session_end': st.session = { ...st.session, status: d.status }; break;
      case 'agent_spawn': st.agents[a] = { id: a, agent_type: d.agent_type, status: d.status ?? 'idle', current_task: null, parent_agent_id: d.parent_agent_id ?? null, context: {} }; break;
      case 'agent_status': if (st.agents[a]) st.agents[a].status = d.status; break;
      case 'agent_terminate': if (st.agents[a]) st.agents[a].status = 'terminated'; break;
      case 'task_create': st.tasks[d.task_id] = { id: d.task_id, status: 'created', agent_id: null, attempts: 0, dependencies: d.dependencies ?? [], progress: null, result: null, error: null }; break;
      case 'task_assignment': if (st.tasks[d.task_id]) Object.assign(st.tasks[d.task_id], { status: 'assigned', agent_id: d.agent_id }); if (st.agents[d.agent_id]) Object.assign(st.agents[d.agent_id], { status: 'busy', current_task: d.task_id }); break;
      case 'task_start': if (st.tasks[d.task_id]) { st.tasks[d.task_id].status = 'running'; st.tasks[d.task_id].attempts = d.attempt ?? st.tasks[d.task_id].attempts + 1; } break;
      case 'task_progress': if (st.tasks[d.task_id]) st.tasks[d.task_id].progress = d.progress; break;
      case 'task_complete': if (st.tasks[d.task_id]) Object.assign(st.tasks[d.task_id], { status: 'completed', result: d.result ?? null }); if (st.agents[a]) Object.assign(st.agents[a], { status: 'idle', current_task: null }); break;
      case 'task_fail': if (st.tasks[d.task_id]) Object.assign(st.tasks[d.task_id], { status: d.will_retry ? 'retrying' : 'failed', error: d.error ?? null }); if (st.agents[a]) Object.assign(st.agents[a], { status: 'idle', current_task: null }); break;
      case 'memory_write': st.memory[`${d.namespace ?? 'default'}/${d.key}`] = { value: d.value, version: d.version ?? 1, agent_id: a, seq: e.seq }; break;
      case 'memory_delete': delete st.memory[`${d.namespace ?? 'default'}/${d.key}`]; break;
      case 'communication': st.communications.push({ message_id: d.message.id, from: d.message.from, to: d.message.to, type: d.message.type ?? null, content: d.message.content ?? null, in_reply_to: null, seq: e.seq }); break;
      case 'tool_call': if (e.phase !== 'start') st.counters.tool_calls++; break;
      case 'llm_call': if (e.phase !== 'start') { st.counters.llm_calls++; st.counters.input_tokens += d.input_tokens ?? 0; st.counters.output_tokens += d.output_tokens ?? 0; st.counters.cost_usd += d.cost_usd ?? 0; } break;
    }
  }
  return st;
}

function diff(a, b, path = [], out = []) {
  if (JSON.stringify(a) === JSON.stringify(b)) return out;
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && path.length < 3) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
      if (!(k in a)) out.push({ path: [...path, k], op: 'added', before: null, after: b[k] });
      else if (!(k in b)) out.push({ path: [...path, k], op: 'removed', before: a[k], after: null });
      else diff(a[k], b[k], [...path, k], out);
    }
    return out;
  }
  out.push({ path, op: 'changed', before: a ?? null, after: b ?? null });
  return out;
}

function getPath(obj, expr) {
  const parts = [];
  const re = /\.?([A-Za-z_][A-Za-z0-9_]*)|\["([^"]*)"\]/g;
  let m;
  while ((m = re.exec(expr))) parts.push(m[1] ?? m[2]);
  let cur = obj;
  for (const p of parts) cur = cur == null ? undefined : cur[p];
  return cur;
}
function evalExpr(expr, env) {
  return expr.split('||').some((alt) =>
    alt.split('&&').every((clause) => {
      const m = /^\s*(.+?)\s*(==|!=)\s*(.+?)\s*$/.exec(clause);
      if (!m) { const v = getPath(env, clause.trim()); return !!v; }
      const lhs = getPath(env, m[1]);
      const rhs = /^".*"$/.test(m[3]) ? m[3].slice(1, -1) : /^-?\d+(\.\d+)?$/.test(m[3]) ? Number(m[3]) : getPath(env, m[3]);
      return m[2] === '==' ? lhs === rhs : lhs !== rhs;
    }),
  );
}

function spansOf(events) {
  const spans = new Map();
  for (const e of events) {
    let s = spans.get(e.span_id);
    if (!s) spans.set(e.span_id, (s = { id: e.span_id, parent: e.metadata?.parent_id ?? null, first: e, last: e, events: [] }));
    s.last = e;
    s.events.push(e);
  }
  return spans;
}

function step(events, id, dir) {
  const i = events.findIndex((e) => e.id === id);
  if (i < 0) return { err: 404 };
  const cur = events[i];
  const spans = spansOf(events);
  const sp = spans.get(cur.span_id);
  if (dir === 'back') return { event: events[i - 1] ?? null, reason: i ? null : 'start_of_session' };
  if (dir === 'into') return { event: events[i + 1] ?? null, reason: events[i + 1] ? null : 'end_of_session' };
  if (dir === 'over') {
    // next event that is not inside a span opened at or below the current one
    const inside = (e) => { let s = spans.get(e.span_id); let g = 0; while (s && g++ < 50) { if (s.id === cur.span_id && e.span_id !== cur.span_id) return true; s = s.parent ? spans.get(s.parent) : null; } return false; };
    for (let k = i + 1; k < events.length; k++) if (!inside(events[k])) return { event: events[k] };
    return { event: null, reason: 'end_of_session' };
  }
  const parent = sp?.parent ? spans.get(sp.parent) : null;
  if (!parent) return { event: null, reason: 'top_level' };
  const after = events.find((e) => e.seq > cur.seq && e.span_id === parent.id);
  return { event: after ?? parent.first, reason: null };
}

function stack(events, id) {
  const cur = events.find((e) => e.id === id);
  if (!cur) return null;
  const spans = spansOf(events.filter((e) => e.seq <= cur.seq));
  const frames = [];
  let s = spans.get(cur.span_id);
  let g = 0;
  while (s && g++ < 64) {
    const closed = s.last.phase === 'complete' || s.last.phase === 'error';
    frames.push({ span_id: s.id, type: s.first.type, agent_id: s.first.agent_id ?? null, label: `${s.first.type} ${s.first.data?.task_id ?? s.first.data?.tool ?? s.first.data?.model ?? s.first.data?.method ?? ''}`.trim(), start_seq: s.first.seq, start_event_id: s.first.id, start_time: s.first.timestamp, duration_so_far_ms: cur.timestamp - s.first.timestamp, open: !closed || s.last.seq === cur.seq && s.first.seq !== cur.seq ? !closed : false });
    s = s.parent ? spans.get(s.parent) : null;
  }
  return { session_id: cur.session_id, event_id: cur.id, seq: cur.seq, frames };
}

function performance(s) {
  const per = (keyFn) => {
    const m = new Map();
    for (const e of s.events) {
      const k = keyFn(e);
      if (!k) continue;
      const r = m.get(k) ?? { key: k, events: 0, duration_ms: 0, tokens: 0, input_tokens: 0, output_tokens: 0, cost: 0 };
      r.events++;
      r.duration_ms += e.performance?.duration ?? 0;
      r.input_tokens += e.performance?.input_tokens ?? 0;
      r.output_tokens += e.performance?.output_tokens ?? 0;
      r.tokens = r.input_tokens + r.output_tokens;
      r.cost += e.performance?.cost_usd ?? 0;
      m.set(k, r);
    }
    return [...m.values()];
  };
  const t0 = s.events[0]?.timestamp ?? 0;
  const t1 = s.events[s.events.length - 1]?.timestamp ?? t0;
  const window_ms = Math.max(1000, Math.ceil((t1 - t0) / 60 / 1000) * 1000);
  const windows = [];
  for (let w = t0; w <= t1; w += window_ms) {
    const inW = s.events.filter((e) => e.timestamp >= w && e.timestamp < w + window_ms);
    windows.push({ start_time: w, end_time: w + window_ms, events: inW.length, event_rate: inW.length / (window_ms / 1000), errors: inW.filter((e) => e.phase === 'error' || e.type === 'error').length, tokens: 0, cost: 0 });
  }
  const slowest = s.events.filter((e) => e.performance?.duration).sort((a, b) => b.performance.duration - a.performance.duration).slice(0, 10).map((e) => ({ event_id: e.id, seq: e.seq, span_id: e.span_id, agent_id: e.agent_id ?? null, type: e.type, label: `${e.type} ${e.data?.tool ?? e.data?.model ?? ''}`, duration_ms: e.performance.duration }));
  return { session_id: s.id, window_ms, windows, per_agent: per((e) => e.agent_id), per_type: per((e) => e.type), per_model: per((e) => e.data?.model), slowest };
}

const json = (res, code, body) => {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};
const err = (res, code, c, message) => json(res, code, { error: { code: c, message } });
const readBody = (req) => new Promise((ok) => { let b = ''; req.on('data', (c) => (b += c)); req.on('end', () => ok(b)); });

const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml', '.map': 'application/json' };

createServer(async (req, res) => {
  const url = new URL(req.url, 'http://x');
  const p = url.pathname;
  const q = url.searchParams;
  let m;
  try {
    if (p === '/api/v1/sessions') {
      let items = [...sessions.values()].map(summary).sort((a, b) => b.start_time - a.start_time);
      if (q.get('status')) items = items.filter((s) => s.status === q.get('status'));
      if (q.get('q')) items = items.filter((s) => JSON.stringify(s).toLowerCase().includes(q.get('q').toLowerCase()));
      return json(res, 200, { items, next_cursor: null });
    }
    if ((m = /^\/api\/v1\/sessions\/([^/]+)(\/.*)?$/.exec(p))) {
      const s = sessions.get(decodeURIComponent(m[1]));
      if (!s) return err(res, 404, 'not_found', `no session ${m[1]}`);
      const rest = m[2] ?? '';
      if (!rest) return json(res, 200, summary(s));
      if (rest === '/events') {
        const after = Number(q.get('after_seq') ?? 0);
        const limit = Number(q.get('limit') ?? 500);
        const items = s.events.filter((e) => e.seq > after).slice(0, limit);
        return json(res, 200, { items, next_cursor: items.length === limit ? String(items[items.length - 1].seq) : null });
      }
      if (rest === '/state') return json(res, 200, reduce(s.events, Number(q.get('seq'))));
      if (rest === '/diff') return json(res, 200, { session_id: s.id, from_seq: Number(q.get('from_seq')), to_seq: Number(q.get('to_seq')), changes: diff(reduce(s.events, Number(q.get('from_seq'))), reduce(s.events, Number(q.get('to_seq')))).filter((c) => !['seq', 'timestamp'].includes(String(c.path[0])) && c.path[0] !== 'counters') });
      if (rest === '/performance') return json(res, 200, performance(s));
      if ((m = /^\/events\/([^/]+)\/step$/.exec(rest))) {
        const r = step(s.events, decodeURIComponent(m[1]), q.get('direction'));
        if (r.err) return err(res, 404, 'not_found', 'no such event');
        return json(res, 200, { session_id: s.id, direction: q.get('direction'), from_event_id: m[1], event: r.event ?? null, reason: r.reason ?? null });
      }
      if ((m = /^\/events\/([^/]+)\/stack$/.exec(rest))) {
        const r = stack(s.events, decodeURIComponent(m[1]));
        return r ? json(res, 200, r) : err(res, 404, 'not_found', 'no such event');
      }
      if (rest === '/breakpoints/run' && req.method === 'POST') {
        const body = JSON.parse(await readBody(req));
        if (body.conditions.some((c) => /(==|!=|&&|\|\|)\s*$/.test(c))) return err(res, 422, 'expression_error', 'syntax error: expression ends with an operator');
        const evs = body.direction === 'backward' ? s.events.filter((e) => e.seq < body.from_seq).reverse() : s.events.filter((e) => e.seq > body.from_seq);
        let scanned = 0;
        for (const e of evs) {
          scanned++;
          for (const [i, c] of body.conditions.entries()) if (evalExpr(c, { event: e })) return json(res, 200, { session_id: s.id, hit: true, event: e, condition: c, condition_index: i, scanned });
        }
        return json(res, 200, { session_id: s.id, hit: false, event: null, scanned });
      }
      if (rest === '/watch' && req.method === 'POST') {
        const body = JSON.parse(await readBody(req));
        const state = reduce(s.events, body.seq);
        return json(res, 200, { session_id: s.id, seq: body.seq, values: body.expressions.map((x) => ({ expression: x, value: getPath({ state }, x) ?? null, error: null })) });
      }
      if (rest === '/export') {
        res.writeHead(200, { 'content-type': 'application/x-ndjson' });
        return res.end(s.events.map((e) => JSON.stringify(e)).join('\n') + '\n');
      }
      if (rest === '/stream') {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        res.write('retry: 1000\n\n');
        const after = Number(q.get('after_seq') ?? req.headers['last-event-id'] ?? 0);
        const send = (events) => res.write(`event: batch_events\nid: ${events[events.length - 1].seq}\ndata: ${JSON.stringify({ session_id: s.id, events })}\n\n`);
        const backlog = s.events.filter((e) => e.seq > after);
        if (backlog.length) send(backlog);
        const l = { sid: s.id, send };
        listeners.add(l);
        req.on('close', () => listeners.delete(l));
        return;
      }
    }
    if (p === '/api/v1/compare') {
      const a = sessions.get(q.get('a'));
      const b = sessions.get(q.get('b'));
      if (!a || !b) return err(res, 404, 'not_found', 'unknown session');
      const outcome = (s) => { const st = reduce(s.events, Infinity); const sm = summary(s); return { session_id: s.id, status: sm.status, duration_ms: (sm.last_event_time ?? 0) - (sm.start_time ?? 0), events: sm.event_count, errors: sm.error_count, tokens: sm.tokens, cost: sm.cost, agents: Object.fromEntries(Object.values(st.agents).map((x) => [x.id, x.agent_type])), tasks: Object.fromEntries(Object.values(st.tasks).map((x) => [x.id, x.status])) }; };
      const key = (e) => `${e.agent_id ?? '_'}:${e.type}`;
      const alignment = [];
      const n = Math.max(a.events.length, b.events.length);
      for (let i = 0; i < Math.min(n, 300); i++) {
        const x = a.events[i];
        const y = b.events[i];
        alignment.push({ key: key(x ?? y), a_seq: x?.seq ?? null, b_seq: y?.seq ?? null, a_summary: x ? `${x.type}` : null, b_summary: y ? `${y.type}` : null, status: !x ? 'only_b' : !y ? 'only_a' : key(x) === key(y) ? 'same' : 'changed' });
      }
      const summaryCounts = alignment.reduce((c, s) => ({ ...c, [s.status]: (c[s.status] ?? 0) + 1 }), {});
      return json(res, 200, { a: outcome(a), b: outcome(b), task_differences: [], alignment, summary: summaryCounts });
    }
    if (p === '/api/v1/dlq') return json(res, 200, { items: [{ seq: 3, reason: 'invalid_json', subject: 'traces.raw.x._.bad', error: 'Expecting value: line 1 column 1', received_at: Date.now() - 5000, size: 23, payload_preview: '<script>alert(1)</script>{' }], next_cursor: null });
    if ((p === '/api/v1/ingest' || p === '/api/v1/import') && req.method === 'POST') {
      const body = await readBody(req);
      const evs = p.endsWith('import') ? body.split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [].concat(JSON.parse(body));
      const by = new Map();
      for (const e of evs) by.set(e.session_id, [...(by.get(e.session_id) ?? []), e]);
      let accepted = 0;
      for (const [sid, list] of by) accepted += add(sid, list).length;
      return json(res, 202, { accepted, rejected: 0 });
    }
    if (p.startsWith('/api/')) return err(res, 404, 'not_found', `no route ${p}`);
    const file = normalize(join(root, p === '/' ? 'index.html' : p));
    const target = file.startsWith(root) && (await stat(file).catch(() => null))?.isFile() ? file : join(root, 'index.html');
    res.writeHead(200, { 'content-type': types[extname(target)] ?? 'application/octet-stream' });
    res.end(await readFile(target));
  } catch (e) {
    err(res, 500, 'internal', String(e));
  }
}).listen(port, '127.0.0.1', () => console.log(`mock gateway on http://127.0.0.1:${port}`));
