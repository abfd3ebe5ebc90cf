import type { StoredEvent } from '../api/types';
import { semanticLabel } from './semantics';

/**
 * A short human label for what an event is about (used for spans, rows and tooltips): the
 * semantics table's `verb detail` (`tool Bash`, `start T1`, `msg a→b (request)`), the same label
 * the store gives its spans and replay its call-stack frames.
 */
export function eventLabel(ev: Pick<StoredEvent, 'type' | 'data'>): string {
  return semanticLabel(ev.type, ev.data);
}

/** Label of a span: the label of its opening event (as the store labels its spans). */
export function spanLabel(ev: Pick<StoredEvent, 'type' | 'data'>): string {
  return eventLabel(ev);
}
