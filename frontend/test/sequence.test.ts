import { describe, expect, it } from 'vitest';
import type { StoredEvent } from '../src/api/types';
import { lifelines, preview, SequenceIndex } from '../src/model/sequence';
import { ev, storedSwarm } from './fixtures';

function msg(seq: number, id: string, from: string, to: string[], extra: Record<string, unknown> = {}, direction = 'sent'): StoredEvent {
  return ev(seq, { type: 'communication', agent_id: direction === 'sent' ? from : (to[0] as string), data: { message: { id, from, to, type: 'request', ...extra }, direction } as never });
}

describe('message sequence', () => {
  it('orders messages, hand-offs and spawns by seq, one row per message even when sent and received are traced', () => {
    const idx = new SequenceIndex();
    idx.apply([
      ev(1, { type: 'agent_spawn', agent_id: 'cod', data: { agent_type: 'coder', parent_agent_id: 'coord' } }),
      ev(2, { type: 'task_assignment', agent_id: 'coord', data: { task_id: 'T1', agent_id: 'cod', attempt: 2 } }),
      msg(3, 'm1', 'coord', ['cod']),
      msg(4, 'm1', 'coord', ['cod'], {}, 'received'),
      msg(6, 'm2', 'cod', ['coord'], { in_reply_to: 'm1', content: { task_id: 'T1', passed: 12 } }),
    ]);
    expect(idx.items.map((i) => [i.seq, i.kind, i.from, i.to])).toEqual([
      [1, 'spawn', 'coord', ['cod']],
      [2, 'handoff', 'coord', ['cod']],
      [3, 'message', 'coord', ['cod']],
      [6, 'message', 'cod', ['coord']],
    ]);
    expect(idx.items[1]?.label).toBe('assign T1 (attempt 2)');
    // The reply knows its request.
    expect(idx.message(idx.items[3]?.replyTo ?? null)?.seq).toBe(3);
    expect(idx.items[3]?.label).toBe('request: task_id T1 · passed 12');
    // The cursor line sits after the last exchange at or before the cursor.
    expect(idx.indexAtOrBefore(5)).toBe(2);
    expect(idx.indexAtOrBefore(0)).toBe(-1);
  });

  it('keeps seq order whatever order history pages arrive in, and the earliest copy of a message', () => {
    const events = storedSwarm('s', { workPerTask: 2 });
    const inOrder = new SequenceIndex();
    inOrder.apply(events);
    const shuffled = new SequenceIndex();
    shuffled.apply(events.slice(100));
    shuffled.apply(events.slice(0, 100));
    expect(shuffled.items.map((i) => i.seq)).toEqual(inOrder.items.map((i) => i.seq));
    expect(inOrder.items.length).toBeGreaterThan(5);
    const late = new SequenceIndex();
    late.apply([msg(9, 'm1', 'a', ['b'], {}, 'received')]);
    late.apply([msg(5, 'm1', 'a', ['b'])]);
    expect(late.items.map((i) => i.seq)).toEqual([5]);
  });

  it('names lifelines in agent order, then any other agent a message names', () => {
    const idx = new SequenceIndex();
    idx.apply([msg(1, 'm', 'b', ['a', 'outsider'])]);
    expect(lifelines(idx.items, ['a', 'b', 'c'])).toEqual(['a', 'b', 'outsider']);
    expect(preview('  many   words\nhere ')).toBe('many words here');
  });
});
