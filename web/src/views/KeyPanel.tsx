import { useId, useState } from 'preact/hooks';
import {
  keyHistory,
  moveKey,
  newIdempotencyKey,
  resumeKey,
  revokeKey,
  suspendKey,
  updateKey,
  rotateKey,
  ApiError,
  type AuditRecord,
  type Key,
  type Session,
} from '../api';
import { Dialog } from '../dialog';
import { ShownOnce } from '../secret';
import { dateTime, day, relativeTime } from '../format';
import { Alert } from '../alert';

interface Props {
  session: Session;
  keyData: Key;
  onClose: () => void;
  onChanged: () => void;
}

function words(e: unknown): string | null {
  if (e instanceof ApiError) return e.status === 401 ? null : e.detail;
  return String(e);
}

function actorOf(r: AuditRecord): string {
  const a = r.actor;
  if (!a) return 'unknown';
  const who = a.key_name ? `${a.key_name} (${a.id})` : (a.id ?? a.kind ?? 'unknown');
  return a.on_behalf_of ? `${who} on behalf of ${a.on_behalf_of}` : who;
}

function reasonOf(r: AuditRecord): string | null {
  const details = r.details as Record<string, unknown> | undefined;
  return details && typeof details.reason === 'string' && details.reason ? details.reason : null;
}

export function KeyPanel({ session, keyData: key, onClose, onChanged }: Props) {
  const id = useId();
  const org = session.org;
  const keyId = key.id ?? '';
  // Suspended keys are live too: they can be resumed, rotated, moved and revoked.
  const live = key.status === 'active' || key.status === 'suspended';
  const suspended = key.status === 'suspended';

  // Rotate.
  const [grace, setGrace] = useState<'0s' | '1h' | '24h'>('0s');
  const [rotateError, setRotateError] = useState<string | null>(null);
  // The rotated key's new token: only here, until Done or the panel closes.
  const [token, setToken] = useState<string | null>(null);
  const [graceUntil, setGraceUntil] = useState<string | null>(null);

  // Revoke.
  const [reason, setReason] = useState('');
  const [confirming, setConfirming] = useState(false);
  const [revokeError, setRevokeError] = useState<string | null>(null);

  // Suspend / resume.
  const [suspendReason, setSuspendReason] = useState('');
  const [suspendError, setSuspendError] = useState<string | null>(null);

  // Renew: a new expiry, counted from now.
  const [renewTo, setRenewTo] = useState<'30d' | '6m' | '1y' | 'never'>('30d');
  const [renewError, setRenewError] = useState<string | null>(null);

  // Change group.
  const targets = session.mint_groups.filter((g) => g !== key.group);
  const [target, setTarget] = useState(targets[0] ?? '');
  const [moveError, setMoveError] = useState<string | null>(null);

  // History.
  const [history, setHistory] = useState<AuditRecord[] | null>(null);
  const [historyError, setHistoryError] = useState<string | null>(null);

  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState<string | null>(null);

  const close = () => {
    setToken(null);
    onClose();
  };

  const run = async (action: () => Promise<void>, fail: (words: string | null) => void) => {
    setBusy(true);
    setDone(null);
    try {
      await action();
    } catch (e) {
      fail(words(e));
    } finally {
      setBusy(false);
    }
  };

  const onRotate = (e: Event) => {
    e.preventDefault();
    setRotateError(null);
    run(async () => {
      const answer = await rotateKey(org, keyId, { grace }, newIdempotencyKey());
      setGraceUntil(answer.previous_valid_until ?? null);
      setToken(answer.token ?? null);
      onChanged();
    }, setRotateError);
  };

  const onRevoke = (e: Event) => {
    e.preventDefault();
    setRevokeError(null);
    if (!confirming) return setConfirming(true);
    run(async () => {
      await revokeKey(org, keyId, reason.trim() ? { reason: reason.trim() } : {}, newIdempotencyKey());
      setConfirming(false);
      setDone('The key is revoked.');
      onChanged();
    }, setRevokeError);
  };

  const onSuspend = (e: Event) => {
    e.preventDefault();
    setSuspendError(null);
    run(async () => {
      if (suspended) {
        await resumeKey(org, keyId, newIdempotencyKey());
        setDone('The key is resumed: it verifies again.');
      } else {
        const why = suspendReason.trim();
        await suspendKey(org, keyId, why ? { reason: why } : {}, newIdempotencyKey());
        setDone('The key is suspended: it does not verify until it is resumed.');
      }
      onChanged();
    }, setSuspendError);
  };

  const onRenew = (e: Event) => {
    e.preventDefault();
    setRenewError(null);
    run(async () => {
      const answer = await updateKey(org, keyId, { expires: renewTo }, newIdempotencyKey());
      setDone(answer.expires_at ? `The key now expires on ${answer.expires_at.slice(0, 10)}.` : 'The key now never expires.');
      onChanged();
    }, setRenewError);
  };

  const onMove = (e: Event) => {
    e.preventDefault();
    setMoveError(null);
    if (!target) return setMoveError('Pick a group.');
    run(async () => {
      await moveKey(org, keyId, { group: target }, newIdempotencyKey());
      setDone(`The key is now in group ${target}.`);
      onChanged();
    }, setMoveError);
  };

  const onHistory = () => {
    setHistoryError(null);
    run(async () => setHistory(await keyHistory(org, keyId)), setHistoryError);
  };

  if (token) {
    return (
      <Dialog title={`Key “${key.name}” rotated`} onClose={close}>
        {graceUntil && (
          <p class="hint">
            The previous secret keeps working until {dateTime(graceUntil)}.
          </p>
        )}
        <ShownOnce
          token={token}
          onDone={() => {
            setToken(null);
          }}
        />
      </Dialog>
    );
  }

  return (
    <Dialog title={`Key “${key.name}”`} onClose={close}>
      <dl class="facts">
        <dt>Id</dt>
        <dd>{key.id}</dd>
        <dt>Group</dt>
        <dd>{key.group}</dd>
        <dt>Status</dt>
        <dd>{key.status}</dd>
        <dt>Created</dt>
        <dd>
          {key.created_at ? dateTime(key.created_at) : '—'} by {key.created_by}
        </dd>
        <dt>Expires</dt>
        <dd>
          {key.expires_at ? `${day(key.expires_at)} (${relativeTime(key.expires_at)})` : 'Never'}
        </dd>
        <dt>Hint</dt>
        <dd>{key.hint}</dd>
        {key.permissions && key.permissions.length > 0 && (
          <>
            <dt>Permissions</dt>
            <dd>{key.permissions.join(', ')}</dd>
          </>
        )}
      </dl>
      {done && (
        <p role="status" class="notice">
          {done}
        </p>
      )}

      {live && session.allowed['keys:rotate'] && (
        <form class="action" onSubmit={onRotate} aria-labelledby={`${id}-rot`}>
          <h3 id={`${id}-rot`}>Rotate</h3>
          <label for={`${id}-grace`}>Grace for the previous secret</label>
          <select
            id={`${id}-grace`}
            value={grace}
            onChange={(e) => setGrace(e.currentTarget.value as '0s' | '1h' | '24h')}
          >
            <option value="0s">None</option>
            <option value="1h">1 hour</option>
            <option value="24h">24 hours</option>
          </select>
          <button type="submit" disabled={busy}>
            Rotate
          </button>
          <Alert text={rotateError} />
        </form>
      )}

      {live && session.allowed['keys:rotate'] && (
        <form class="action" onSubmit={onRenew} aria-labelledby={`${id}-renew`}>
          <h3 id={`${id}-renew`}>Renew</h3>
          <label for={`${id}-renew-to`}>New expiration</label>
          <select
            id={`${id}-renew-to`}
            value={renewTo}
            onChange={(e) => setRenewTo(e.currentTarget.value as typeof renewTo)}
          >
            <option value="30d">30 days from now</option>
            <option value="6m">6 months from now</option>
            <option value="1y">1 year from now</option>
            <option value="never">Never</option>
          </select>
          <button type="submit" disabled={busy}>
            Renew
          </button>
          <Alert text={renewError} />
        </form>
      )}

      {live && session.allowed['keys:move'] && (
        <form class="action" onSubmit={onMove} aria-labelledby={`${id}-mv`}>
          <h3 id={`${id}-mv`}>Change group</h3>
          <label for={`${id}-target`}>New group</label>
          <select id={`${id}-target`} value={target} onChange={(e) => setTarget(e.currentTarget.value)}>
            {targets.map((g) => (
              <option key={g} value={g}>
                {g}
              </option>
            ))}
          </select>
          <button type="submit" disabled={busy || targets.length === 0}>
            Save
          </button>
          <Alert text={moveError} />
        </form>
      )}

      {live && session.allowed['keys:revoke'] && (
        <form class="action" onSubmit={onSuspend} aria-labelledby={`${id}-sus`}>
          <h3 id={`${id}-sus`}>{suspended ? 'Resume' : 'Suspend'}</h3>
          {suspended ? (
            <p>This key is suspended: it does not verify until it is resumed.</p>
          ) : (
            <>
              <label for={`${id}-sreason`}>Suspension reason</label>
              <input
                id={`${id}-sreason`}
                value={suspendReason}
                maxLength={500}
                onInput={(e) => setSuspendReason(e.currentTarget.value)}
              />
            </>
          )}
          <button type="submit" disabled={busy}>
            {suspended ? 'Resume' : 'Suspend'}
          </button>
          <Alert text={suspendError} />
        </form>
      )}

      {live && session.allowed['keys:revoke'] && (
        <form class="action" onSubmit={onRevoke} aria-labelledby={`${id}-rev`}>
          <h3 id={`${id}-rev`}>Revoke</h3>
          <label for={`${id}-reason`}>Reason</label>
          <input
            id={`${id}-reason`}
            value={reason}
            maxLength={500}
            onInput={(e) => setReason(e.currentTarget.value)}
          />
          {confirming ? (
            <div class="confirm" role="group" aria-label="Confirm revocation">
              <p>Revoke “{key.name}”? Every secret of this key stops working at once.</p>
              <button type="submit" class="danger" disabled={busy}>
                Confirm revoke
              </button>
              <button type="button" onClick={() => setConfirming(false)}>
                Cancel
              </button>
            </div>
          ) : (
            <button type="submit" class="danger" disabled={busy}>
              Revoke
            </button>
          )}
          <Alert text={revokeError} />
        </form>
      )}

      <section class="action" aria-labelledby={`${id}-hist`}>
        <h3 id={`${id}-hist`}>History</h3>
        {!session.allowed['audit:read'] ? (
          <p>The history is part of the audit trail: your groups do not grant audit:read.</p>
        ) : history === null ? (
          <button type="button" onClick={onHistory} disabled={busy}>
            Show history
          </button>
        ) : history.length === 0 ? (
          <p>No events.</p>
        ) : (
          <ol class="timeline" aria-label="History">
            {history.map((r) => (
              <li key={r.event_id ?? `${r.partition}/${r.offset}`}>
                <time dateTime={r.time}>{r.time ? dateTime(r.time) : ''}</time>{' '}
                <strong>{r.action}</strong> by {actorOf(r)}
                {reasonOf(r) && <> ({reasonOf(r)})</>}
              </li>
            ))}
          </ol>
        )}
        <Alert text={historyError} />
      </section>

      <div class="actions">
        <button type="button" onClick={close}>
          Close
        </button>
      </div>
    </Dialog>
  );
}
