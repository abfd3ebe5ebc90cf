import type { Category } from '../model/categories';

/**
 * The props the trace graph hands to each of its layouts, in a module of their own: the layouts
 * (WaterfallView, …) are lazily loaded by TraceGraph, so importing these types from TraceGraph made
 * an import circle TraceGraph ↔ WaterfallView.
 */
export type GraphLayoutName = 'hierarchical' | 'force' | 'sequence' | 'timeline';

/** What the graph toolbar filters: categories shown (null = all), completed spans, tree depth. */
export interface GraphFilters {
  categories: Set<Category> | null;
  hideCompleted: boolean;
  maxDepth: number;
}
