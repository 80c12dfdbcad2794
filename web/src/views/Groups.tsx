import { useEffect, useId, useState } from 'preact/hooks';
import { listAllKeys, listGroups, listMembers, ApiError, type Group, type Key, type Member, type Session } from '../api';

interface Props {
  session: Session;
}

type Loaded<T> = { value: T } | { error: string } | null;

async function load<T>(allowed: boolean, need: string, get: () => Promise<T>): Promise<Loaded<T>> {
  if (!allowed) return { error: `Your groups do not grant ${need}.` };
  try {
    return { value: await get() };
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return null;
    return { error: e instanceof ApiError ? e.detail : String(e) };
  }
}

function rulesOf(g: Group): string[] {
  return (g.rules ?? []).map((r) =>
    r.resources && r.resources.length > 0 ? `${r.role} on ${r.resources.join(', ')}` : r.role,
  );
}

export function Groups({ session }: Props) {
  const id = useId();
  const org = session.org;
  const [groups, setGroups] = useState<Loaded<Group[]>>(null);
  const [members, setMembers] = useState<Loaded<Member[]>>(null);
  const [keys, setKeys] = useState<Loaded<Key[]>>(null);

  useEffect(() => {
    load(session.allowed['groups:read'], 'groups:read', () => listGroups(org)).then(setGroups);
    load(session.allowed['members:read'], 'members:read', () => listMembers(org)).then(setMembers);
    load(session.allowed['keys:read'], 'keys:read', () => listAllKeys(org)).then(setKeys);
  }, [org]);

  const membersOf = (group: string): string[] | null =>
    members && 'value' in members
      ? members.value.filter((m) => (m.groups ?? []).includes(group)).map((m) => m.id ?? '')
      : null;
  const keysIn = (group: string): number | null =>
    keys && 'value' in keys
      ? keys.value.filter((k) => k.group === group && k.status === 'active').length
      : null;

  return (
    <section aria-labelledby={`${id}-h`}>
      <div class="view-head">
        <h1 id={`${id}-h`}>Groups</h1>
      </div>
      {groups === null && <p role="status">Loading groups…</p>}
      {groups && 'error' in groups && (
        <p role="alert" class="error">
          The groups could not be loaded: {groups.error}
        </p>
      )}
      {members && 'error' in members && (
        <p class="hint">Members are not shown: {members.error}</p>
      )}
      {keys && 'error' in keys && <p class="hint">Key counts are not shown: {keys.error}</p>}
      {groups && 'value' in groups && (
        <table class="groups">
          <caption>{groups.value.length} groups</caption>
          <thead>
            <tr>
              <th scope="col">Group</th>
              <th scope="col">Description</th>
              <th scope="col">Rules</th>
              <th scope="col">Members</th>
              <th scope="col">Active keys</th>
            </tr>
          </thead>
          <tbody>
            {groups.value.map((g) => {
              const who = membersOf(g.id ?? '');
              const count = keysIn(g.id ?? '');
              return (
                <tr key={g.id}>
                  <th scope="row">
                    {g.id}
                    {g.builtin && <span class="tag">built-in</span>}
                  </th>
                  <td>{g.description || g.name || '—'}</td>
                  <td>
                    {rulesOf(g).length === 0 ? (
                      'No rules'
                    ) : (
                      <ul class="plain">
                        {rulesOf(g).map((r) => (
                          <li key={r}>{r}</li>
                        ))}
                      </ul>
                    )}
                  </td>
                  <td>
                    {who === null ? (
                      String(g.members ?? '—')
                    ) : who.length === 0 ? (
                      'None'
                    ) : (
                      <ul class="plain">
                        {who.map((m) => (
                          <li key={m}>{m}</li>
                        ))}
                      </ul>
                    )}
                  </td>
                  <td>{count === null ? '—' : count}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}
