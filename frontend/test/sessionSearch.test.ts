import { describe, expect, it } from 'vitest';
import { activeFilters, filtersFromParams, filtersToParams, filtersToQuery, fromLocalInput, NO_FILTERS, toLocalInput } from '../src/model/sessionSearch';

describe('sessions search', () => {
  it('hides the internal _system session unless asked for', () => {
    expect(filtersToQuery(NO_FILTERS).system).toBe('exclude');
    expect(filtersToQuery({ ...NO_FILTERS, internal: true }).system).toBe('include');
  });

  it('round-trips every filter through the URL', () => {
    const f = { ...NO_FILTERS, q: 'rate', status: 'failed', tool: 'Bash', model: 'claude-opus-4', agent_type: 'tester', error_type: 'ConnectionError', from: 1000, to: 2000, minCost: '0.1', maxCost: '2', internal: true };
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(filtersToParams(f))) if (v !== null) params.set(k, v);
    expect(filtersFromParams(params)).toEqual(f);
    expect(activeFilters(f)).toBe(7);
    expect(filtersToQuery(f)).toEqual({
      q: 'rate',
      status: 'failed',
      agent_type: 'tester',
      tool: 'Bash',
      model: 'claude-opus-4',
      error_type: 'ConnectionError',
      from_ts: 1000,
      to_ts: 2000,
      min_cost: 0.1,
      max_cost: 2,
      system: 'include',
    });
  });

  it('ignores a cost that is not a number, and reads local times', () => {
    expect(filtersToQuery({ ...NO_FILTERS, minCost: 'abc', maxCost: '-1' })).toMatchObject({ min_cost: undefined, max_cost: undefined });
    const t = fromLocalInput('2026-03-04T05:06');
    expect(toLocalInput(t)).toBe('2026-03-04T05:06');
    expect(fromLocalInput('')).toBeNull();
  });
});
