import type { Shape } from './categories';

/** SVG path data of a shape centred on (0,0) with radius r; canvas draws the same via Path2D. */
export function shapePath(shape: Shape, r: number): string {
  const f = (n: number) => n.toFixed(2);
  switch (shape) {
    case 'circle':
    case 'dot':
    case 'ring': {
      const rr = shape === 'dot' ? r * 0.7 : r;
      return `M${f(-rr)},0a${f(rr)},${f(rr)} 0 1,0 ${f(rr * 2)},0a${f(rr)},${f(rr)} 0 1,0 ${f(-rr * 2)},0Z`;
    }
    case 'square':
      return `M${f(-r * 0.85)},${f(-r * 0.85)}h${f(r * 1.7)}v${f(r * 1.7)}h${f(-r * 1.7)}Z`;
    case 'diamond':
      return `M0,${f(-r * 1.15)}L${f(r * 1.15)},0L0,${f(r * 1.15)}L${f(-r * 1.15)},0Z`;
    case 'triangle':
      return `M0,${f(-r * 1.1)}L${f(r * 1.05)},${f(r * 0.85)}L${f(-r * 1.05)},${f(r * 0.85)}Z`;
    case 'cross': {
      const a = r * 1.05;
      const w = r * 0.38;
      return `M${f(-a)},${f(-a + w)}L${f(-a + w)},${f(-a)}L0,${f(-w)}L${f(a - w)},${f(-a)}L${f(a)},${f(-a + w)}L${f(w)},0L${f(a)},${f(a - w)}L${f(a - w)},${f(a)}L0,${f(w)}L${f(-a + w)},${f(a)}L${f(-a)},${f(a - w)}L${f(-w)},0Z`;
    }
    case 'hexagon': {
      const pts: string[] = [];
      for (let i = 0; i < 6; i++) {
        const t = (Math.PI / 3) * i + Math.PI / 6;
        pts.push(`${f(Math.cos(t) * r)},${f(Math.sin(t) * r)}`);
      }
      return `M${pts.join('L')}Z`;
    }
    case 'star': {
      const pts: string[] = [];
      for (let i = 0; i < 10; i++) {
        const t = (Math.PI / 5) * i - Math.PI / 2;
        const rr = i % 2 === 0 ? r * 1.2 : r * 0.5;
        pts.push(`${f(Math.cos(t) * rr)},${f(Math.sin(t) * rr)}`);
      }
      return `M${pts.join('L')}Z`;
    }
    case 'bar':
      return `M${f(-r * 0.35)},${f(-r * 1.1)}h${f(r * 0.7)}v${f(r * 2.2)}h${f(-r * 0.7)}Z`;
    default:
      return `M${f(-r)},0a${f(r)},${f(r)} 0 1,0 ${f(r * 2)},0a${f(r)},${f(r)} 0 1,0 ${f(-r * 2)},0Z`;
  }
}

/** True for outlined shapes (drawn as a stroke, not a fill). */
export function isHollow(shape: Shape): boolean {
  return shape === 'ring';
}
