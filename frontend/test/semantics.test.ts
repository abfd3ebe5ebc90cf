import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { StoredEvent } from '../src/api/types';
import { agentActivityUntil, SESSION_LANE } from '../src/model/agents';
import { categoryOfType, isErrorEvent } from '../src/model/categories';
import { eventLabel } from '../src/model/labels';

// docs/contract/semantics-cases.json: a session exercising every row of swarmscope_schema.semantics,
// each event with the label, category, error flag and statuses the Python side gives it (the
// store and replay are held to the same statuses by tests/integration/test_semantics_agreement.py).
interface Case {
  event: StoredEvent;
  label: string;
  category: string;
  is_error: boolean;
  after: { agents: Record<string, { status: string; current_task: string | null }> };
}
const path = fileURLToPath(new URL('../../docs/contract/semantics-cases.json', import.meta.url));
const cases = (JSON.parse(readFileSync(path, 'utf8')) as { cases: Case[] }).cases;
const events = cases.map((c) => c.event);

describe('the semantics table, as the frontend reads it', () => {
  it('has cases to check', () => {
    expect(cases.length).toBeGreaterThan(30);
  });

  it.each(cases.map((c, i) => [i + 1, c.event.type, c] as const))('event %i (%s): label, category, error', (_n, _t, c) => {
    expect(eventLabel(c.event)).toBe(c.label);
    expect(categoryOfType(c.event.type)).toBe(c.category);
    expect(isErrorEvent(c.event)).toBe(c.is_error);
  });

  it('gives every agent the status and current task of the table after every event', () => {
    cases.forEach((c, i) => {
      const activity = agentActivityUntil(events, i);
      const agents: Record<string, { status: string | null; current_task: string | null }> = {};
      for (const [id, a] of activity) {
        if (id !== SESSION_LANE) agents[id] = { status: a.status, current_task: a.currentTask };
      }
      expect(agents, `after event ${i + 1} (${c.event.type})`).toEqual(c.after.agents);
    });
  });
});
