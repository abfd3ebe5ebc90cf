// End-to-end: a session born from an OpenTelemetry export looks like an SDK-born one in the UI:
// the list says it came over OTLP, the dashboard has its agents' lanes, tool and LLM calls.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { GATEWAY, eventually, newPage, openBrowser, shot, storedEvents, text, uniqueId } from './helpers.mjs';

let browser;

before(async () => {
  browser = await openBrowser();
});
after(async () => {
  await browser?.close();
});

const hex = (bytes) => randomBytes(bytes).toString('hex');
const attr = (key, value) =>
  typeof value === 'number' ? { key, value: { intValue: String(value) } } : { key, value: { stringValue: value } };

/** An OTLP JSON export (the OTLP/HTTP JSON encoding: hex ids, string int64s) of a GenAI agent run. */
function genaiExport(conversation) {
  const traceId = hex(16);
  const t0 = BigInt(Date.now()) * 1_000_000n;
  const at = (ms) => String(t0 + BigInt(ms) * 1_000_000n);
  const span = (spanId, parent, name, start, end, attributes, status) => ({
    traceId,
    spanId,
    ...(parent ? { parentSpanId: parent } : {}),
    name,
    kind: 1,
    startTimeUnixNano: at(start),
    endTimeUnixNano: at(end),
    attributes: Object.entries(attributes).map(([k, v]) => attr(k, v)),
    status: status ?? { code: 1 },
  });
  const planner = hex(8);
  const coder = hex(8);
  const spans = [
    span(planner, null, 'invoke_agent planner', 0, 900, {
      'gen_ai.operation.name': 'invoke_agent',
      'gen_ai.agent.name': 'planner',
      'gen_ai.conversation.id': conversation,
    }),
    span(hex(8), planner, 'chat gpt-4o', 20, 300, {
      'gen_ai.operation.name': 'chat',
      'gen_ai.request.model': 'gpt-4o',
      'gen_ai.usage.input_tokens': 420,
      'gen_ai.usage.output_tokens': 64,
    }),
    span(hex(8), planner, 'execute_tool search', 320, 400, {
      'gen_ai.operation.name': 'execute_tool',
      'gen_ai.tool.name': 'search',
      'gen_ai.tool.call.arguments': '{"q": "token bucket"}',
    }),
    span(coder, planner, 'invoke_agent coder', 420, 880, {
      'gen_ai.operation.name': 'invoke_agent',
      'gen_ai.agent.name': 'coder',
    }),
    span(hex(8), coder, 'execute_tool write_file', 450, 600, {
      'gen_ai.operation.name': 'execute_tool',
      'gen_ai.tool.name': 'write_file',
    }, { code: 2, message: 'disk full' }),
  ];
  return {
    resourceSpans: [
      {
        resource: { attributes: [attr('service.name', 'e2e-agents')] },
        scopeSpans: [{ scope: { name: 'e2e' }, spans }],
      },
    ],
  };
}

describe('OTLP-born sessions in the UI', () => {
  test('the list says OTLP and the dashboard shows the agents and their calls', async (t) => {
    const conversation = uniqueId('e2e-otlp');
    const headers = { 'Content-Type': 'application/json' };
    if (process.env.SWARMSCOPE_E2E_API_KEY) headers.Authorization = `Bearer ${process.env.SWARMSCOPE_E2E_API_KEY}`;
    const res = await fetch(`${GATEWAY}/v1/traces`, { method: 'POST', headers, body: JSON.stringify(genaiExport(conversation)) });
    assert.equal(res.status, 200, await res.text());
    // 5 spans × (start, end) + 2 agent spawns + 1 hand-off
    await storedEvents(conversation, 13);

    const page = await newPage(browser, t);
    await page.goto(`${GATEWAY}/`);
    const row = page.locator(`tr[data-session="${conversation}"]`);
    await row.waitFor({ timeout: 30_000 });
    assert.equal((await row.locator('.source-badge').innerText()).trim(), 'OTLP');
    await row.locator('a.session-link').click();
    await page.waitForURL(`**/sessions/${conversation}`);
    await eventually(async () => Number((await text(page, '[data-testid=event-count]')).replace(/,/g, '')) === 13, 'the 13 events on the dashboard');
    const agents = await page.locator('.agent-panel .agent-id').allInnerTexts();
    assert.ok(agents.includes('planner') && agents.includes('coder'), `agent lanes: ${agents.join(', ')}`);
    await page.getByRole('tab', { name: /events/i }).click();
    await eventually(async () => (await page.getByText('tool write_file').count()) > 0, 'the failed tool call in the event list');
    assert.ok((await page.getByText('llm gpt-4o').count()) > 0, 'the LLM call in the event list');
    await shot(page, 'otlp-session');
  });
});
