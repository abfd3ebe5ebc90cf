// End-to-end: issue 15's big session (100k events, 10k tasks, 50k messages, 5k memory keys) in the
// real UI. The debugger shows the bounded state at the cursor, pages a collection on demand with
// search, and steps; the state view never asks the gateway for a whole state.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { GATEWAY, api, eventually, expectCursorAndState, newPage, openBrowser, shot, text, uniqueId } from './helpers.mjs';

const SCRIPT = fileURLToPath(new URL('../../scripts/big_session.py', import.meta.url));
let browser;
let session;

before(async () => {
  // Straight into TRACES (the script waits until the store and replay hold every event).
  const sid = uniqueId('e2e-big');
  const run = spawnSync(process.env.SWARMSCOPE_PYTHON ?? 'python', [SCRIPT, '--session', sid], {
    encoding: 'utf8',
    timeout: 900_000,
  });
  assert.equal(run.status, 0, `loading the big session failed: ${run.stderr}`);
  session = JSON.parse(run.stdout.trim().split('\n').pop());
  browser = await openBrowser();
});
after(async () => {
  await browser?.close();
});

describe('a session of 100k events', () => {
  test('the debugger pages its state and steps through it', { timeout: 600_000 }, async (t) => {
    const sid = session.session_id;
    const page = await newPage(browser, t);
    const stateRequests = [];
    page.on('request', (r) => {
      const url = new URL(r.url());
      if (url.pathname.includes(`/sessions/${sid}/state`)) stateRequests.push(url);
    });
    // The middle of the session: thousands of tasks and messages already.
    const middle = await api(`/api/v1/sessions/${sid}/events?after_seq=${session.first_seq + 50_000}&limit=1`);
    const at = middle.items[0];
    await page.goto(`${GATEWAY}/sessions/${sid}?seq=${at.seq}`, { timeout: 120_000 });
    await eventually(async () => (await page.locator('[data-testid=cursor-seq]').count()) > 0, 'the dashboard', 240_000);
    await expectCursorAndState(page, at.seq);
    const view = await api(`/api/v1/sessions/${sid}/state?seq=${at.seq}&limit=0`);
    const counts = view.view.collections;
    assert.ok(counts.communications.count > 20_000, 'tens of thousands of messages at the middle');
    assert.equal(Number((await text(page, '[data-testid=count-tasks]')).replace(/,/g, '')), counts.tasks.count);
    assert.equal(
      Number((await text(page, '[data-testid=count-communications]')).replace(/,/g, '')),
      counts.communications.count,
    );

    // Messages: a virtual list of every one, fetched a page at a time, newest first.
    await page.locator('[data-testid=collection-communications] > summary').click();
    const list = page.locator('[data-testid=paged-communications]');
    await list.waitFor();
    const newest = counts.communications.count - 1;
    await eventually(async () => (await list.locator(`.paged-row[data-key="${newest}"]`).count()) === 1, 'the newest message row');
    assert.ok((await list.locator('.paged-row').count()) < 100, 'only the visible rows are in the page');
    // Search within them, on the server.
    await page.locator('[data-testid=search-communications]').fill('message 1234:');
    await eventually(async () => /1 match\b/.test(await text(page, '[data-testid=paged-communications]')), 'one message found');
    await list.locator('.paged-row').first().click();
    assert.match(await text(page, '[data-testid=detail-communications]'), /message 1234:/);
    await shot(page, 'big-session-state');

    // Stepping moves the cursor and the state follows.
    for (const key of ['F10', 'F10', 'F11']) {
      const before = Number(await text(page, '[data-testid=cursor-seq]'));
      await page.keyboard.press(key);
      await eventually(async () => Number(await text(page, '[data-testid=cursor-seq]')) !== before, `${key} moved the cursor`, 30_000);
      await expectCursorAndState(page, Number(await text(page, '[data-testid=cursor-seq]')));
    }
    // Nothing asked for a whole state: bounded views and pages only.
    assert.ok(stateRequests.length > 0);
    for (const url of stateRequests) {
      assert.notEqual(url.searchParams.get('full'), '1', `${url} asks for a whole state`);
      if (url.pathname.endsWith('/state')) assert.ok(Number(url.searchParams.get('limit')) <= 1000, `${url} is unbounded`);
    }
  });
});
