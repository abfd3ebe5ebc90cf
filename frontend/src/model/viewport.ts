/**
 * Where the call tree opens and what "fit to view" does: the whole tree when it is readable at
 * the view's size, else a readable zoom (never below READABLE_K, where labels are still legible)
 * showing the span at the cursor, without pushing the tree's left edge (its root and agent labels)
 * off screen or leaving empty space past its ends.
 */
export const READABLE_K = 0.6;

export interface Extent {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

export interface Transform {
  k: number;
  x: number;
  y: number;
}

/** Translation along one axis: centred when it fits, else as near `focus` centred as the ends allow. */
function axis(lo: number, hi: number, size: number, k: number, pad: number, focus: number | null): number {
  const span = (hi - lo) * k;
  if (span <= size - 2 * pad) return (size - span) / 2 - lo * k;
  const maxT = pad - lo * k; // the low end at the padding
  const minT = size - pad - hi * k; // the high end at the padding
  const want = focus === null ? maxT : size / 2 - focus * k;
  return Math.min(maxT, Math.max(minT, want));
}

export function fitTransform(
  b: Extent,
  view: { w: number; h: number },
  focus: { x: number; y: number } | null,
  opts: { pad?: number; minK?: number; maxK?: number } = {},
): Transform {
  const pad = opts.pad ?? 24;
  const minK = opts.minK ?? READABLE_K;
  const maxK = opts.maxK ?? 1.2;
  const bw = Math.max(1, b.x1 - b.x0);
  const bh = Math.max(1, b.y1 - b.y0);
  const all = Math.min((view.w - 2 * pad) / bw, (view.h - 2 * pad) / bh);
  const k = Math.max(minK, Math.min(maxK, all));
  return { k, x: axis(b.x0, b.x1, view.w, k, pad, focus?.x ?? null), y: axis(b.y0, b.y1, view.h, k, pad, focus?.y ?? null) };
}
