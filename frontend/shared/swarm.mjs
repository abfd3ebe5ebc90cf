// The swarm story every test tells: the demo's session (swarmscope.demo.generate_session, seed 7),
// committed as JSON Lines under docs/contract/fixtures/ by `make contract` and read here, as the
// Python tests read the same files (swarmscope_dev.story). A coordinator, a researcher, a coder, a
// tester and a reviewer build a rate limiter (T1 research → T2 code → T3 test ∥ T4 review → T5
// integrate); they exchange messages and share memory, LLM calls cost tokens; the first test run
// fails on a missing redis, the coordinator decides to retry, the retry passes (the other endings:
// no failure at all, or the retry failing too and the session failing).
// Used by the e2e tests, the unit tests (test/fixtures.ts), the UI benchmark and the dev mock gateway.
//
// `makeCrowd` and `makeLiveTail` below are generators (a wide swarm, a live tail), not the story.
import { readFileSync } from 'node:fs';

const FIXTURES = new URL('../../docs/contract/fixtures/', import.meta.url);
/** Ending → committed file (swarmscope_dev.story.STORY_FILES). */
export const STORY_FILES = {
  retried: 'swarm-story.jsonl',
  failing: 'swarm-story-failing.jsonl',
  calm: 'swarm-story-calm.jsonl',
};
const committed = new Map();

/** The committed events of one ending, as written (a fresh copy). */
export function storyEvents(ending = 'retried') {
  const file = STORY_FILES[ending];
  if (!file) throw new Error(`no story ending ${ending}; choose from ${Object.keys(STORY_FILES).join(', ')}`);
  if (!committed.has(file)) {
    const text = readFileSync(new URL(file, FIXTURES), 'utf8');
    committed.set(file, text.split('\n').filter(Boolean).map((line) => JSON.parse(line)));
  }
  return structuredClone(committed.get(file));
}

/**
 * The story as wire events (CONTRACT §1), its options being transformations of it, all here:
 * - `failTest` (default true): the first test run of T3 fails, the retry passes (swarm-story.jsonl);
 *   false: the calm run, no failure at all (swarm-story-calm.jsonl, the demo's `flaky=False`);
 * - `failing` (default false): the retry fails too, T3 fails for good and the session ends `failed`
 *   (swarm-story-failing.jsonl, the demo's `failing=True`);
 * - `workPerTask` (default 1): how many times each task plays each of its work steps (the LLM and
 *   tool calls that complete inside a task span), the copies right after the original with fresh
 *   ids and spans and the same duration, everything after them later by as much. 1 is the story as
 *   told (143 events); each more adds 24 (410: ~10k events, the UI benchmark's big session);
 * - `sessionId`: the session id; every event id becomes `<sessionId>-e<n>` (n from 1, in order), and
 *   the span and parent ids that were event ids follow (as swarmscope_dev.story.retell does);
 * - `t0`: the timestamp of the first event (default: the session ends a second ago);
 * - `name`: the session's name (session_start data.name; default the session id);
 * - `hostile`: a string put into every message's content and every memory value (as `note`), to
 *   check that such text is shown, never run.
 *
 * @param {{sessionId: string, t0?: number, workPerTask?: number, hostile?: string|null, failTest?: boolean, failing?: boolean, name?: string}} opts
 * @returns {object[]} events in order (ids unique within the session)
 */
export function makeSwarm(opts) {
  const failTest = opts.failTest ?? true;
  if (opts.failing && !failTest) throw new Error('a failing story fails its first test run too (failTest)');
  let events = storyEvents(opts.failing ? 'failing' : failTest ? 'retried' : 'calm');
  events = repeatWork(events, opts.workPerTask ?? 1);
  events = retell(events, opts.sessionId);
  const first = events[0].timestamp;
  const start = opts.t0 ?? Date.now() - 1_000 - (events[events.length - 1].timestamp - first);
  const agentSeq = new Map();
  for (const e of events) {
    e.timestamp = e.timestamp - first + start;
    if (e.agent_seq !== undefined) {
      agentSeq.set(e.agent_id, (agentSeq.get(e.agent_id) ?? 0) + 1);
      e.agent_seq = agentSeq.get(e.agent_id);
    }
    if (e.type === 'session_start') e.data.name = opts.name ?? opts.sessionId;
    if (opts.hostile != null) hostile(e, opts.hostile);
  }
  return events;
}

function repeatWork(events, times) {
  if (times <= 1) return events;
  const tasks = new Set(events.filter((e) => e.type === 'task_start').map((e) => e.span_id));
  const spans = new Map();
  for (const e of events) if (e.span_id) spans.set(e.span_id, [...(spans.get(e.span_id) ?? []), e]);
  const out = [];
  let shift = 0;
  for (const e of events) {
    out.push({ ...e, timestamp: e.timestamp + shift });
    const step = (e.type === 'llm_call' || e.type === 'tool_call') && e.phase === 'complete' && tasks.has(e.metadata?.parent_id);
    if (!step) continue;
    const span = spans.get(e.span_id);
    const begin = span[0].timestamp;
    let end = e.timestamp + shift;
    for (let k = 2; k <= times; k++) {
      const at = end + 1;
      for (const s of span) out.push({ ...structuredClone(s), id: `${s.id}~w${k}`, span_id: `${s.span_id}~w${k}`, timestamp: at + (s.timestamp - begin) });
      end = at + (e.timestamp - begin);
    }
    shift = end - e.timestamp;
  }
  return out;
}

function retell(events, sessionId) {
  const ids = new Map(events.map((e, i) => [e.id, `${sessionId}-e${i + 1}`]));
  return events.map((e) => {
    const out = { ...e, id: ids.get(e.id), session_id: sessionId };
    if (ids.has(e.span_id)) out.span_id = ids.get(e.span_id);
    if (e.metadata) {
      out.metadata = { ...e.metadata };
      for (const key of ['parent_id', 'causation_id']) if (ids.has(out.metadata[key])) out.metadata[key] = ids.get(out.metadata[key]);
    }
    return out;
  });
}

function hostile(e, text) {
  const note = (v) => (v !== null && typeof v === 'object' && !Array.isArray(v) ? { ...v, note: text } : text);
  if (e.type === 'communication' && e.data.message) e.data.message = { ...e.data.message, content: note(e.data.message.content) };
  if (e.type === 'memory_write') e.data.value = note(e.data.value);
}

/** `count` more events for a live session: repeating work by the swarm's agents. */
export function makeLiveTail(sessionId, startIndex, count, t0 = Date.now()) {
  const agents = ['res-1', 'cod-1', 'tst-1', 'rev-1'];
  const out = [];
  for (let i = 0; i < count; i++) {
    const k = startIndex + i;
    const agent = agents[k % agents.length];
    const kind = k % 4;
    const base = { id: `${sessionId}-live${k}`, timestamp: t0 + i, session_id: sessionId, agent_id: agent };
    if (kind === 0) out.push({ ...base, type: 'llm_call', data: { model: 'claude-haiku', input_tokens: 200, output_tokens: 40, cost_usd: 0.0002 }, performance: { duration: 80, input_tokens: 200, output_tokens: 40, cost_usd: 0.0002 } });
    else if (kind === 1) out.push({ ...base, type: 'tool_call', data: { tool: 'Read', args: { path: `f${k % 9}.py` }, exit_code: 0 }, performance: { duration: 5 } });
    else if (kind === 2) out.push({ ...base, type: 'memory_write', data: { namespace: 'live', key: `k${k % 13}`, value: k } });
    else out.push({ ...base, type: 'communication', data: { message: { id: `lm${k}`, from: agent, to: [agents[(k + 1) % agents.length]], type: 'notification', content: `tick ${k}` }, direction: 'sent' } });
  }
  return out;
}

/**
 * A wide swarm: a coordinator and `agents - 1` workers it spawns, assigns a task each, and talks
 * with (requests answered by replies, `in_reply_to`), neighbours exchanging notes too; every third
 * worker calls an LLM and a tool. For the legibility of the agents graph and the sequence view.
 *
 * @param {{sessionId: string, agents?: number, t0?: number}} opts
 * @returns {object[]}
 */
export function makeCrowd(opts) {
  const sid = opts.sessionId;
  const n = Math.max(2, opts.agents ?? 50);
  let t = opts.t0 ?? Date.now() - 120_000;
  const out = [];
  let k = 0;
  let msg = 0;
  const ev = (type, agent, data, extra = {}) => {
    const e = { id: `${sid}-c${++k}`, timestamp: (t += extra.dt ?? 5), session_id: sid, type, data };
    if (agent) e.agent_id = agent;
    if (extra.phase) e.phase = extra.phase;
    if (extra.span) e.span_id = extra.span;
    if (extra.parent) e.metadata = { parent_id: extra.parent };
    if (extra.perf) e.performance = extra.perf;
    out.push(e);
    return e;
  };
  const types = ['researcher', 'coder', 'tester', 'reviewer', 'analyst', 'documenter'];
  const workers = Array.from({ length: n - 1 }, (_, i) => ({ id: `w-${String(i + 1).padStart(2, '0')}`, type: types[i % types.length] }));
  ev('session_start', null, { objective: `a crowd of ${n} agents`, name: opts.name ?? `crowd of ${n}` });
  ev('agent_spawn', 'coord-1', { agent_type: 'coordinator', name: 'Coordinator' });
  for (const w of workers) ev('agent_spawn', w.id, { agent_type: w.type, parent_agent_id: 'coord-1', status: 'idle' });
  workers.forEach((w, i) => {
    const task = `T${i + 1}`;
    ev('task_create', 'coord-1', { task_id: task, description: `part ${i + 1}` });
    ev('task_assignment', 'coord-1', { task_id: task, agent_id: w.id, attempt: 1 });
    const ask = `m${++msg}`;
    ev('communication', 'coord-1', { message: { id: ask, from: 'coord-1', to: [w.id], type: 'request', content: `please do ${task}` }, direction: 'sent' });
    const sp = `${sid}-${task}`;
    ev('task_start', w.id, { task_id: task, attempt: 1 }, { phase: 'start', span: sp });
    if (i % 3 === 0) {
      ev('llm_call', w.id, { model: 'claude-haiku', prompt: `work on ${task}` }, { phase: 'start', span: `${sp}-llm`, parent: sp });
      ev('llm_call', w.id, { model: 'claude-haiku', response: `${task} plan`, input_tokens: 300, output_tokens: 60, cost_usd: 0.0005 }, { phase: 'complete', span: `${sp}-llm`, parent: sp, dt: 60, perf: { duration: 60 } });
      ev('tool_call', w.id, { tool: 'Bash', args: { command: `make ${task.toLowerCase()}` } }, { phase: 'start', span: `${sp}-bash`, parent: sp });
      ev('tool_call', w.id, { tool: 'Bash', exit_code: 0, result: 'ok' }, { phase: 'complete', span: `${sp}-bash`, parent: sp, dt: 30, perf: { duration: 30 } });
    }
    const next = workers[(i + 1) % workers.length];
    if (next && next.id !== w.id) ev('communication', w.id, { message: { id: `m${++msg}`, from: w.id, to: [next.id], type: 'note', content: `${task} touches your part` }, direction: 'sent' }, { parent: sp });
    ev('task_complete', w.id, { task_id: task, result: { ok: true } }, { phase: 'complete', span: sp, dt: 20 });
    ev('communication', w.id, { message: { id: `m${++msg}`, from: w.id, to: ['coord-1'], type: 'result', content: `${task} done`, in_reply_to: ask }, direction: 'sent' });
  });
  for (const w of workers) ev('agent_terminate', w.id, { reason: 'objective completed' });
  ev('session_end', null, { status: 'completed' });
  return out;
}
