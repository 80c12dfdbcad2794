import { useEffect, useId, useState } from 'preact/hooks';
import {
  auditCsvHref,
  listAudit,
  ApiError,
  type AuditAction,
  type AuditQuery,
  type AuditRecord,
  type Session,
} from '../api';
import { dateTime } from '../format';
import { Alert } from '../alert';

const PAGE = 50;

const actions: AuditAction[] = [
  'api_key.created',
  'api_key.rotated',
  'api_key.revoked',
  'api_key.expired',
  'api_key.group_updated',
  'group.created',
  'group.rules_updated',
  'group.deleted',
  'member.groups_updated',
  'org.created',
  'projector.skipped',
  'event.fenced',
  'writer.claimed',
  'member.invited',
  'member.password_set',
  'member.signed_in',
  'member.signed_out',
];

interface Props {
  session: Session;
}

interface Form {
  key: string;
  actor: string;
  action: string;
  from: string;
  to: string;
}

const empty: Form = { key: '', actor: '', action: '', from: '', to: '' };

/** A datetime-local value (the browser's time zone) as RFC 3339 UTC. */
function rfc3339(local: string): string | undefined {
  if (!local) return undefined;
  const t = new Date(local);
  return Number.isNaN(t.getTime()) ? undefined : t.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function queryOf(form: Form): AuditQuery {
  return {
    key: form.key.trim() || undefined,
    actor: form.actor.trim() || undefined,
    action: (form.action || undefined) as AuditAction | undefined,
    from: rfc3339(form.from),
    to: rfc3339(form.to),
  };
}

function actorOf(r: AuditRecord): string {
  const a = r.actor;
  if (!a) return '';
  let who = a.key_name ? `${a.key_name} (${a.kind} ${a.id})` : `${a.kind} ${a.id ?? ''}`;
  if (a.on_behalf_of) who += ` on behalf of ${a.on_behalf_of}`;
  return who;
}

function detailsOf(r: AuditRecord): string {
  const d = r.details as Record<string, unknown> | undefined;
  if (!d) return '';
  return Object.entries(d)
    .map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join('; ');
}

export function Audit({ session }: Props) {
  const id = useId();
  const org = session.org;
  const [form, setForm] = useState<Form>(empty);
  const [query, setQuery] = useState<AuditQuery>({});
  // Tokens of the pages before the current one (the first page's is undefined).
  const [trail, setTrail] = useState<(string | undefined)[]>([]);
  const [pageToken, setPageToken] = useState<string | undefined>(undefined);
  const [records, setRecords] = useState<AuditRecord[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    if (!session.allowed['audit:read']) return;
    let current = true;
    setRecords(null);
    listAudit(org, query, pageToken, PAGE).then(
      (page) => {
        if (!current) return;
        setRecords(page.records ?? []);
        setNext(page.next_page_token ?? null);
        setError(null);
      },
      (e) => {
        if (!current || (e instanceof ApiError && e.status === 401)) return;
        setRecords([]);
        setNext(null);
        setError(e instanceof ApiError ? e.detail : String(e));
      },
    );
    return () => {
      current = false;
    };
  }, [org, query, pageToken]);

  const field = (name: keyof Form) => ({
    id: `${id}-${name}`,
    value: form[name],
    onInput: (e: { currentTarget: HTMLInputElement | HTMLSelectElement }) =>
      setForm({ ...form, [name]: e.currentTarget.value }),
  });

  const onApply = (e: Event) => {
    e.preventDefault();
    setQuery(queryOf(form));
    setTrail([]);
    setPageToken(undefined);
  };

  if (!session.allowed['audit:read']) {
    return (
      <section aria-labelledby={`${id}-h`}>
        <h1 id={`${id}-h`}>Audit</h1>
        <p>Your groups do not grant audit:read, which the audit trail needs.</p>
      </section>
    );
  }

  return (
    <section aria-labelledby={`${id}-h`}>
      <div class="view-head">
        <h1 id={`${id}-h`}>Audit</h1>
        <div>
          <a class="button" href={auditCsvHref(org, query)} download>
            Download CSV
          </a>
        </div>
      </div>
      <form class="filters" onSubmit={onApply} aria-label="Filter the audit trail">
        <div class="field">
          <label for={`${id}-key`}>Key id</label>
          <input {...field('key')} autoComplete="off" />
        </div>
        <div class="field">
          <label for={`${id}-actor`}>Actor</label>
          <input {...field('actor')} autoComplete="off" />
        </div>
        <div class="field">
          <label for={`${id}-action`}>Action</label>
          <select {...field('action')}>
            <option value="">All actions</option>
            {actions.map((a) => (
              <option key={a} value={a}>
                {a}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for={`${id}-from`}>From</label>
          <input {...field('from')} type="datetime-local" />
        </div>
        <div class="field">
          <label for={`${id}-to`}>To</label>
          <input {...field('to')} type="datetime-local" />
        </div>
        <div class="field end">
          <button type="submit" class="primary">
            Apply filters
          </button>
        </div>
      </form>
      <Alert text={error} />
      {records === null && <p role="status">Loading the audit trail…</p>}
      {records !== null && (
        <>
          <table class="audit">
            <caption>Audit records, oldest first</caption>
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Action</th>
                <th scope="col">Actor</th>
                <th scope="col">Target</th>
                <th scope="col">Details</th>
              </tr>
            </thead>
            <tbody>
              {records.length === 0 && (
                <tr>
                  <td colSpan={5} class="empty">
                    No records match.
                  </td>
                </tr>
              )}
              {records.map((r) => (
                <tr key={r.event_id ?? `${r.partition}/${r.offset}`}>
                  <td>
                    <time dateTime={r.time}>{r.time ? dateTime(r.time) : ''}</time>
                  </td>
                  <td>{r.action}</td>
                  <td>{actorOf(r)}</td>
                  <td>{r.target ? `${r.target.type ?? ''} ${r.target.id ?? ''}` : ''}</td>
                  <td class="details">{detailsOf(r)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <nav class="pager" aria-label="Pages of the audit trail">
            <button
              type="button"
              disabled={trail.length === 0}
              onClick={() => {
                setPageToken(trail[trail.length - 1]);
                setTrail(trail.slice(0, -1));
              }}
            >
              Previous
            </button>
            <span aria-live="polite">Page {trail.length + 1}</span>
            <button
              type="button"
              disabled={!next}
              onClick={() => {
                setTrail([...trail, pageToken]);
                setPageToken(next ?? undefined);
              }}
            >
              Next
            </button>
          </nav>
        </>
      )}
    </section>
  );
}
