import { useQuery } from '@tanstack/react-query';
import { useEffect, useId, useState } from 'react';
import { api } from '../api/client.ts';
import { useMetadata } from '../api/metadata.ts';
import { navigate, recordPath } from '../lib/router.tsx';
import { useDebounced } from './fields.tsx';
import { ErrorState, Modal } from './ui.tsx';

interface Hit {
  object: string;
  id: string;
  title: string;
  subtitle: string | null;
  score: number;
}

/** Global search across objects: Ctrl+K / ⌘K or "/" opens it; arrows and Enter pick a result. */
export function SearchPalette({ onClose }: { onClose: () => void }) {
  const [q, setQ] = useState('');
  const [active, setActive] = useState(0);
  const term = useDebounced(q.trim(), 150);
  const listId = useId();
  const meta = useMetadata().data ?? [];
  const res = useQuery({
    queryKey: ['search', term],
    enabled: term.length > 0,
    queryFn: async ({ signal }) => (await api<{ data: Hit[] }>(`/api/v1/search?limit=20&q=${encodeURIComponent(term)}`, { signal })).data.data,
    staleTime: 10_000,
  });
  const hits = term ? (res.data ?? []) : [];
  useEffect(() => setActive(0), [term]);

  const open = (h: Hit) => {
    onClose();
    navigate(recordPath(h.object, h.id));
  };
  const label = (object: string) => meta.find((m) => m.name === object)?.label ?? object;

  return (
    <Modal title="Search" onClose={onClose}>
      <input
        type="search"
        className="search-input"
        role="combobox"
        aria-label="Search records"
        aria-expanded={hits.length > 0}
        aria-controls={listId}
        aria-activedescendant={hits[active] ? `${listId}-${active}` : undefined}
        placeholder="Search accounts, contacts, leads, opportunities, cases…"
        value={q}
        autoFocus
        onChange={(e) => setQ(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === 'ArrowDown') {
            e.preventDefault();
            setActive((a) => Math.min(a + 1, hits.length - 1));
          } else if (e.key === 'ArrowUp') {
            e.preventDefault();
            setActive((a) => Math.max(a - 1, 0));
          } else if (e.key === 'Enter' && hits[active]) {
            e.preventDefault();
            open(hits[active]);
          }
        }}
      />
      {res.error ? <ErrorState error={res.error} /> : null}
      <ul className="search-results" role="listbox" id={listId} aria-label="Results">
        {term && res.isFetching && hits.length === 0 && <li className="muted">Searching…</li>}
        {term && !res.isFetching && res.isSuccess && hits.length === 0 && <li className="muted">No records match “{term}”.</li>}
        {hits.map((h, i) => (
          <li
            key={`${h.object}-${h.id}`}
            id={`${listId}-${i}`}
            role="option"
            aria-selected={i === active}
            className={i === active ? 'active' : undefined}
            onMouseEnter={() => setActive(i)}
            onMouseDown={(e) => {
              e.preventDefault();
              open(h);
            }}
          >
            <span className="search-title">{h.title || '(untitled)'}</span>
            <span className="badge">{label(h.object)}</span>
            {h.subtitle && <small className="muted">{h.subtitle}</small>}
          </li>
        ))}
      </ul>
      <p className="hint muted">
        <kbd>↑</kbd> <kbd>↓</kbd> to move, <kbd>Enter</kbd> to open, <kbd>Esc</kbd> to close
      </p>
    </Modal>
  );
}
