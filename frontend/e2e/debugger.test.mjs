// End-to-end, issue 17: stepping, breakpoints validated on entry, the timeline, honest status, and
// LLM / tool calls rendered as a conversation and a terminal; the built UI on the real stack.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { makeSwarm } from '../shared/swarm.mjs';
import { GATEWAY, api, cursorSeq, eventually, expectCursorAndState, ingest, newPage, openBrowser, shot, storedEvents, text, uniqueId } from './helpers.mjs';

const HOSTILE = '<img src=x onerror="window.__pwned=1;alert(1)">';
let browser;

before(async () => {
  browser = await openBrowser();
});
after(async () => {
  await browser?.close();
});

async function stepTarget(sid, eventId, direction) {
  return api(`/api/v1/sessions/${sid}/events/${encodeURIComponent(eventId)}/step?direction=${direction}`);
}

describe('debugger', () => {
  test('step out leaves the innermost open span; the stack agrees; its toast goes with the next move (#1)', async (t) => {
    const sid = uniqueId('e2e-out');
    const events = makeSwarm({ sessionId: sid });
    await ingest(events);
    const stored = await storedEvents(sid, events.length);
    // T3's first test run: the pytest call that fails on the missing redis.
    const bashEnd = stored.find((e) => e.type === 'tool_call' && e.agent_id === 'tst-1' && e.phase === 'error');
    const bashStart = stored.find((e) => e.span_id === bashEnd.span_id && e.phase === 'start');
    const taskFail = stored.find((e) => e.type === 'task_fail');
    const stack = await api(`/api/v1/sessions/${sid}/events/${encodeURIComponent(bashStart.id)}/stack`);
    assert.equal(stack.frames.find((f) => f.open).span_id, bashStart.span_id, 'the innermost open frame is the tool call');
    const out = (await stepTarget(sid, bashStart.id, 'out')).event;
    assert.ok(out.seq > bashEnd.seq, 'after the tool call ended');
    assert.ok(out.seq < taskFail.seq, 'the task_fail of T3 is not skipped');

    const page = await newPage(browser, t);
    await page.goto(`${GATEWAY}/sessions/${sid}?seq=${bashStart.seq}`);
    await expectCursorAndState(page, bashStart.seq);
    await eventually(async () => (await page.locator('[data-testid=call-stack] li').count()) >= 2, 'the call stack');
    assert.match(await text(page, '[data-testid=call-stack] li'), /open/);
    await page.keyboard.press('Shift+F11');
    await expectCursorAndState(page, out.seq);

    // At plan()'s start (a root span the stack shows open), step out moves instead of refusing.
    const planStart = stored.find((e) => e.type === 'agent_method' && e.data.method === 'plan' && e.phase === 'start');
    const fromPlan = (await stepTarget(sid, planStart.id, 'out')).event;
    assert.ok(fromPlan, 'replay has somewhere to step out of plan() to');
    await page.goto(`${GATEWAY}/sessions/${sid}?seq=${planStart.seq}`);
    await expectCursorAndState(page, planStart.seq);
    await page.keyboard.press('Shift+F11');
    await expectCursorAndState(page, fromPlan.seq);
    assert.equal(await page.locator('.toast').count(), 0, 'no "no enclosing span" toast');

    // Nothing encloses a point event at the root: step out says so, and the toast goes at the next step.
    const start = stored[0];
    await page.goto(`${GATEWAY}/sessions/${sid}?seq=${start.seq}`);
    await expectCursorAndState(page, start.seq);
    await page.keyboard.press('Shift+F11');
    await eventually(async () => /no enclosing span/.test(await page.locator('.toast').innerText().catch(() => '')), 'the step-out toast');
    await page.keyboard.press('F11');
    await eventually(async () => (await page.locator('.toast').count()) === 0, 'the toast gone after the next step', 3000);
  });

  test('breakpoints and watches are checked on entry, the error beside the field (#2)', async (t) => {
    const sid = uniqueId('e2e-bpcheck');
    const events = makeSwarm({ sessionId: sid });
    await ingest(events);
    const stored = await storedEvents(sid, events.length);
    const page = await newPage(browser, t, { width: 1440, height: 900 });
    await page.goto(`${GATEWAY}/sessions/${sid}?seq=${stored[0].seq}`);
    await expectCursorAndState(page, stored[0].seq);
    const before = await page.locator('[data-testid=breakpoints] li').count();
    const input = page.locator('#bp-input');
    await input.fill('event.type ==== 3');
    const error = page.locator('#bp-error [data-testid=expression-error]');
    await eventually(async () => /Syntax error/.test(await error.innerText().catch(() => '')), 'the syntax error under the field');
    const shown = await error.innerText();
    assert.match(shown, /\| event\.type ==== 3/, 'the expression with a caret under the column');
    assert.match(shown, /\.{13}\^/);
    assert.equal(await input.getAttribute('aria-invalid'), 'true');
    assert.equal(await page.locator('#bp-input + button').isDisabled(), true, 'Add is disabled');
    await input.press('Enter');
    await page.waitForTimeout(300);
    assert.equal(await page.locator('[data-testid=breakpoints] li').count(), before, 'an invalid condition is not listed');
    // The field sits above the fold of nothing: its error is beside it, not under "Run to next".
    const inputBox = await input.boundingBox();
    const errorBox = await error.boundingBox();
    assert.ok(errorBox.y - (inputBox.y + inputBox.height) < 30, 'the error is right under the field');
    await shot(page, 'breakpoint-invalid');
    await input.fill('evnt.type == "error"');
    await eventually(async () => /unknown variable 'evnt'/.test(await error.innerText().catch(() => '')), 'a misspelt variable refused');
    await input.fill('event.type == "task_fail"');
    await eventually(async () => (await page.locator('#bp-error [data-testid=expression-error]').count()) === 0, 'a valid condition clears the error');
    await input.press('Enter');
    await eventually(async () => (await page.locator('[data-testid=breakpoints] li').count()) === before + 1, 'the valid condition listed');
    // Watches read the state only.
    await page.locator('#watch-input').fill('event.seq');
    await eventually(async () => /a watch can read state/.test(await page.locator('#watch-error').innerText().catch(() => '')), 'a watch over event refused');
  });

  test('a click on empty timeline lane space time-travels (#5)', async (t) => {
    const sid = uniqueId('e2e-lane');
    const events = makeSwarm({ sessionId: sid });
    await ingest(events);
    const stored = await storedEvents(sid, events.length);
    const page = await newPage(browser, t);
    await page.goto(`${GATEWAY}/sessions/${sid}`);
    await expectCursorAndState(page, stored[stored.length - 1].seq);
    const lanes = [];
    for (const e of stored) if (!lanes.includes(e.agent_id ?? '(session)')) lanes.push(e.agent_id ?? '(session)');
    lanes.sort((a, b) => (a === '(session)' ? -1 : b === '(session)' ? 1 : 0));
    // rev-1 is spawned at the start, then idle until T4: its lane is empty but for that spawn in the
    // first part of the session, and a click at the far left lands on its nearest event, the spawn.
    const revFirst = stored.find((e) => e.agent_id === 'rev-1');
    const canvas = page.locator('[data-testid=timeline-canvas]');
    await canvas.click({ position: { x: 132 + 14, y: 20 + lanes.indexOf('rev-1') * 24 + 10 } });
    await expectCursorAndState(page, revFirst.seq);
    assert.equal(await page.locator('[data-testid=live-toggle]').getAttribute('aria-pressed'), 'false');
  });

  test('status tells the truth: an ended session is not live, an unknown one is not active, _system is hidden (#6)', async (t) => {
    const sid = uniqueId('e2e-ended');
    const events = makeSwarm({ sessionId: sid });
    await ingest(events);
    await ingest([{ id: uniqueId('alert'), timestamp: Date.now(), session_id: '_system', agent_id: 'store', type: 'performance_alert', data: { metric: 'lag', value: 5, threshold: 1 } }]);
    await storedEvents(sid, events.length);
    await eventually(async () => (await api('/api/v1/sessions?system=only')).items.length === 1, 'the _system session stored');
    const page = await newPage(browser, t);
    await page.goto(`${GATEWAY}/sessions/${sid}`);
    await eventually(async () => /completed/.test(await text(page, '[data-testid=session-status]')), 'the completed status');
    const live = await text(page, '[data-testid=live-toggle]');
    assert.doesNotMatch(live, /LIVE/);
    assert.match(live, /ENDED/);

    await page.goto(`${GATEWAY}/sessions/does-not-exist`);
    await page.locator('[data-testid=session-missing]').waitFor();
    assert.match(await text(page, '[data-testid=session-status]'), /not found/);
    assert.doesNotMatch(await text(page, '[data-testid=session-status]'), /active/);
    await shot(page, 'session-not-found');

    await page.goto(`${GATEWAY}/`);
    await page.locator(`tr[data-session="${sid}"]`).waitFor();
    assert.equal(await page.locator('tr[data-session="_system"]').count(), 0, '_system hidden by default');
    await page.locator('[data-testid=filter-internal]').check();
    await page.locator('tr[data-session="_system"]').waitFor();
    assert.match(page.url(), /internal=1/);
  });

  test('LLM calls read as a conversation and tool calls as a terminal, text only', async (t) => {
    const sid = uniqueId('e2e-conv');
    const events = makeSwarm({ sessionId: sid });
    const now = Date.now();
    events.push(
      { id: `${sid}-x1`, timestamp: now, session_id: sid, agent_id: 'cod-1', type: 'llm_call', phase: 'start', span_id: `${sid}-chat`, data: { model: 'claude-opus-4', system: 'You are a careful coder.', messages: [{ role: 'user', content: HOSTILE }] } },
      { id: `${sid}-x2`, timestamp: now + 900, session_id: sid, agent_id: 'cod-1', type: 'llm_call', phase: 'complete', span_id: `${sid}-chat`, data: { model: 'claude-opus-4', response: 'Use a token bucket.', input_tokens: 4210, output_tokens: 1180, cost_usd: 0.15 } },
    );
    await ingest(events);
    const stored = await storedEvents(sid, events.length);
    const page = await newPage(browser, t, { width: 1440, height: 900 });
    const answer = stored.find((e) => e.id === `${sid}-x2`);
    await page.goto(`${GATEWAY}/sessions/${sid}?seq=${answer.seq}`);
    await expectCursorAndState(page, answer.seq);
    const conv = page.locator('[data-testid=conversation]');
    await conv.waitFor();
    assert.deepEqual(await conv.locator('[data-role]').evaluateAll((els) => els.map((e) => e.getAttribute('data-role'))), ['system', 'user', 'assistant']);
    const body = await conv.innerText();
    assert.ok(body.includes('<img src=x onerror='), 'the hostile prompt shown as text');
    assert.match(body, /4,210 in/);
    assert.match(body, /1,180 out/);
    assert.match(body, /\$0\.15/);
    assert.equal(await page.locator('.debug-panel img').count(), 0);
    assert.equal(await page.evaluate(() => window.__pwned), undefined);
    await shot(page, 'llm-conversation');

    const bashEnd = stored.find((e) => e.type === 'tool_call' && e.agent_id === 'tst-1' && e.phase === 'error'); // T3's first test run
    await page.goto(`${GATEWAY}/sessions/${sid}?seq=${bashEnd.seq}`);
    await expectCursorAndState(page, bashEnd.seq);
    const term = page.locator('[data-testid=terminal]');
    await term.waitFor();
    const shown = await term.innerText();
    assert.match(shown, /\$ pytest tests\/test_ratelimit\.py -q/);
    assert.match(shown, /exit 1/);
    assert.match(shown, /3 failed, 9 passed/);
    assert.match(shown, /Error 111 connecting to 127\.0\.0\.1:6379\. Connection refused/);
    await shot(page, 'tool-terminal');
  });
});
