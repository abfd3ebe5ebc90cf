export interface WireEvent {
  id: string;
  timestamp: number;
  session_id: string;
  agent_id?: string;
  type: string;
  phase?: 'start' | 'progress' | 'complete' | 'error';
  span_id?: string;
  data: Record<string, unknown>;
  metadata?: { parent_id?: string; correlation_id?: string; tags?: string[]; priority?: string };
  performance?: Record<string, number>;
  agent_seq?: number;
}
export type StoryEnding = 'retried' | 'failing' | 'calm';
export const STORY_FILES: Record<StoryEnding, string>;
export function storyEvents(ending?: StoryEnding): WireEvent[];
export function makeSwarm(opts: {
  sessionId: string;
  t0?: number;
  workPerTask?: number;
  hostile?: string | null;
  failTest?: boolean;
  failing?: boolean;
  name?: string;
}): WireEvent[];
export function makeLiveTail(sessionId: string, startIndex: number, count: number, t0?: number): WireEvent[];
export function makeCrowd(opts: { sessionId: string; agents?: number; t0?: number; name?: string }): WireEvent[];
