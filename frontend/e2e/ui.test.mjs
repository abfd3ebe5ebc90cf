// End-to-end: the built UI served by the real gateway, driven in Debian's Chromium (issue 7 §5).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { makeLiveTail, makeSwarm } from '../shared/swarm.mjs';
import { GATEWAY, api, cursorSeq, eventually, expectCursorAndState, ingest, newPage, openBrowser, shot, storedEvents, text, uniqueId } from './helpers.mjs';

const HOSTILE = '<img src=x onerror="window.__pwned=1;alert(1)">';
let browser;

before(async () => {
  browser = await openBrowser();
});
after(async () => {
  await browser?.close();
});

describe('swarmscope UI', () => {
  test('a session appears in the list and grows live on its dashboard', async (t) => {
    const sid = uniqueId('e2e-live');
    const events = makeSwarm({ sessionId: sid });
    await ingest(events.slice(0, 20));
    const page = await newPage(browser, t);
    await page.goto(`${GATEWAY}/`);
    const row = page.locator(`tr[data-session="${sid}"]`);
    await row.waitFor({ timeout: 30_000 });
    await shot(page, 'sessions-list');
    await row.locator('a.session-link').click();
    await page.waitForURL(`**/sessions/${sid}`);
    await eventually(async () => Number((await text(page, '[data-testid=event-count]')).replace(/,/g, '')) === 20, 'the first 20 events on the dashboard');
    assert.equal(await page.locator('[data-testid=live-toggle]').getAttribute('aria-pressed'), 'true');

    // More events arrive while the page is open: they stream in without a reload.
    await ingest(events.slice(20, 70));
    await eventually(async () => Number((await text(page, '[data-testid=event-count]')).replace(/,/g, '')) === 70, '70 events streamed in');
    const stored = await storedEvents(sid, 70);
    // Live mode: the cursor follows the newest event.
    await eventually(async () => (await cursorSeq(page)) === stored[stored.length - 1].seq, 'the cursor following the newest event');
    await ingest(events.slice(70));
    await eventually(async () => Number((await text(page, '[data-testid=event-count]')).replace(/,/g, '')) === events.length, 'the whole session streamed in');
    await page.locator('[data-testid=timeline-canvas]').waitFor();
    await page.waitForTimeout(400);
    await shot(page, 'dashboard-live');
  });

  test('step into / over / out move the cursor and the state; F5 resumes live', async (t) => {
    const sid = uniqueId('e2e-step');
    const events = makeSwarm({ sessionId: sid });
    await ingest(events);
    const stored = await storedEvents(sid, events.length);
    const start = stored.find((e) => e.type === 'task_start' && e.data.task_id === 'T3');
    assert.ok(start, 'the T3 task_start event');
    const page = await newPage(browser, t);
    await page.goto(`${GATEWAY}/sessions/${sid}?seq=${start.seq}`);
    await expectCursorAndState(page, start.seq);
    assert.equal(await page.locator('[data-testid=live-toggle]').getAttribute('aria-pressed'), 'false');

    let from = start;
    for (const [key, direction] of [
      ['F11', 'into'],
      ['F10', 'over'],
      ['Shift+F11', 'out'],
    ]) {
      const expected = await api(`/api/v1/sessions/${sid}/events/${encodeURIComponent(from.id)}/step?direction=${direction}`);
      assert.ok(expected.event, `replay has an event to step ${direction} to from seq ${from.seq}`);
      await page.keyboard.press(key);
      await expectCursorAndState(page, expected.event.seq);
      assert.notEqual(await cursorSeq(page), from.seq, `step ${direction} moved the cursor`);
      from = expected.event;
    }
    await shot(page, 'debugger-stepping');
    // The buttons do the same as the keys.
    const back = await api(`/api/v1/sessions/${sid}/events/${encodeURIComponent(from.id)}/step?direction=back`);
    await page.locator('[data-testid=step-back]').click();
    await expectCursorAndState(page, back.event.seq);
    // The call stack names the enclosing spans at the cursor.
    await eventually(async () => (await page.locator('[data-testid=call-stack] li').count()) > 0, 'a call stack');
    // F5: back to live, at the newest event.
    await page.keyboard.press('F5');
    await eventually(async () => (await cursorSeq(page)) === stored[stored.length - 1].seq, 'live at the newest event after F5');
    assert.equal(await page.locator('[data-testid=live-toggle]').getAttribute('aria-pressed'), 'true');
  });

  test('a breakpoint stops where its condition holds', async (t) => {
    const sid = uniqueId('e2e-bp');
    const events = makeSwarm({ sessionId: sid });
    await ingest(events);
    const stored = await storedEvents(sid, events.length);
    const target = stored.find((e) => e.type === 'tool_call' && e.agent_id === 'tst-1' && e.phase === 'error');
    assert.ok(target, 'the failing Bash call of tst-1');
    const page = await newPage(browser, t);
    await page.goto(`${GATEWAY}/sessions/${sid}?seq=${stored[0].seq}`);
    await expectCursorAndState(page, stored[0].seq);
    // Replace the default breakpoint by ours.
    const bps = page.locator('[data-testid=breakpoints] li');
    while ((await bps.count()) > 0) await bps.first().locator('button').click();
    await page.locator('#bp-input').fill('event.type == "tool_call" && event.agent_id == "tst-1" && event.phase == "error"');
    await page.locator('#bp-input').press('Enter');
    await page.locator('[data-testid=bp-next]').click();
    await expectCursorAndState(page, target.seq);
    assert.match(await text(page, '[data-testid=bp-result]'), new RegExp(`Stopped at seq ${target.seq}`));
    await shot(page, 'breakpoint-hit');
    // Running on finds no second such event.
    await page.locator('[data-testid=bp-next]').click();
    await eventually(async () => /No event after/.test(await text(page, '[data-testid=bp-result]')), 'no further hit');
    assert.equal(await cursorSeq(page), target.seq);
    // A broken condition is reported where it is typed, not swallowed (debugger.test.mjs: more).
    await page.locator('#bp-input').fill('event.type ==');
    await page.locator('#bp-input').press('Enter');
    await eventually(async () => (await page.locator('#bp-error [data-testid=expression-error]').count()) === 1, 'an expression error shown');
  });

  test('a timeline click time-travels and the inspector shows the earlier state', async (t) => {
    const sid = uniqueId('e2e-tt');
    const events = makeSwarm({ sessionId: sid });
    await ingest(events);
    const stored = await storedEvents(sid, events.length);
    const last = stored[stored.length - 1];
    const page = await newPage(browser, t);
    await page.goto(`${GATEWAY}/sessions/${sid}`);
    await expectCursorAndState(page, last.seq);
    const finalState = await api(`/api/v1/sessions/${sid}/state?seq=${last.seq}`);
    assert.equal(finalState.tasks.T3.status, 'completed');

    // Click the tester's lane at the time of its failed attempt (task_fail).
    const target = stored.find((e) => e.type === 'task_fail');
    const canvas = page.locator('[data-testid=timeline-canvas]');
    const box = await canvas.boundingBox();
    const lanes = [];
    for (const e of stored) {
      const lane = e.agent_id ?? '(session)';
      if (!lanes.includes(lane)) lanes.push(lane);
    }
    lanes.sort((a, b) => (a === '(session)' ? -1 : b === '(session)' ? 1 : 0));
    const times = stored.map((e) => e.timestamp);
    const [t0, t1] = [Math.min(...times), Math.max(...times)];
    const GUTTER = 132;
    const x = GUTTER + 8 + ((target.timestamp - t0) / (t1 - t0)) * (box.width - 10 - (GUTTER + 8));
    const y = 20 + lanes.indexOf('tst-1') * 24 + 10;
    await canvas.click({ position: { x, y } });
    await eventually(async () => (await cursorSeq(page)) < last.seq, 'the cursor moved to the past');
    const seq = await cursorSeq(page);
    await expectCursorAndState(page, seq);
    assert.equal(await page.locator('[data-testid=live-toggle]').getAttribute('aria-pressed'), 'false', 'a click on the past leaves live mode');
    const earlier = await api(`/api/v1/sessions/${sid}/state?seq=${seq}`);
    assert.notEqual(earlier.tasks.T3.status, 'completed', 'the earlier state differs from the final one');
    const shown = await text(page, '[data-testid=variables]');
    assert.ok(shown.includes(`"${earlier.tasks.T3.status}"`), `the inspector shows T3 as ${earlier.tasks.T3.status}`);
    // The address is rewritten in an effect after the view renders the cursor: a moment later.
    await eventually(async () => new RegExp(`seq=${seq}\\b`).test(page.url()), 'the URL deep-links the instant');
    await shot(page, 'time-travel');
  });

  test('two sessions compare side by side', async (t) => {
    const a = uniqueId('e2e-cmp-a');
    const b = uniqueId('e2e-cmp-b');
    const ea = makeSwarm({ sessionId: a, failTest: true });
    const eb = makeSwarm({ sessionId: b, failTest: false });
    await ingest([...ea, ...eb]);
    await storedEvents(a, ea.length);
    await storedEvents(b, eb.length);
    const page = await newPage(browser, t);
    await page.goto(`${GATEWAY}/compare?a=${a}&b=${b}`);
    const result = page.locator('[data-testid=compare-result]');
    await result.waitFor({ timeout: 30_000 });
    const body = await result.innerText();
    assert.ok(body.includes(a) && body.includes(b), 'both sessions shown');
    assert.ok(body.includes('T3'), 'their tasks listed');
    assert.ok((await page.locator('.align-table tbody tr').count()) > 0, 'aligned steps listed');
    await shot(page, 'compare');
  });

  test('a hostile string in an event shows as text and never runs', async (t) => {
    const sid = uniqueId('e2e-xss');
    const events = makeSwarm({ sessionId: sid, hostile: HOSTILE });
    events.push(...makeLiveTail(sid, 0, 2).map((e) => ({ ...e, data: { ...e.data, note: HOSTILE } })));
    await ingest(events);
    const stored = await storedEvents(sid, events.length);
    const msg = stored.find((e) => e.type === 'communication' && JSON.stringify(e.data).includes('onerror'));
    assert.ok(msg, 'the hostile message is stored');
    const page = await newPage(browser, t);
    await page.goto(`${GATEWAY}/sessions/${sid}?seq=${msg.seq}&q=onerror`);
    await expectCursorAndState(page, msg.seq);
    const current = page.locator('[data-testid=current-event]');
    await eventually(async () => (await current.innerText()).includes('<img src=x onerror='), 'the hostile string shown as text');
    assert.equal(await page.locator('.debug-panel img, .dash img').count(), 0, 'no <img> element was created');
    await page.locator('#tab-events').click();
    await page.waitForTimeout(300);
    assert.equal(await page.evaluate(() => window.__pwned), undefined, 'no script ran');
    await shot(page, 'hostile-as-text');
  });

  test('search highlights and jumps; profiling, dead letters and import views load', async (t) => {
    const sid = uniqueId('e2e-misc');
    const events = makeSwarm({ sessionId: sid });
    await ingest(events);
    const stored = await storedEvents(sid, events.length);
    const page = await newPage(browser, t);
    await page.goto(`${GATEWAY}/sessions/${sid}?seq=${stored[0].seq}`);
    await expectCursorAndState(page, stored[0].seq);
    await page.locator('#event-search').fill('refused');
    await eventually(async () => /\d+ hits?/.test(await text(page, '[data-testid=search-count]')), 'search hits counted');
    await page.locator('#event-search').press('Enter');
    const firstHit = stored.find((e) => JSON.stringify(e.data).toLowerCase().includes('refused'));
    await expectCursorAndState(page, firstHit.seq);
    await page.locator('#tab-performance').click();
    await page.locator('.flame canvas').waitFor();
    await eventually(async () => (await page.locator('.perf-grid .card').count()) > 2, 'the performance report');
    await shot(page, 'performance');
    await page.goto(`${GATEWAY}/dlq`);
    await page.locator('h1', { hasText: 'Dead letters' }).waitFor();
    await page.waitForTimeout(500);
    assert.equal(await page.locator('.error-box').count(), 0, 'dead letters load');
    await shot(page, 'dead-letters');
    // Import: a JSONL file uploaded from the page becomes a session.
    const imported = uniqueId('e2e-import');
    const lines = makeSwarm({ sessionId: imported });
    await page.goto(`${GATEWAY}/import`);
    await page.locator('#import-file').setInputFiles({
      name: `${imported}.jsonl`,
      mimeType: 'application/x-ndjson',
      buffer: Buffer.from(lines.map((l) => JSON.stringify(l)).join('\n') + '\n'),
    });
    await page.getByRole('button', { name: 'Import' }).click();
    await page.locator('[data-testid=import-result]').waitFor({ timeout: 30_000 });
    await storedEvents(imported, lines.length);
    await shot(page, 'import');
    // Export: the dashboard's link downloads the session as JSONL.
    await page.goto(`${GATEWAY}/sessions/${imported}`);
    const link = page.getByRole('link', { name: `export ${imported} as JSONL` });
    const href = await link.getAttribute('href');
    const exported = await (await fetch(`${GATEWAY}${href}`)).text();
    assert.equal(exported.trim().split('\n').length, lines.length);
  });
});
