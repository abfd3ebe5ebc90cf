import { describe, expect, it } from 'vitest';
import { fitTransform, READABLE_K } from '../src/model/viewport';

const view = { w: 800, h: 400 };

describe('call tree viewport', () => {
  it('fits a small tree whole, centred', () => {
    const t = fitTransform({ x0: 0, y0: 0, x1: 400, y1: 200 }, view, null);
    expect(t.k).toBeCloseTo(1.2);
    expect(t.x).toBeCloseTo((800 - 480) / 2);
  });

  it('never zooms a big tree below a readable scale (113 spans do not become 22 %)', () => {
    const tall = { x0: 0, y0: 0, x1: 1200, y1: 113 * 24 };
    const t = fitTransform(tall, view, { x: 900, y: 1500 });
    expect(t.k).toBe(READABLE_K);
    // The span at the cursor is on screen.
    expect(900 * t.k + t.x).toBeGreaterThanOrEqual(0);
    expect(900 * t.k + t.x).toBeLessThanOrEqual(800);
    expect(1500 * t.k + t.y).toBeCloseTo(200);
  });

  it('keeps the left edge (root and agent labels) on screen instead of centring a node far right', () => {
    const wide = { x0: -12, y0: 0, x1: 3000, y1: 3000 };
    const t = fitTransform(wide, view, { x: 30, y: 100 });
    expect(-12 * t.k + t.x).toBeGreaterThanOrEqual(24 - 1e-9); // the left end is not cut
    expect(100 * t.k + t.y).toBeGreaterThanOrEqual(0);
    // Nor empty space past the far end when the focus is there.
    const far = fitTransform(wide, view, { x: 2990, y: 2990 });
    expect(3000 * far.k + far.x).toBeCloseTo(800 - 24);
    expect(3000 * far.k + far.y).toBeCloseTo(400 - 24);
  });
});
