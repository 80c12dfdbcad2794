import { useEffect, useId, useMemo, useState } from 'preact/hooks';
import { listAllKeys, ApiError, type Key, type Session } from '../api';
import { dateTime, day, relativeTime } from '../format';
import { NewKeyDialog } from './NewKeyDialog';
import { KeyPanel } from './KeyPanel';

const PAGE = 50;

type Column = 'name' | 'created_by' | 'group' | 'expires' | 'last_used' | 'status';
const columns: [Column, string][] = [
  ['name', 'Name'],
  ['created_by', 'Created by'],
  ['group', 'Group'],
  ['expires', 'Expires'],
  ['last_used', 'Last used'],
  ['status', 'Status'],
];

type StatusFilter = 'all' | 'active' | 'suspended' | 'revoked' | 'expired';

/** The key's last use (to the minute, written down every few seconds); null: never. */
function lastUsed(key: Key): string | null {
  return key.last_used_at ?? null;
}

function sortValue(key: Key, column: Column): string {
  switch (column) {
    case 'expires':
      // Never sorts after every date.
      return key.expires_at ?? '9999';
    case 'last_used':
      return lastUsed(key) ?? '';
    default:
      return (key[column] ?? '').toLowerCase();
  }
}

interface Props {
  session: Session;
}

export function Keys({ session }: Props) {
  const id = useId();
  const [keys, setKeys] = useState<Key[] | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [search, setSearch] = useState('');
  const [group, setGroup] = useState('');
  const [status, setStatus] = useState<StatusFilter>('all');
  const [sort, setSort] = useState<{ column: Column; ascending: boolean }>({
    column: 'name',
    ascending: true,
  });
  const [page, setPage] = useState(0);
  const [creating, setCreating] = useState(false);
  const [managed, setManaged] = useState<string | null>(null);

  const reload = async () => {
    try {
      setKeys(await listAllKeys(session.org));
      setLoadError(null);
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return;
      setLoadError(e instanceof ApiError ? e.detail : String(e));
    }
  };

  useEffect(() => {
    reload();
  }, [session.org]);

  const groups = useMemo(
    () => Array.from(new Set((keys ?? []).map((k) => k.group ?? ''))).filter(Boolean).sort(),
    [keys],
  );

  const shown = useMemo(() => {
    const needle = search.trim().toLowerCase();
    const list = (keys ?? []).filter(
      (k) =>
        (!needle || (k.name ?? '').toLowerCase().includes(needle)) &&
        (!group || k.group === group) &&
        (status === 'all' || k.status === status),
    );
    const factor = sort.ascending ? 1 : -1;
    list.sort((a, b) => {
      const x = sortValue(a, sort.column);
      const y = sortValue(b, sort.column);
      return x < y ? -factor : x > y ? factor : (a.id ?? '').localeCompare(b.id ?? '');
    });
    return list;
  }, [keys, search, group, status, sort]);

  const pages = Math.max(1, Math.ceil(shown.length / PAGE));
  const current = Math.min(page, pages - 1);
  const rows = shown.slice(current * PAGE, (current + 1) * PAGE);
  const managedKey = managed ? (keys ?? []).find((k) => k.id === managed) : undefined;
  // created_by is a member id, "bootstrap", or the id of the key that created it: show
  // such a key by its name.
  const keyNames = useMemo(() => new Map((keys ?? []).map((k) => [k.id ?? '', k.name ?? ''])), [keys]);
  const creator = (k: Key): string => {
    const by = k.created_by ?? '';
    const name = keyNames.get(by);
    return name ? `key ${name}` : by;
  };
  const now = Date.now();

  const onSort = (column: Column) => {
    setSort((s) => ({ column, ascending: s.column === column ? !s.ascending : true }));
    setPage(0);
  };

  return (
    <section aria-labelledby={`${id}-h`}>
      <div class="view-head">
        <h1 id={`${id}-h`}>API keys</h1>
        {session.may_create_keys && (
          <button type="button" class="primary" onClick={() => setCreating(true)}>
            New API key
          </button>
        )}
      </div>

      <div class="filters" role="search" aria-label="Filter keys">
        <div class="field">
          <label for={`${id}-q`}>Search keys</label>
          <input
            id={`${id}-q`}
            type="search"
            value={search}
            onInput={(e) => {
              setSearch(e.currentTarget.value);
              setPage(0);
            }}
          />
        </div>
        <div class="field">
          <label for={`${id}-g`}>Group filter</label>
          <select
            id={`${id}-g`}
            value={group}
            onChange={(e) => {
              setGroup(e.currentTarget.value);
              setPage(0);
            }}
          >
            <option value="">All groups</option>
            {groups.map((g) => (
              <option key={g} value={g}>
                {g}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for={`${id}-s`}>Status filter</label>
          <select
            id={`${id}-s`}
            value={status}
            onChange={(e) => {
              setStatus(e.currentTarget.value as StatusFilter);
              setPage(0);
            }}
          >
            <option value="all">All</option>
            <option value="active">Active</option>
            <option value="suspended">Suspended</option>
            <option value="revoked">Revoked</option>
            <option value="expired">Expired</option>
          </select>
        </div>
      </div>

      {loadError && (
        <p role="alert" class="error">
          The keys could not be loaded: {loadError}
        </p>
      )}
      {keys === null && !loadError && <p role="status">Loading keys…</p>}

      {keys !== null && (
        <>
          <table class="keys">
            <caption>
              {shown.length === keys.length
                ? `${keys.length} keys`
                : `${shown.length} of ${keys.length} keys`}
            </caption>
            <thead>
              <tr>
                {columns.map(([column, label]) => (
                  <th
                    key={column}
                    scope="col"
                    aria-sort={
                      sort.column === column ? (sort.ascending ? 'ascending' : 'descending') : undefined
                    }
                  >
                    <button type="button" class="sort" onClick={() => onSort(column)}>
                      {label}
                      <span aria-hidden="true" class="arrow">
                        {sort.column === column ? (sort.ascending ? '▲' : '▼') : ''}
                      </span>
                    </button>
                  </th>
                ))}
                <th scope="col">
                  <span class="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {rows.length === 0 && (
                <tr>
                  <td colSpan={7} class="empty">
                    No keys match.
                  </td>
                </tr>
              )}
              {rows.map((k) => {
                const used = lastUsed(k);
                return (
                  <tr key={k.id}>
                    <th scope="row" class="name">
                      {k.name}
                    </th>
                    <td>{creator(k)}</td>
                    <td>{k.group}</td>
                    <td>
                      {k.expires_at ? (
                        <>
                          <time dateTime={k.expires_at}>{day(k.expires_at)}</time>{' '}
                          <span class="rel">({relativeTime(k.expires_at, now)})</span>
                        </>
                      ) : (
                        'Never'
                      )}
                    </td>
                    <td>
                      {used ? (
                        <time dateTime={used} title={dateTime(used)}>
                          {relativeTime(used, now)}
                        </time>
                      ) : (
                        'Never'
                      )}
                    </td>
                    <td>
                      <span class={`status status-${k.status}`}>{k.status}</span>
                    </td>
                    <td>
                      <button type="button" onClick={() => setManaged(k.id ?? null)}>
                        Manage<span class="visually-hidden"> {k.name}</span>
                      </button>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          <nav class="pager" aria-label="Pages of keys">
            <button type="button" disabled={current === 0} onClick={() => setPage(current - 1)}>
              Previous
            </button>
            <span aria-live="polite">
              Page {current + 1} of {pages}
            </span>
            <button
              type="button"
              disabled={current >= pages - 1}
              onClick={() => setPage(current + 1)}
            >
              Next
            </button>
          </nav>
        </>
      )}

      {creating && (
        <NewKeyDialog session={session} onClose={() => setCreating(false)} onCreated={reload} />
      )}
      {managedKey && (
        <KeyPanel
          session={session}
          keyData={managedKey}
          onClose={() => setManaged(null)}
          onChanged={reload}
        />
      )}
    </section>
  );
}
