// End-to-end, issue 17: the agents graph legible to 50 agents, the message sequence view, the call
// tree's viewport, the search across sessions, compare and import that read as tables, and every
// page at 1440×900 and 1280×720 (screenshots under test-artifacts/, measured for overlaps).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { makeCrowd, makeSwarm } from '../shared/swarm.mjs';
import {
  GATEWAY,
  VIEWPORTS,
  api,
  cursorSeq,
  eventually,
  expectCursorAndState,
  ingest,
  newPage,
  openBrowser,
  overlaps,
  rect,
  shot,
  storedEvents,
  text,
  uniqueId,
} from './helpers.mjs';

let browser;
const crowd = uniqueId('e2e-crowd');
const small = uniqueId('e2e-small');
const failing = uniqueId('e2e-fail');
let crowdEvents;
let smallEvents;

before(async () => {
  browser = await openBrowser();
  const c = makeCrowd({ sessionId: crowd, agents: 50 });
  const s = makeSwarm({ sessionId: small, failTest: false, name: `${small} calm run` });
  const f = makeSwarm({ sessionId: failing, failing: true, name: `${failing} failing run` });
  await ingest([...c, ...s, ...f]);
  crowdEvents = await storedEvents(crowd, c.length);
  smallEvents = await storedEvents(small, s.length);
  await storedEvents(failing, f.length);
});
after(async () => {
  await browser?.close();
});

/** What must never overlap in the agents graph: an agent's label and another agent, two labels, an edge's count and any agent. */
async function agentsGraphOverlaps(page) {
  const node = '[data-testid=agent-node]';
  const label = '[data-testid=agent-label]';
  const edge = '[data-testid=edge-label]';
  return [
    ...(await overlaps(page, label, node, { sameNode: '.ag-node' })),
    ...(await overlaps(page, label, label, { sameNode: '.ag-node' })),
    ...(await overlaps(page, node, node, { sameNode: '.ag-node' })),
    ...(await overlaps(page, edge, node)),
    ...(await overlaps(page, edge, label)),
    ...(await overlaps(page, edge, edge)),
  ];
}

describe('views', () => {
  test('the agents graph stays legible with 50 agents: one edge per pair, no label on an agent (#3)', async (t) => {
    const page = await newPage(browser, t, { width: 1440, height: 900 });
    await page.goto(`${GATEWAY}/sessions/${crowd}?layout=force`);
    await eventually(async () => (await page.locator('[data-testid=agent-node]').count()) === 50, '50 agents drawn');
    await page.waitForTimeout(300);
    assert.deepEqual(await agentsGraphOverlaps(page), []);
    // One edge per pair of agents: the coordinator and each worker, and each worker and its neighbour.
    const pairs = await page.locator('[data-pair]').evaluateAll((els) => els.map((e) => e.getAttribute('data-pair')));
    assert.equal(new Set(pairs).size, pairs.length, 'no pair drawn twice');
    assert.equal(pairs.length, 49 + 49);
    // Arrowheads keep their size whatever the width of the edge.
    assert.equal(await page.locator('#ag-arrow').getAttribute('markerUnits'), 'userSpaceOnUse');
    await shot(page, 'agents-50');

    // Hover one agent: only its conversations stay lit.
    await page.locator('[data-agent="w-07"] circle').hover();
    await eventually(async () => (await page.locator('.ag-node.dim').count()) === 50 - 4, 'w-07, the coordinator and its two neighbours lit');
    assert.equal(await page.locator('[data-agent="coord-1"].dim').count(), 0);
    await page.mouse.move(5, 5);
    await eventually(async () => (await page.locator('.ag-node.dim').count()) === 0, 'hover gone');

    // A time window up to the cursor: early in the session only the spawns exist.
    const early = crowdEvents.find((e) => e.type === 'communication');
    await page.goto(`${GATEWAY}/sessions/${crowd}?layout=force&seq=${early.seq}`);
    await eventually(async () => /messages up to seq/.test(await text(page, '[data-testid=agents-window]')), 'the cursor window');
    await eventually(async () => /· 1 messages/.test(await text(page, '.graph-status')), 'one message up to the cursor');
    // A brushed range: drag over the first tenth of the session.
    await page.getByRole('button', { name: 'time range' }).click();
    const brush = await rect(page, '[data-testid=agents-brush]');
    await page.mouse.move(brush.left + 2, brush.top + 10);
    await page.mouse.down();
    await page.mouse.move(brush.left + brush.width * 0.5, brush.top + 10, { steps: 5 });
    await page.mouse.up();
    await eventually(async () => /messages \+/.test(await text(page, '[data-testid=agents-window]')), 'the brushed range named');
    const inRange = Number(/· (\d+) messages/.exec(await text(page, '.graph-status'))?.[1]);
    const all = crowdEvents.filter((e) => e.type === 'communication').length;
    assert.ok(inRange > 1 && inRange < all, `a part of the ${all} messages (${inRange})`);
    assert.deepEqual(await agentsGraphOverlaps(page), []);
    // Click an edge: time-travel to that pair's newest message in the window.
    const before = await cursorSeq(page);
    // (A curved edge's box centre is off its stroke: the click is sent to the edge itself.)
    await page.locator('[data-pair="coord-1|w-01"] .ag-hit').dispatchEvent('click');
    await eventually(async () => (await cursorSeq(page)) !== before, 'the cursor moved to the pair');
    const seq = await cursorSeq(page);
    const ev = crowdEvents.find((e) => e.seq === seq);
    assert.equal(ev.type, 'communication');
    assert.deepEqual([ev.data.message.from, ...ev.data.message.to].sort(), ['coord-1', 'w-01']);
  });

  test('the sequence view shows exchanges in time order, replies linked, the cursor moving with steps', async (t) => {
    const page = await newPage(browser, t, { width: 1440, height: 900 });
    const mid = crowdEvents[Math.floor(crowdEvents.length / 3)];
    await page.goto(`${GATEWAY}/sessions/${crowd}?layout=sequence&seq=${mid.seq}`);
    // (The sequence view is the log's: it does not wait for replay's state of the swarm.)
    await eventually(async () => (await cursorSeq(page)) === mid.seq, 'the cursor at the deep link');
    await page.locator('[data-testid=sequence-arrow]').first().waitFor();
    const seqs = await page.locator('[data-testid=sequence-arrow]').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-seq'))));
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), 'in log order');
    assert.ok((await page.locator('[data-testid=lifeline]').count()) >= 10);
    assert.ok((await page.locator('[data-testid=reply-link]').count()) > 0, 'replies linked to their requests');
    assert.ok((await page.locator('.sq-row.reply').count()) > 0);
    const y0 = Number(await page.locator('[data-testid=sequence-cursor]').getAttribute('y1'));
    // The cursor line follows stepping.
    for (let i = 0; i < 12; i++) await page.keyboard.press('F10');
    await eventually(async () => Number(await page.locator('[data-testid=sequence-cursor]').getAttribute('y1')) > y0, 'the cursor line moved down');
    // Let every step land first: a step still in flight after the click would carry the cursor
    // past the clicked arrow (seen on a loaded CI machine).
    let settled = await cursorSeq(page);
    await eventually(async () => {
      await page.waitForTimeout(400);
      const again = await cursorSeq(page);
      const same = again === settled;
      settled = again;
      return same;
    }, 'the steps to land');
    // Click an arrow drawn now (stepping may have redrawn the view): time-travel to it.
    const drawn = await page.locator('[data-testid=sequence-arrow]').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-seq'))));
    const target = drawn.find((s) => s > settled + 3) ?? drawn[drawn.length - 1];
    await page.locator(`[data-testid=sequence-arrow][data-seq="${target}"] .sq-line`).click({ force: true });
    await eventually(async () => (await cursorSeq(page)) === target, 'the cursor at the clicked arrow');
    await shot(page, 'sequence');
  });

  test('the call tree opens readable: left edge on screen, nothing under the footer, fit stays legible (#4)', async (t) => {
    const page = await newPage(browser, t, { width: 1440, height: 900 });
    const start = smallEvents.find((e) => e.type === 'task_start' && e.data.task_id === 'T3');
    await page.goto(`${GATEWAY}/sessions/${small}?seq=${start.seq}`);
    await expectCursorAndState(page, start.seq);
    await page.locator('.node').first().waitFor();
    await page.waitForTimeout(600);
    const svg = await rect(page, '.graph-svg');
    const footer = await rect(page, '.graph-footer');
    assert.ok(footer.top >= svg.bottom - 1, 'the footer is below the drawing, not over it');
    const lefts = await page.locator('.kind-agent .node-label, .kind-session .node-label').evaluateAll((els) => els.map((e) => e.getBoundingClientRect()).filter((r) => r.width > 0).map((r) => r.left));
    const onScreen = lefts.filter((x) => x < svg.right);
    assert.ok(onScreen.length > 0 && Math.min(...onScreen) >= svg.left, 'agent labels are not cut at the left');
    await page.getByRole('button', { name: 'fit to view' }).click();
    await page.waitForTimeout(400);
    const zoom = Number(/(\d+)%/.exec(await text(page, '.graph-status'))?.[1]);
    assert.ok(zoom >= 60, `fit keeps a readable zoom (${zoom}%)`);
    assert.deepEqual(await overlaps(page, '.node-label', '.node-label', { sameNode: '.node', tolerance: 2 }), []);
  });

  test('sessions are searched by agent type, tool, model, error type, status, time and cost', async (t) => {
    const page = await newPage(browser, t, { width: 1440, height: 900 });
    const ids = async () => page.locator('tr[data-session]').evaluateAll((els) => els.map((e) => e.getAttribute('data-session')));
    const only = (list) => list.filter((x) => [crowd, small, failing].includes(x)).sort();
    await page.goto(`${GATEWAY}/?q=e2e-`);
    await page.locator(`tr[data-session="${crowd}"]`).waitFor();
    await eventually(async () => (await page.locator('[data-testid=filter-tool] option').count()) > 2, 'tools offered from the facets');
    await page.locator('[data-testid=filter-tool]').selectOption('Edit');
    await eventually(async () => JSON.stringify(only(await ids())) === JSON.stringify([failing, small].sort()), 'sessions that called Edit');
    assert.match(page.url(), /tool=Edit/);
    await page.locator('[data-testid=filter-tool]').selectOption('');
    await page.locator('[data-testid=filter-error_type]').selectOption('redis.exceptions.ConnectionError');
    await eventually(async () => JSON.stringify(only(await ids())) === JSON.stringify([failing]), 'the session with a redis ConnectionError');
    await page.locator('[data-testid=filter-error_type]').selectOption('');
    await page.locator('[data-testid=filter-agent_type]').selectOption('documenter');
    await eventually(async () => JSON.stringify(only(await ids())) === JSON.stringify([crowd]), 'the session with a documenter');
    await page.locator('[data-testid=filter-agent_type]').selectOption('');
    await page.locator('#session-status').selectOption('failed');
    await eventually(async () => JSON.stringify(only(await ids())) === JSON.stringify([failing]), 'the failed session');
    await page.locator('#session-status').selectOption('');
    const smallCost = (await api(`/api/v1/sessions/${small}`)).cost;
    await page.locator('[data-testid=filter-min-cost]').fill(String(smallCost - 1e-6));
    await eventually(async () => only(await ids()).includes(small) && !only(await ids()).includes(crowd), 'sessions costing at least as much as the calm run');
    await page.locator('[data-testid=filter-min-cost]').fill('');
    await page.locator('[data-testid=filter-from]').fill('2001-01-01T00:00');
    await page.locator('[data-testid=filter-to]').fill('2001-01-02T00:00');
    await eventually(async () => only(await ids()).length === 0, 'nothing ran in 2001');
    // The search is a link.
    const url = page.url();
    await page.goto(url);
    await eventually(async () => (await page.locator('[data-testid=filter-from]').inputValue()) === '2001-01-01T00:00', 'the search restored from the URL');
    await shot(page, 'sessions-search');
  });

  test('compare names the sessions and reads as tables; import links to the session and names duplicates (#8)', async (t) => {
    const page = await newPage(browser, t, { width: 1440, height: 900 });
    await page.goto(`${GATEWAY}/compare?a=${small}&b=${failing}`);
    await page.locator('[data-testid=compare-summary]').waitFor({ timeout: 30_000 });
    const labels = await page.locator('#cmp-a option').allInnerTexts();
    assert.ok(labels.some((l) => l.includes(`${small} calm run`) && /\d{4}-\d\d-\d\d/.test(l)), 'sessions named with their start time');
    assert.equal(await page.locator('[data-testid=compare-summary] .json').count(), 0, 'the summary is not a JSON tree');
    assert.match(await text(page, '[data-testid=compare-summary]'), /same steps/);
    assert.match(await text(page, '[data-testid=task-differences]'), /T3/);
    assert.equal(await page.locator('[data-testid=task-differences] .json').count(), 0);
    await shot(page, 'compare-tables');

    const imported = uniqueId('e2e-reimport');
    const lines = makeSwarm({ sessionId: imported });
    const file = { name: `${imported}.jsonl`, mimeType: 'application/x-ndjson', buffer: Buffer.from(lines.map((l) => JSON.stringify(l)).join('\n') + '\n') };
    await page.goto(`${GATEWAY}/import`);
    await page.locator('#import-file').setInputFiles(file);
    await page.getByRole('button', { name: 'Import' }).click();
    const link = page.locator('[data-testid=imported-session-link]');
    await link.waitFor({ timeout: 30_000 });
    assert.equal(await link.getAttribute('href'), `/sessions/${imported}`);
    await eventually(async () => /^\d+ new/.test(await text(page, '[data-testid=import-verdict]')), 'the first import: all new', 30_000);
    assert.match(await text(page, '[data-testid=import-verdict]'), new RegExp(`^${lines.length} new`));
    // The same file again: every event a duplicate.
    await page.locator('#import-file').setInputFiles(file);
    await page.getByRole('button', { name: 'Import' }).click();
    await eventually(async () => /already stored/.test(await text(page, '[data-testid=import-verdict]').catch(() => '')), 'the re-import named duplicates', 30_000);
    assert.match(await text(page, '[data-testid=import-verdict]'), new RegExp(`^0 new · ${lines.length} already stored`));
    await shot(page, 'import-duplicates');
    await link.click();
    await page.waitForURL(`**/sessions/${imported}`);
  });

  test('every page at 1440×900 and 1280×720: room for the graph, legend shown, nothing overlapping (#10)', async (t) => {
    const pages = [
      ['sessions', '/'],
      ['call-tree', `/sessions/${small}`],
      ['agents', `/sessions/${crowd}?layout=force`],
      ['agents-small', `/sessions/${small}?layout=force`],
      ['sequence', `/sessions/${small}?layout=sequence`],
      ['sequence-50', `/sessions/${crowd}?layout=sequence`],
      ['span-timeline', `/sessions/${small}?layout=timeline`],
      ['events', `/sessions/${small}?tab=events`],
      ['performance', `/sessions/${small}?tab=performance`],
      ['compare', `/compare?a=${small}&b=${failing}`],
      ['dead-letters', '/dlq'],
      ['import', '/import'],
      ['missing-session', '/sessions/does-not-exist'],
      ['no-such-view', '/no/such/view'],
    ];
    for (const viewport of VIEWPORTS) {
      const page = await newPage(browser, t, viewport);
      for (const [name, path] of pages) {
        await page.goto(`${GATEWAY}${path}`);
        await page.locator('.app-main > *').first().waitFor();
        await page.waitForTimeout(name.startsWith('agents') ? 1200 : 700);
        const where = `${name} at ${viewport.width}×${viewport.height}`;
        // Nothing sticks out of the window sideways.
        const scrollW = await page.evaluate(() => document.documentElement.scrollWidth);
        assert.ok(scrollW <= viewport.width, `${where}: no horizontal page scroll (${scrollW})`);
        if (path.startsWith('/sessions/') && name !== 'missing-session') {
          const body = await rect(page, '.graph-body, .tab-panel');
          assert.ok(body.height >= (viewport.height >= 900 ? 450 : 330), `${where}: the main view gets ${body.height} px`);
          const timeline = await rect(page, '.timeline');
          assert.ok(body.bottom <= timeline.top + 1, `${where}: the main view ends above the timeline`);
          // The drawing itself, not only its panel: at 1280×720 it had ~340 px (issue 17 #10).
          const drawing = { 'call-tree': '.graph-svg', agents: '.graph-svg', 'agents-small': '.graph-svg', sequence: '.sequence-scroll', 'sequence-50': '.sequence-scroll', 'span-timeline': '.graph-svg-wrap' }[name];
          if (drawing) {
            const d = await rect(page, drawing);
            assert.ok(d.height >= (viewport.height >= 900 ? 420 : 360), `${where}: the drawing gets ${d.height} px`);
            assert.ok(d.width >= viewport.width * 0.6, `${where}: the drawing gets ${d.width} px wide`);
          }
          if (['call-tree', 'span-timeline'].includes(name)) {
            const legend = await rect(page, '[data-testid=legend]');
            assert.ok(legend.width > 0 && legend.bottom <= viewport.height, `${where}: the legend is shown`);
          }
        }
        if (name.startsWith('agents')) assert.deepEqual(await agentsGraphOverlaps(page), [], where);
        if (name === 'call-tree') {
          assert.ok((await page.locator('.node').count()) > 10, `${where}: the call tree is drawn`);
          assert.deepEqual(await overlaps(page, '.node-label', '.node-label', { sameNode: '.node', tolerance: 2 }), [], where);
          // A label never covers another span's node (its own node sits at its left end).
          assert.deepEqual(await overlaps(page, '.node-label', '.node > path', { sameNode: '.node' }), [], `${where}: label on a node`);
        }
        if (name.startsWith('sequence')) {
          assert.ok((await page.locator('.sq-label').count()) > 5, `${where}: the sequence is drawn`);
          assert.deepEqual(await overlaps(page, '.sq-label', '.sq-label'), [], `${where}: arrow labels`);
          assert.deepEqual(await overlaps(page, '.sq-label', '.sq-time'), [], `${where}: arrow label on a time`);
          assert.deepEqual(await overlaps(page, '.sq-head-cell', '.sq-head-cell'), [], `${where}: lifeline heads`);
        }
        if (name === 'span-timeline') {
          assert.ok((await page.locator('.wf-label').count()) > 10, `${where}: the span timeline is drawn`);
          assert.deepEqual(await overlaps(page, '.wf-label', '.wf-bar'), [], `${where}: span label on a bar`);
          assert.deepEqual(await overlaps(page, '.wf-dur', '.wf-label'), [], `${where}: duration on a label`);
        }
        if (name === 'no-such-view') assert.match(await text(page, '.empty-page'), /No view at \/no\/such\/view/);
        if (name === 'performance') {
          const perf = await rect(page, '.perf');
          const timeline = await rect(page, '.timeline');
          assert.ok(perf.bottom <= timeline.top + 1, `${where}: the profile scrolls above the timeline, not under it`);
        }
        await shot(page, `page-${name}-${viewport.width}x${viewport.height}`);
      }
    }
  });
});
