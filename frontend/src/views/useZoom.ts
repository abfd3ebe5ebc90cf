import { useCallback, useEffect, useRef, useState, type RefObject } from 'react';
import { select } from 'd3-selection';
import { zoom, zoomIdentity, type ZoomBehavior, type ZoomTransform } from 'd3-zoom';

export interface Bounds {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/**
 * Pan and zoom an SVG with d3-zoom. The transform is applied to the layer directly on every zoom
 * event (no React render); React learns the transform at most once per frame, for culling.
 */
export function useZoom(svgRef: RefObject<SVGSVGElement | null>, layerRef: RefObject<SVGGElement | null>) {
  const [transform, setTransform] = useState<ZoomTransform>(zoomIdentity);
  const behavior = useRef<ZoomBehavior<SVGSVGElement, unknown> | null>(null);
  const frame = useRef<number | null>(null);
  const latest = useRef<ZoomTransform>(zoomIdentity);

  useEffect(() => {
    const svg = svgRef.current;
    if (!svg) return;
    const zb = zoom<SVGSVGElement, unknown>()
      .scaleExtent([0.02, 6])
      .on('zoom', (e: { transform: ZoomTransform }) => {
        latest.current = e.transform;
        layerRef.current?.setAttribute('transform', e.transform.toString());
        if (frame.current === null) {
          frame.current = requestAnimationFrame(() => {
            frame.current = null;
            setTransform(latest.current);
          });
        }
      });
    behavior.current = zb;
    const sel = select(svg);
    sel.call(zb).on('dblclick.zoom', null);
    return () => {
      sel.on('.zoom', null);
      if (frame.current !== null) cancelAnimationFrame(frame.current);
    };
  }, [svgRef, layerRef]);

  const apply = useCallback(
    (t: ZoomTransform) => {
      const svg = svgRef.current;
      if (svg && behavior.current) select(svg).call(behavior.current.transform, t);
    },
    [svgRef],
  );

  const zoomBy = useCallback(
    (k: number) => {
      const svg = svgRef.current;
      if (svg && behavior.current) select(svg).call(behavior.current.scaleBy, k);
    },
    [svgRef],
  );

  /** Fits bounds into the view (never zooming in past 1.5x: a small tree stays readable). */
  const fit = useCallback(
    (b: Bounds, pad = 30, maxK = 1.5, minK = 0.05) => {
      const svg = svgRef.current;
      if (!svg) return;
      const w = svg.clientWidth || 800;
      const h = svg.clientHeight || 400;
      const bw = Math.max(1, b.x1 - b.x0);
      const bh = Math.max(1, b.y1 - b.y0);
      const k = Math.max(minK, Math.min(maxK, (w - pad * 2) / bw, (h - pad * 2) / bh));
      apply(zoomIdentity.translate(w / 2 - ((b.x0 + b.x1) / 2) * k, h / 2 - ((b.y0 + b.y1) / 2) * k).scale(k));
    },
    [svgRef, apply],
  );

  /** Pans so that (x, y) in layer coordinates is in view, keeping the zoom level. */
  const reveal = useCallback(
    (x: number, y: number, margin = 60) => {
      const svg = svgRef.current;
      if (!svg) return;
      const t = latest.current;
      const w = svg.clientWidth || 800;
      const h = svg.clientHeight || 400;
      const sx = t.applyX(x);
      const sy = t.applyY(y);
      if (sx >= margin && sx <= w - margin && sy >= margin && sy <= h - margin) return;
      apply(zoomIdentity.translate(w / 2 - x * t.k, h / 2 - y * t.k).scale(t.k));
    },
    [svgRef, apply],
  );

  return { transform, zoomBy, fit, reveal, apply };
}
