import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { StoredEvent } from '../src/api/types';
import { makeSwarm, type WireEvent } from '../shared/swarm.mjs';

interface AliasRule {
  type: string;
  constants?: Record<string, unknown>;
  fields?: Record<string, string[]>;
}
// docs/contract/aliases.json: how ingest renames Claude-Flow's own event names (the story, traced
// through the SDK, has a few: resource:acquired, resource:released).
const ALIASES = JSON.parse(readFileSync(fileURLToPath(new URL('../../docs/contract/aliases.json', import.meta.url)), 'utf8')) as {
  rules: Record<string, AliasRule>;
  whole_payload: string;
};

function lookup(data: Record<string, unknown>, spec: string): unknown {
  if (spec === ALIASES.whole_payload) return data;
  return spec.split('.').reduce<unknown>((v, k) => (v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), data);
}

/** A wire event under its canonical type, as ingest normalizes an alias (its fields and constants). */
function canonical(e: WireEvent): WireEvent {
  const rule = ALIASES.rules[e.type];
  if (!rule) return e;
  const data: Record<string, unknown> = { ...e.data, ...rule.constants };
  for (const [field, specs] of Object.entries(rule.fields ?? {})) {
    const found = specs.map((spec) => lookup(e.data, spec)).find((v) => v !== undefined);
    if (found !== undefined) data[field] = found;
  }
  return { ...e, type: rule.type, data };
}

/** A stored event of the story: its span and metadata always there, as the store gives them. */
export type StoryEvent = StoredEvent & { span_id: string; metadata: NonNullable<StoredEvent['metadata']> };

/** The swarm story (shared/swarm.mjs) as the store would return it: canonical events plus seq (from 1). */
export function storedSwarm(sessionId = 's1', opts: { workPerTask?: number; hostile?: string } = {}): StoryEvent[] {
  return makeSwarm({ sessionId, t0: 1_700_000_000_000, workPerTask: opts.workPerTask ?? 1, hostile: opts.hostile ?? null }).map(
    (e, i) =>
      ({
        phase: 'complete',
        ...canonical(e),
        metadata: e.metadata ?? {},
        span_id: e.span_id ?? e.id,
        seq: i + 1,
        received_at: e.timestamp + 1,
      }) as StoryEvent,
  );
}

/**
 * A point of the story found by meaning: the first event of `type` (by `agentId`, in `phase`) whose
 * data has every other item given (swarmscope_dev.story.find is the Python side).
 */
export function findEvent(events: StoryEvent[], type: string, where: { agentId?: string; phase?: string } & Record<string, unknown> = {}): StoryEvent {
  const { agentId, phase, ...data } = where;
  const found = events.find(
    (e) =>
      e.type === type &&
      (agentId === undefined || e.agent_id === agentId) &&
      (phase === undefined || e.phase === phase) &&
      Object.entries(data).every(([k, v]) => (e.data as Record<string, unknown>)[k] === v),
  );
  if (!found) throw new Error(`no ${type} ${JSON.stringify(where)} in the story`);
  return found;
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
