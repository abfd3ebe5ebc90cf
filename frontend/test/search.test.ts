import { describe, expect, it } from 'vitest';
import { isEmptyQuery, matches, nextHit, parseSearch, searchEvents } from '../src/model/search';
import { ev, storedSwarm } from './fixtures';

describe('search', () => {
  it('parses free text and type/agent/phase tokens', () => {
    expect(parseSearch('connection refused type:error agent:tst-1')).toEqual({ text: 'connection refused', type: 'error', agent: 'tst-1', phase: null });
    expect(parseSearch('"a b"  phase:error').text).toBe('a b');
    expect(isEmptyQuery(parseSearch('  '))).toBe(true);
  });

  it('matches text anywhere in the payload, case-insensitively', () => {
    const e = ev(1, { data: { message: 'Connection REFUSED by redis' } });
    expect(matches(e, parseSearch('refused redis'))).toBe(true);
    expect(matches(e, parseSearch('refused postgres'))).toBe(false);
  });

  it('supports type prefixes and phase', () => {
    const events = storedSwarm('s');
    const tasks = searchEvents(events, parseSearch('type:task_*'));
    expect(tasks.length).toBeGreaterThan(5);
    expect(tasks.every((s) => events[s - 1]?.type.startsWith('task_'))).toBe(true);
    const errs = searchEvents(events, parseSearch('phase:error agent:tst-1'));
    expect(errs.map((s) => events[s - 1]?.type)).toEqual(['tool_call', 'task_fail', 'agent_method']); // the failing pytest call, T3's first attempt, the execute() that ran it
  });

  it('finds the hostile string as text', () => {
    const events = storedSwarm('s', { hostile: '<img src=x onerror=alert(1)>' });
    expect(searchEvents(events, parseSearch('onerror')).length).toBeGreaterThan(0);
  });

  it('jumps to the next/previous hit from the cursor, wrapping', () => {
    expect(nextHit([3, 8, 12], 5, 1)).toBe(8);
    expect(nextHit([3, 8, 12], 12, 1)).toBe(3);
    expect(nextHit([3, 8, 12], 8, -1)).toBe(3);
    expect(nextHit([3, 8, 12], 2, -1)).toBe(12);
    expect(nextHit([], 2, 1)).toBeNull();
  });
});
