// A realistic Claude-Flow-shaped swarm run (CLAUDE-FLOW.md) as canonical wire events (CONTRACT §1):
// a coordinator plans a task DAG (research → code → test ∥ review), agents exchange messages and
// share memory, LLM calls cost tokens, a test fails on a missing service, the coordinator decides to
// retry, the retry passes, the session ends with every task completed.
// Used by the e2e tests, the UI benchmark and the dev mock gateway.

/**
 * @param {{sessionId: string, t0?: number, workPerTask?: number, hostile?: string|null, failTest?: boolean, name?: string}} opts
 * @returns {object[]} events in order (ids unique within the session)
 */
export function makeSwarm(opts) {
  const sid = opts.sessionId;
  let t = opts.t0 ?? Date.now() - 60_000;
  const work = opts.workPerTask ?? 3;
  const failTest = opts.failTest ?? true;
  const out = [];
  let n = 0;
  const ev = (type, agent, data, extra = {}) => {
    const e = {
      id: `${sid}-e${++n}`,
      timestamp: (t += extra.dt ?? 7 + (n % 5) * 3),
      session_id: sid,
      type,
      data,
    };
    if (agent) e.agent_id = agent;
    if (extra.phase) e.phase = extra.phase;
    if (extra.span) e.span_id = extra.span;
    if (extra.parent) e.metadata = { parent_id: extra.parent };
    if (extra.perf) e.performance = extra.perf;
    out.push(e);
    return e;
  };
  const span = (name) => `${sid}-${name}`;

  ev('session_start', null, { objective: 'build a token-bucket rate limiter with tests', name: opts.name ?? sid, topology: 'hierarchical', strategy: 'development' });
  ev('agent_spawn', 'coord-1', { agent_type: 'coordinator', name: 'Coordinator', capabilities: ['planning'] });
  const plan = span('plan');
  ev('agent_method', 'coord-1', { method: 'plan', args: { objective: 'rate limiter' } }, { phase: 'start', span: plan });
  const llm0 = span('llm-plan');
  ev('llm_call', 'coord-1', { model: 'claude-sonnet', prompt: 'Plan a task DAG for: rate limiter' }, { phase: 'start', span: llm0, parent: plan });
  ev('llm_call', 'coord-1', { model: 'claude-sonnet', response: 'T1 research, T2 code, T3 test, T4 review', input_tokens: 1200, output_tokens: 340, cost_usd: 0.0087 }, { phase: 'complete', span: llm0, parent: plan, dt: 420, perf: { duration: 420, input_tokens: 1200, output_tokens: 340, cost_usd: 0.0087 } });
  const tasks = [
    { id: 'T1', desc: 'research rate limiting algorithms', agent: 'res-1', type: 'researcher', deps: [] },
    { id: 'T2', desc: 'implement token bucket', agent: 'cod-1', type: 'coder', deps: ['T1'] },
    { id: 'T3', desc: 'write and run tests', agent: 'tst-1', type: 'tester', deps: ['T2'] },
    { id: 'T4', desc: 'review implementation', agent: 'rev-1', type: 'reviewer', deps: ['T2'] },
  ];
  for (const tk of tasks) ev('task_create', 'coord-1', { task_id: tk.id, description: tk.desc, dependencies: tk.deps, priority: 'normal', max_retries: 2 }, { parent: plan });
  ev('agent_method', 'coord-1', { method: 'plan', result: { tasks: 4 } }, { phase: 'complete', span: plan, dt: 30 });
  for (const tk of tasks) ev('agent_spawn', tk.agent, { agent_type: tk.type, name: tk.type[0].toUpperCase() + tk.type.slice(1), parent_agent_id: 'coord-1', status: 'idle' });

  let msg = 0;
  const runTask = (tk, attempt, fail) => {
    ev('task_assignment', 'coord-1', { task_id: tk.id, agent_id: tk.agent, attempt });
    const sp = span(`${tk.id}-a${attempt}`);
    ev('task_start', tk.agent, { task_id: tk.id, attempt }, { phase: 'start', span: sp });
    for (let i = 0; i < work; i++) {
      const l = span(`${tk.id}-a${attempt}-llm${i}`);
      ev('llm_call', tk.agent, { model: i % 3 === 2 ? 'claude-haiku' : 'claude-sonnet', prompt: `step ${i} of ${tk.desc}` }, { phase: 'start', span: l, parent: sp });
      const inTok = 800 + ((i * 137) % 900);
      const outTok = 150 + ((i * 71) % 400);
      const cost = +(inTok * 3e-6 + outTok * 15e-6).toFixed(5);
      ev('llm_call', tk.agent, { model: i % 3 === 2 ? 'claude-haiku' : 'claude-sonnet', response: `result of step ${i}`, input_tokens: inTok, output_tokens: outTok, cost_usd: cost }, { phase: 'complete', span: l, parent: sp, dt: 120 + (i % 7) * 40, perf: { duration: 120 + (i % 7) * 40, input_tokens: inTok, output_tokens: outTok, cost_usd: cost } });
      const tc = span(`${tk.id}-a${attempt}-tool${i}`);
      ev('tool_call', tk.agent, { tool: i % 2 ? 'Edit' : 'Read', args: { path: `src/limiter_${i % 4}.py` } }, { phase: 'start', span: tc, parent: sp });
      ev('tool_call', tk.agent, { tool: i % 2 ? 'Edit' : 'Read', exit_code: 0 }, { phase: 'complete', span: tc, parent: sp, dt: 15 + (i % 5) * 5, perf: { duration: 15 + (i % 5) * 5 } });
      if (i % 2 === 0) ev('memory_write', tk.agent, { namespace: 'swarm', key: `${tk.id}/notes`, value: { step: i, summary: `notes for ${tk.id} step ${i}` }, version: i / 2 + 1 }, { parent: sp });
      if (i % 3 === 1) ev('task_progress', tk.agent, { task_id: tk.id, progress: Math.min(0.95, (i + 1) / work), message: `step ${i + 1}/${work}` }, { parent: sp });
    }
    if (tk.id === 'T1') {
      ev('memory_write', tk.agent, { namespace: 'swarm', key: 'research/rate-limit', value: { algorithm: 'token bucket', refill: '10/s', burst: 20, note: opts.hostile ?? 'sliding window considered' }, version: 1 }, { parent: sp });
      ev('communication', tk.agent, { message: { id: `m${++msg}`, from: tk.agent, to: ['cod-1'], type: 'notification', content: opts.hostile ?? 'research done: use a token bucket' }, direction: 'sent' }, { parent: sp });
    }
    if (tk.id === 'T2') {
      ev('memory_read', tk.agent, { namespace: 'swarm', key: 'research/rate-limit', version_read: 1, hit: true }, { parent: sp });
      ev('communication', tk.agent, { message: { id: `m${++msg}`, from: tk.agent, to: ['tst-1', 'rev-1'], type: 'broadcast', content: 'implementation ready for test and review' }, direction: 'sent' }, { parent: sp });
    }
    if (fail) {
      const b = span(`${tk.id}-a${attempt}-bash`);
      ev('tool_call', tk.agent, { tool: 'Bash', args: { cmd: 'pytest tests/test_limiter.py' } }, { phase: 'start', span: b, parent: sp });
      ev('tool_call', tk.agent, { tool: 'Bash', exit_code: 1, error: 'redis: connection refused' }, { phase: 'error', span: b, parent: sp, dt: 900, perf: { duration: 900 } });
      ev('error', tk.agent, { message: 'connection refused: redis at 127.0.0.1:6390', error_type: 'ConnectionError', scope: 'task', recoverable: true }, { parent: sp });
      ev('task_fail', tk.agent, { task_id: tk.id, error: 'tests failed: redis unavailable', will_retry: true }, { phase: 'error', span: sp });
      ev('communication', tk.agent, { message: { id: `m${++msg}`, from: tk.agent, to: ['coord-1'], type: 'progress_update', content: 'T3 failed: redis unavailable' }, direction: 'sent' });
      ev('decision', 'coord-1', { kind: 'retry_strategy', options: ['retry', 'abort', 'skip'], chosen: 'retry', rationale: 'start redis fixture and retry', confidence: 0.8 });
      return;
    }
    if (tk.id === 'T3') {
      const b = span(`${tk.id}-a${attempt}-bash`);
      ev('tool_call', tk.agent, { tool: 'Bash', args: { cmd: 'pytest tests/test_limiter.py' } }, { phase: 'start', span: b, parent: sp });
      ev('tool_call', tk.agent, { tool: 'Bash', exit_code: 0, result: '12 passed' }, { phase: 'complete', span: b, parent: sp, dt: 1300, perf: { duration: 1300 } });
    }
    ev('task_complete', tk.agent, { task_id: tk.id, result: { ok: true, attempt } }, { phase: 'complete', span: sp, dt: 40 });
    ev('communication', tk.agent, { message: { id: `m${++msg}`, from: tk.agent, to: ['coord-1'], type: 'task_result', content: `${tk.id} done` }, direction: 'sent' });
  };
  runTask(tasks[0], 1, false);
  runTask(tasks[1], 1, false);
  runTask(tasks[3], 1, false);
  if (failTest) {
    runTask(tasks[2], 1, true);
    runTask(tasks[2], 2, false);
  } else runTask(tasks[2], 1, false);
  ev('coordination', 'coord-1', { kind: 'consensus', details: { votes: 4, outcome: 'ship' } });
  for (const tk of tasks) ev('agent_terminate', tk.agent, { reason: 'objective completed' });
  ev('session_end', null, { status: 'completed' });
  return out;
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
