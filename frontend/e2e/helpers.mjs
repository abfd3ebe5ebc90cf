// Shared plumbing of the browser end-to-end tests: the real stack's gateway (SWARMSCOPE_GATEWAY_URL,
// set by scripts/with_stack.py), publishing through POST /api/v1/ingest, Debian's Chromium, and
// screenshots under test-artifacts/screenshots/ at the repository root.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { launch } from '../shared/browser.mjs';

export const GATEWAY = (process.env.SWARMSCOPE_GATEWAY_URL ?? '').replace(/\/+$/, '');
export const SHOTS = fileURLToPath(new URL('../../test-artifacts/screenshots/', import.meta.url));

if (!GATEWAY) {
  throw new Error(
    'SWARMSCOPE_GATEWAY_URL is not set: run the e2e tests against a real stack, e.g.\n' +
      '  uv run python scripts/with_stack.py -- npm --prefix frontend run e2e',
  );
}

const headers = () => {
  const h = { 'Content-Type': 'application/json' };
  if (process.env.SWARMSCOPE_E2E_API_KEY) h.Authorization = `Bearer ${process.env.SWARMSCOPE_E2E_API_KEY}`;
  return h;
};

export async function api(path, init = {}) {
  const res = await fetch(`${GATEWAY}${path}`, { ...init, headers: { ...headers(), ...(init.headers ?? {}) } });
  const text = await res.text();
  if (!res.ok) throw new Error(`${init.method ?? 'GET'} ${path} → HTTP ${res.status}: ${text.slice(0, 400)}`);
  return text ? JSON.parse(text) : null;
}

/** Publishes events through the gateway, in batches. */
export async function ingest(events) {
  for (let i = 0; i < events.length; i += 500) {
    await api('/api/v1/ingest', { method: 'POST', body: JSON.stringify(events.slice(i, i + 500)) });
  }
}

/** Polls fn until it returns a truthy value (the pipeline is asynchronous); fails with `what`. */
export async function eventually(fn, what, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

/** All stored events of a session, once `count` of them are stored. */
export async function storedEvents(sessionId, count) {
  return eventually(async () => {
    const page = await api(`/api/v1/sessions/${encodeURIComponent(sessionId)}/events?limit=5000`);
    return page.items.length >= count ? page.items : null;
  }, `${count} events of ${sessionId} in the store`);
}

export function uniqueId(prefix) {
  return `${prefix}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e4).toString(36)}`;
}

export async function openBrowser() {
  mkdirSync(SHOTS, { recursive: true });
  return launch();
}

/**
 * A page that fails the test on any uncaught page error or dialog (a hostile string that ran would
 * open one), and records console errors.
 */
export async function newPage(browser, t, viewport = { width: 1600, height: 900 }) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('dialog', async (d) => {
    problems.push(`dialog: ${d.message()}`);
    await d.dismiss();
  });
  t.after(async () => {
    await context.close();
    assert.deepEqual(problems, [], 'the page raised errors or opened dialogs');
  });
  return page;
}

export async function shot(page, name) {
  await page.screenshot({ path: `${SHOTS}${name}.png` });
}

export async function text(page, selector) {
  return (await page.locator(selector).first().innerText()).trim();
}

export async function cursorSeq(page) {
  return Number(await text(page, '[data-testid=cursor-seq]'));
}

/** Waits until the UI's cursor is at `seq` and the state inspector shows the state at that seq. */
export async function expectCursorAndState(page, seq) {
  try {
    await eventually(async () => (await cursorSeq(page)) === seq, `cursor at seq ${seq}`, 10_000);
    await eventually(
      async () => (await page.locator('[data-testid=variables]').getAttribute('data-state-seq', { timeout: 1000 })) === String(seq),
      `state inspector at seq ${seq}`,
      15_000,
    );
  } catch (err) {
    // What the page showed when it went wrong, for the person reading the failure.
    await shot(page, `failure-${Date.now()}`).catch(() => undefined);
    throw err;
  }
}

/**
 * Boxes that overlap on screen, measured in the page: for each `[data-box]` selector group, the
 * elements' client rectangles; returns a description of every pair (one from group a, one from
 * group b, never an element with itself or with an element of its own node) that intersects by more
 * than `tolerance` pixels each way.
 */
export async function overlaps(page, a, b, { tolerance = 1, sameNode = null } = {}) {
  return page.evaluate(
    ({ a, b, tolerance, sameNode }) => {
      const boxes = (sel) =>
        [...document.querySelectorAll(sel)]
          .map((el) => ({ el, r: el.getBoundingClientRect(), owner: sameNode ? el.closest(sameNode) : null }))
          .filter((x) => x.r.width > 0 && x.r.height > 0);
      const A = boxes(a);
      const B = boxes(b);
      const out = [];
      for (const x of A)
        for (const y of B) {
          if (x.el === y.el || (x.owner && x.owner === y.owner)) continue;
          const w = Math.min(x.r.right, y.r.right) - Math.max(x.r.left, y.r.left);
          const h = Math.min(x.r.bottom, y.r.bottom) - Math.max(x.r.top, y.r.top);
          if (w > tolerance && h > tolerance) out.push(`${(x.el.textContent || x.el.tagName).trim().slice(0, 40)} ⨯ ${(y.el.textContent || y.el.tagName).trim().slice(0, 40)}`);
        }
      return out;
    },
    { a, b, tolerance, sameNode },
  );
}

/** The client rectangle of the first element matching `selector`. */
export async function rect(page, selector) {
  return page.locator(selector).first().evaluate((el) => {
    const r = el.getBoundingClientRect();
    return { left: r.left, top: r.top, right: r.right, bottom: r.bottom, width: r.width, height: r.height };
  });
}

export const VIEWPORTS = [
  { width: 1440, height: 900 },
  { width: 1280, height: 720 },
];
