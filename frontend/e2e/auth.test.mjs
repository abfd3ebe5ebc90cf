// End-to-end: a gateway that requires an API key. The UI asks for the key once, keeps it for the
// tab, sends it as Bearer, and streams live with a short-lived stream token. A second gateway with
// SWARMSCOPE_API_KEYS is started here on the stack's NATS (store and replay are shared).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { makeSwarm } from '../shared/swarm.mjs';
import { eventually, newPage, openBrowser, shot, text, uniqueId } from './helpers.mjs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const KEY = 'e2e-secret-key-0123456789';
const NATS = process.env.SWARMSCOPE_NATS_URL;
let gateway;
let url;
let browser;

const freePort = () =>
  new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

before(async () => {
  assert.ok(NATS, 'SWARMSCOPE_NATS_URL is required (scripts/with_stack.py exports it)');
  const port = await freePort();
  const python = existsSync(`${ROOT}.venv/bin/python`) ? `${ROOT}.venv/bin/python` : 'python3';
  gateway = spawn(python, ['-m', 'swarmscope_gateway'], {
    cwd: ROOT,
    env: {
      ...process.env,
      SWARMSCOPE_NATS_URL: NATS,
      SWARMSCOPE_GATEWAY_PORT: String(port),
      SWARMSCOPE_API_KEYS: KEY,
      SWARMSCOPE_GATEWAY_FRONTEND_DIST: fileURLToPath(new URL('../dist', import.meta.url)),
      PYTHONUNBUFFERED: '1',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  gateway.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  url = `http://127.0.0.1:${port}`;
  await eventually(
    async () => {
      if (gateway.exitCode !== null) assert.fail(`the keyed gateway exited: ${stderr}`);
      return (await fetch(`${url}/readyz`)).ok;
    },
    'the keyed gateway to be ready',
    60_000,
  );
  browser = await openBrowser();
});

after(async () => {
  await browser?.close();
  if (gateway && gateway.exitCode === null) {
    gateway.kill('SIGTERM');
    await new Promise((r) => gateway.once('exit', r));
  }
});

test('with API keys the UI asks for a key once, then lists, opens and streams a session', async (t) => {
  const sid = uniqueId('e2e-auth');
  const events = makeSwarm({ sessionId: sid });
  const post = (batch) =>
    fetch(`${url}/api/v1/ingest`, { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${KEY}` }, body: JSON.stringify(batch) });
  assert.equal((await fetch(`${url}/api/v1/sessions`)).status, 401, 'the API is closed without a key');
  assert.equal((await post(events.slice(0, 30))).status, 202);

  const page = await newPage(browser, t);
  await page.goto(`${url}/`);
  const dialog = page.getByRole('dialog', { name: 'API key required' });
  await dialog.waitFor({ timeout: 15_000 });
  await shot(page, 'auth-prompt');
  await page.locator('#api-key').fill(KEY);
  await page.getByRole('button', { name: 'Use key' }).click();
  const row = page.locator(`tr[data-session="${sid}"]`);
  await row.waitFor({ timeout: 30_000 });
  assert.equal(await dialog.count(), 0);

  // The key is kept for the tab: opening the session asks nothing, and the SSE stream (which cannot
  // carry headers) runs on a stream token.
  await row.locator('a.session-link').click();
  await eventually(async () => Number((await text(page, '[data-testid=event-count]')).replace(/,/g, '')) === 30, '30 events on the dashboard');
  await eventually(async () => (await page.locator('.stream-open').count()) === 1, 'the live stream open');
  assert.equal((await post(events.slice(30))).status, 202);
  await eventually(async () => Number((await text(page, '[data-testid=event-count]')).replace(/,/g, '')) === events.length, 'live events over the token stream');
  assert.equal(await page.evaluate(() => sessionStorage.getItem('swarmscope.apiKey')), KEY);
  assert.equal(await page.evaluate(() => localStorage.getItem('swarmscope.apiKey')), null, 'the key is not kept beyond the tab');
});

test('with API keys a refused key is asked again with the reason, and the right one then works', async (t) => {
  const sid = uniqueId('e2e-auth-retry');
  const events = makeSwarm({ sessionId: sid });
  const res = await fetch(`${url}/api/v1/ingest`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${KEY}` },
    body: JSON.stringify(events),
  });
  assert.equal(res.status, 202);

  const page = await newPage(browser, t);
  await page.goto(`${url}/`);
  const dialog = page.getByRole('dialog', { name: 'API key required' });
  await dialog.waitFor({ timeout: 15_000 });
  assert.equal(await page.getByTestId('api-key-error').count(), 0, 'no refusal before a key was given');
  await page.locator('#api-key').fill('not-the-key-0000');
  await page.getByRole('button', { name: 'Use key' }).click();
  // The prompt comes back, saying why, with the field empty for another try.
  const refusal = page.getByTestId('api-key-error');
  await refusal.waitFor({ timeout: 15_000 });
  assert.match(await refusal.innerText(), /refused that key: unknown API key/);
  assert.equal(await page.locator('#api-key').inputValue(), '');
  await shot(page, 'auth-prompt-refused');
  await page.locator('#api-key').fill(KEY);
  await page.getByRole('button', { name: 'Use key' }).click();
  await page.locator(`tr[data-session="${sid}"]`).waitFor({ timeout: 30_000 });
  assert.equal(await dialog.count(), 0);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('swarmscope.apiKey')), KEY);
});

test('with API keys the export links download the session (stream token in the URL, never the key)', async (t) => {
  const sid = uniqueId('e2e-auth-export');
  const events = makeSwarm({ sessionId: sid });
  const res = await fetch(`${url}/api/v1/ingest`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${KEY}` },
    body: JSON.stringify(events),
  });
  assert.equal(res.status, 202);
  assert.equal((await fetch(`${url}/api/v1/sessions/${sid}/export?format=jsonl`)).status, 401, 'the plain export link is closed');
  // The store has every event before the export is compared with them.
  await eventually(async () => {
    const r = await fetch(`${url}/api/v1/sessions/${sid}`, { headers: { Authorization: `Bearer ${KEY}` } });
    return r.ok && (await r.json()).event_count === events.length;
  }, 'every event stored');

  const page = await newPage(browser, t);
  await page.goto(`${url}/`);
  await page.getByRole('dialog', { name: 'API key required' }).waitFor({ timeout: 15_000 });
  await page.locator('#api-key').fill(KEY);
  await page.getByRole('button', { name: 'Use key' }).click();
  const row = page.locator(`tr[data-session="${sid}"]`);
  await row.waitFor({ timeout: 30_000 });

  const exported = async (link) => {
    const [download] = await Promise.all([page.waitForEvent('download', { timeout: 15_000 }), link.click()]);
    assert.equal(download.suggestedFilename(), `${sid}.jsonl`);
    const u = new URL(download.url());
    assert.match(u.searchParams.get('token') ?? '', /^v2\./, 'the download carries a stream token');
    assert.ok(!download.url().includes(KEY), 'the API key never travels in a URL');
    assert.equal(await download.failure(), null);
    const body = await new Promise((resolve, reject) => {
      download.createReadStream().then((s) => {
        let out = '';
        s.on('data', (d) => (out += d));
        s.on('end', () => resolve(out));
        s.on('error', reject);
      }, reject);
    });
    const lines = body.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines.length, events.length);
    assert.deepEqual(new Set(lines.map((e) => e.session_id)), new Set([sid]));
    assert.deepEqual(lines.map((e) => e.id).sort(), events.map((e) => e.id).sort());
    return u;
  };

  // From the sessions list…
  const fromList = await exported(row.getByRole('link', { name: `export ${sid} as JSONL` }));
  // …and from the dashboard header.
  await row.locator('a.session-link').click();
  await page.locator('[data-testid=event-count]').waitFor();
  const fromHeader = await exported(page.getByRole('link', { name: `export ${sid} as JSONL` }));
  // The token opens this session's export only: another session's export refuses it.
  const token = fromHeader.searchParams.get('token');
  assert.ok(fromList.searchParams.get('token'));
  const other = await fetch(`${url}/api/v1/sessions/other-${sid}/export?format=jsonl&token=${encodeURIComponent(token)}`);
  assert.equal(other.status, 403);
  const list = await fetch(`${url}/api/v1/sessions?token=${encodeURIComponent(token)}`);
  assert.equal(list.status, 401, 'the token opens nothing but streams and exports');
});
