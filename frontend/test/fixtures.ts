import type { StoredEvent } from '../src/api/types';
import { makeSwarm } from '../shared/swarm.mjs';

/** The demo swarm as the store would return it: canonical events plus seq (from 1). */
export function storedSwarm(sessionId = 's1', opts: { workPerTask?: number; hostile?: string } = {}): StoredEvent[] {
  return makeSwarm({ sessionId, t0: 1_700_000_000_000, workPerTask: opts.workPerTask ?? 2, hostile: opts.hostile ?? null }).map(
    (e, i) =>
      ({
        phase: 'complete',
        metadata: {},
        ...e,
        span_id: e.span_id ?? e.id,
        seq: i + 1,
        received_at: e.timestamp + 1,
      }) as StoredEvent,
  );
}

export function ev(seq: number, extra: Partial<StoredEvent> = {}): StoredEvent {
  return {
    id: `e${seq}`,
    seq,
    timestamp: 1000 + seq * 10,
    session_id: 's',
    agent_id: 'a1',
    type: 'tool_call',
    phase: 'complete',
    span_id: `e${seq}`,
    data: { tool: 'Bash' },
    metadata: {},
    ...extra,
  };
}
