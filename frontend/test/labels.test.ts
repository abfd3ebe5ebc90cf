import { describe, expect, it } from 'vitest';
import { eventLabel } from '../src/model/labels';

describe('labels of OTel-born events', () => {
  it('names a spawned agent by its type, else its name (the semantics table)', () => {
    expect(eventLabel({ type: 'agent_spawn', data: { agent_type: 'planner', name: 'planner' } })).toBe('spawn planner');
    expect(eventLabel({ type: 'agent_spawn', data: { agent_type: 'coder', name: 'Coder 1' } })).toBe('spawn coder');
    expect(eventLabel({ type: 'agent_spawn', data: { name: 'Coder 1' } })).toBe('spawn Coder 1');
  });

  it('labels an unmapped span by its name', () => {
    expect(eventLabel({ type: 'custom.otel_span', data: { name: 'GET /search' } })).toBe('span GET /search');
    expect(eventLabel({ type: 'custom.other', data: { name: 'x' } })).toBe('custom.other');
  });
});
