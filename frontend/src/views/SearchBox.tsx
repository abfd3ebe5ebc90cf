import { useEffect, useState } from 'react';
import { useStore } from '../lib/store';
import type { SessionModel } from '../state/sessionModel';

/** Search within the session (text, `type:`, `agent:`, `phase:`): highlights hits, Enter jumps. */
export function SearchBox({ model }: { model: SessionModel }) {
  const search = useStore(model.view, (v) => v.search);
  const [text, setText] = useState(search.input);

  useEffect(() => {
    const t = setTimeout(() => {
      if (text !== model.view.get().search.input) model.setSearch(text);
    }, 150);
    return () => clearTimeout(t);
  }, [text, model]);

  const count = search.hits.length;
  return (
    <div className="search-box" role="search">
      <label htmlFor="event-search" className="sr-only">
        Search events (text, type:, agent:, phase:)
      </label>
      <input
        id="event-search"
        type="search"
        placeholder="Search: text type:error agent:tst-1 phase:error"
        value={text}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === 'Enter') {
            e.preventDefault();
            if (text !== search.input) model.setSearch(text);
            model.jumpHit(e.shiftKey ? -1 : 1);
          } else if (e.key === 'Escape') {
            setText('');
            model.setSearch('');
          }
        }}
      />
      <span className="search-count small" aria-live="polite" data-testid="search-count">
        {search.input ? `${search.at >= 0 ? `${search.at + 1} / ` : ''}${count} hit${count === 1 ? '' : 's'}` : ''}
      </span>
      <button type="button" className="btn icon" aria-label="previous hit" disabled={!count} onClick={() => model.jumpHit(-1)}>
        ↑
      </button>
      <button type="button" className="btn icon" aria-label="next hit" disabled={!count} onClick={() => model.jumpHit(1)}>
        ↓
      </button>
    </div>
  );
}
