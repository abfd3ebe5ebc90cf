import { useState } from 'react';
import type { Json } from '../api/types';

const FOLD_CHARS = 240;
const FOLD_ITEMS = 100;

/**
 * A folding JSON viewer. Everything is rendered as React text nodes: a hostile string such as
 * `<img src=x onerror=…>` shows as those characters and is never parsed as HTML. Long strings and
 * long arrays are folded behind a toggle, never cut.
 */
export function JsonView({
  value,
  name,
  expandDepth = 1,
  label,
}: {
  value: unknown;
  name?: string;
  expandDepth?: number;
  label?: string;
}) {
  return (
    <div className="json" role="tree" aria-label={label ?? 'JSON value'}>
      <JsonNode value={value as Json} name={name} depth={0} expandDepth={expandDepth} />
    </div>
  );
}

function typeClass(v: Json): string {
  if (v === null) return 'j-null';
  switch (typeof v) {
    case 'string':
      return 'j-str';
    case 'number':
      return 'j-num';
    case 'boolean':
      return 'j-bool';
    default:
      return '';
  }
}

function LongString({ s }: { s: string }) {
  const [open, setOpen] = useState(false);
  if (s.length <= FOLD_CHARS && !s.includes('\n')) return <span className="j-str">&quot;{s}&quot;</span>;
  if (!open) {
    const head = s.split('\n', 1)[0] ?? '';
    return (
      <span className="j-str">
        &quot;{head.slice(0, FOLD_CHARS)}
        <button type="button" className="fold-btn" onClick={() => setOpen(true)} aria-label={`show all ${s.length} characters`}>
          … {s.length.toLocaleString()} chars
        </button>
        &quot;
      </span>
    );
  }
  return (
    <span className="j-str j-long">
      &quot;<span className="j-pre">{s}</span>&quot;
      <button type="button" className="fold-btn" onClick={() => setOpen(false)}>
        fold
      </button>
    </span>
  );
}

function Key({ name }: { name: string | undefined }) {
  if (name === undefined) return null;
  return (
    <>
      <span className="j-key">{name}</span>
      <span className="j-punct">: </span>
    </>
  );
}

function JsonNode({ value, name, depth, expandDepth }: { value: Json; name?: string | undefined; depth: number; expandDepth: number }) {
  const isObj = value !== null && typeof value === 'object';
  const [open, setOpen] = useState(depth < expandDepth);
  const [limit, setLimit] = useState(FOLD_ITEMS);
  if (!isObj) {
    return (
      <div className="j-row" role="treeitem" aria-selected={false}>
        <Key name={name} />
        {typeof value === 'string' ? <LongString s={value} /> : <span className={typeClass(value)}>{String(value)}</span>}
      </div>
    );
  }
  const entries: [string, Json][] = Array.isArray(value)
    ? value.map((v, i) => [String(i), v])
    : Object.entries(value as Record<string, Json>);
  const brackets = Array.isArray(value) ? ['[', ']'] : ['{', '}'];
  const summary = Array.isArray(value) ? `${entries.length} item${entries.length === 1 ? '' : 's'}` : `${entries.length} key${entries.length === 1 ? '' : 's'}`;
  if (!entries.length) {
    return (
      <div className="j-row" role="treeitem" aria-selected={false}>
        <Key name={name} />
        <span className="j-punct">
          {brackets[0]}
          {brackets[1]}
        </span>
      </div>
    );
  }
  return (
    <div className="j-node" role="treeitem" aria-expanded={open} aria-selected={false}>
      <button type="button" className="j-toggle" onClick={() => setOpen(!open)} aria-label={`${open ? 'fold' : 'unfold'} ${name ?? 'value'}`}>
        <span aria-hidden="true">{open ? '▾' : '▸'}</span>
      </button>
      <Key name={name} />
      {!open ? (
        <button type="button" className="j-summary" onClick={() => setOpen(true)}>
          {brackets[0]} {summary} {brackets[1]}
        </button>
      ) : (
        <>
          <span className="j-punct">{brackets[0]}</span>
          <div className="j-children" role="group">
            {entries.slice(0, limit).map(([k, v]) => (
              <JsonNode key={k} name={k} value={v} depth={depth + 1} expandDepth={expandDepth} />
            ))}
            {entries.length > limit && (
              <button type="button" className="fold-btn" onClick={() => setLimit(limit + FOLD_ITEMS * 5)}>
                show {Math.min(FOLD_ITEMS * 5, entries.length - limit)} more of {entries.length - limit} hidden
              </button>
            )}
          </div>
          <span className="j-punct">{brackets[1]}</span>
        </>
      )}
    </div>
  );
}
