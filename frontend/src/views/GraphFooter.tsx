import { CATEGORY_STYLES, type Category } from '../model/categories';

/** The footer of a layout: its status line and the key of its marks, in the flow under the
 * drawing, so that neither ever covers a node or a label. */
export function GraphFooter({ children, legend = true }: { children: React.ReactNode; legend?: boolean }) {
  return (
    <div className="graph-footer muted small">
      <span className="graph-status" aria-live="polite">
        {children}
      </span>
      {legend && <Legend />}
    </div>
  );
}

export function Legend() {
  return (
    <div className="legend" aria-label="legend" data-testid="legend">
      {(['method', 'message', 'task', 'memory', 'tool', 'llm', 'error'] as Category[]).map((c) => (
        <span key={c}>
          <span style={{ color: CATEGORY_STYLES[c].color }} aria-hidden="true">
            {CATEGORY_STYLES[c].glyph}
          </span>{' '}
          {CATEGORY_STYLES[c].label}
        </span>
      ))}
      <span>
        <span aria-hidden="true">┄</span> open
      </span>
    </div>
  );
}

