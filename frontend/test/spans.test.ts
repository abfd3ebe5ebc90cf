import { describe, expect, it } from 'vitest';
import { SpanIndex, hasErrorAt, spanDurationAt, spanStatusAt } from '../src/model/spans';
import { ev, findEvent, storedSwarm } from './fixtures';

describe('SpanIndex', () => {
  it('joins start and complete of a span and measures it', () => {
    const idx = new SpanIndex();
    idx.apply([
      ev(1, { span_id: 'sp', phase: 'start', timestamp: 1000 }),
      ev(2, { span_id: 'sp', phase: 'progress', timestamp: 1100 }),
      ev(3, { span_id: 'sp', phase: 'complete', timestamp: 1250 }),
    ]);
    const sp = idx.get('sp');
    expect(sp?.eventCount).toBe(3);
    expect(sp && spanStatusAt(sp, 2)).toBe('open');
    expect(sp && spanStatusAt(sp, 3)).toBe('complete');
    expect(sp && spanDurationAt(sp, 3, 0)).toBe(250);
    expect(sp && spanDurationAt(sp, 2, 1200)).toBe(200);
  });

  it('a single complete event with a duration starts duration earlier', () => {
    const idx = new SpanIndex();
    idx.apply([ev(1, { timestamp: 5000, performance: { duration: 300 } })]);
    expect(idx.get('e1')?.startTime).toBe(4700);
  });

  it('errors mark the span and its ancestors, from the error on', () => {
    const idx = new SpanIndex();
    idx.apply([
      ev(1, { span_id: 'root', phase: 'start' }),
      ev(2, { span_id: 'child', phase: 'start', metadata: { parent_id: 'root' } }),
      ev(3, { span_id: 'child', phase: 'error', metadata: { parent_id: 'root' } }),
    ]);
    const root = idx.get('root');
    const child = idx.get('child');
    expect(child && spanStatusAt(child, 3)).toBe('error');
    expect(root && spanStatusAt(root, 3)).toBe('open');
    expect(root && hasErrorAt(root, 2)).toBe(false);
    expect(root && hasErrorAt(root, 3)).toBe(true);
    expect(idx.children.get('root')).toEqual(['child']);
  });

  it('builds the demo swarm: a failed T3 attempt then a passing retry', () => {
    const idx = new SpanIndex();
    const events = storedSwarm('s');
    idx.apply(events);
    const a1 = idx.get('sp_T3_a1');
    const a2 = idx.get('sp_T3_a2');
    expect(a1?.status).toBe('error');
    expect(a2?.status).toBe('complete');
    expect(a1?.label).toBe('start T3');
    const testRun = findEvent(events, 'tool_call', { agentId: 'tst-1', phase: 'error' });
    expect(idx.get(testRun.span_id)?.parentId).toBe('sp_T3_a1');
  });
});
