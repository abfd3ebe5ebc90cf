import type { StoredEvent } from '../api/types';
import { semanticCategory, semanticIsError } from './semantics';

/**
 * Visual category of an event (seed §5.2 colours, UI.md): colour is never the only carrier of
 * meaning, so each category also has a shape (canvas/SVG) and a glyph (text).
 */
export type Category =
  | 'method'
  | 'message'
  | 'task'
  | 'memory'
  | 'error'
  | 'tool'
  | 'llm'
  | 'agent'
  | 'session'
  | 'decision'
  | 'other';

export type Shape = 'circle' | 'triangle' | 'square' | 'diamond' | 'cross' | 'hexagon' | 'star' | 'ring' | 'bar' | 'dot';

export interface CategoryStyle {
  label: string;
  color: string;
  shape: Shape;
  glyph: string;
}

export const CATEGORY_STYLES: Record<Category, CategoryStyle> = {
  method: { label: 'agent method', color: '#4caf50', shape: 'circle', glyph: '●' },
  message: { label: 'communication', color: '#2196f3', shape: 'triangle', glyph: '▲' },
  task: { label: 'task', color: '#ff9800', shape: 'square', glyph: '■' },
  memory: { label: 'memory', color: '#ab47bc', shape: 'diamond', glyph: '◆' },
  error: { label: 'error', color: '#f44336', shape: 'cross', glyph: '✖' },
  tool: { label: 'tool call', color: '#9e9e9e', shape: 'hexagon', glyph: '⬢' },
  llm: { label: 'LLM call', color: '#bdbdbd', shape: 'star', glyph: '★' },
  agent: { label: 'agent lifecycle', color: '#8d9aa5', shape: 'ring', glyph: '○' },
  session: { label: 'session', color: '#cfd8dc', shape: 'bar', glyph: '▌' },
  decision: { label: 'decision / coordination', color: '#a1887f', shape: 'dot', glyph: '◇' },
  other: { label: 'other', color: '#757575', shape: 'dot', glyph: '·' },
};

export const ALL_CATEGORIES = Object.keys(CATEGORY_STYLES) as Category[];

/** True when the event reports a failure: an error event, an error phase or a failed task
 * (the semantics table's error types). */
export function isErrorEvent(ev: Pick<StoredEvent, 'type' | 'phase'>): boolean {
  return semanticIsError(ev.type, ev.phase);
}

function isCategory(c: string): c is Category {
  return Object.hasOwn(CATEGORY_STYLES, c);
}

/** The category of a type: the semantics table's key (unknown and custom types are 'other'). */
export function categoryOfType(type: string): Category {
  const c = semanticCategory(type);
  return isCategory(c) ? c : 'other';
}

export function categoryOf(ev: Pick<StoredEvent, 'type' | 'phase'>): Category {
  if (isErrorEvent(ev)) return 'error';
  return categoryOfType(ev.type);
}

/** Status glyphs: shape + word, so status never relies on colour. */
export function agentStatusGlyph(status: string | null | undefined): string {
  switch (status) {
    case 'busy':
    case 'running':
      return '◐';
    case 'error':
    case 'failed':
      return '✖';
    case 'terminated':
    case 'offline':
    case 'terminating':
      return '○';
    case 'paused':
    case 'blocked':
      return '❚';
    default:
      return '●';
  }
}

export function taskStatusGlyph(status: string | null | undefined): string {
  switch (status) {
    case 'completed':
      return '✔';
    case 'failed':
    case 'timeout':
      return '✖';
    case 'retrying':
      return '↻';
    case 'running':
      return '▶';
    case 'cancelled':
      return '⊘';
    case 'assigned':
    case 'queued':
      return '…';
    default:
      return '○';
  }
}

export function sessionStatusGlyph(status: string | null | undefined): string {
  switch (status) {
    case 'active':
    case 'running':
      return '●';
    case 'completed':
      return '✔';
    case 'failed':
    case 'error':
      return '✖';
    default:
      return '○';
  }
}
