import { useId, useMemo, useState } from 'preact/hooks';
import { createKey, newIdempotencyKey, ApiError, type BodyOf, type Session } from '../api';
import { Dialog } from '../dialog';
import { ShownOnce } from '../secret';
import { Alert } from '../alert';

type Preset = 'never' | '30d' | '6m' | '1y' | 'date';

interface Props {
  session: Session;
  onClose: () => void;
  onCreated: () => void;
}

function tomorrow(): string {
  return new Date(Date.now() + 86400_000).toISOString().slice(0, 10);
}

export function NewKeyDialog({ session, onClose, onCreated }: Props) {
  const id = useId();
  // One Idempotency-Key per opening of the dialog: a retried Create is answered, not repeated.
  const idempotencyKey = useMemo(newIdempotencyKey, []);
  const [name, setName] = useState('');
  const [preset, setPreset] = useState<Preset>('30d');
  const [date, setDate] = useState('');
  const [group, setGroup] = useState(session.mint_groups[0] ?? '');
  const [scim, setScim] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  // The new key's token: only here, only until the dialog closes.
  const [token, setToken] = useState<string | null>(null);
  const [created, setCreated] = useState<string | null>(null);

  const close = () => {
    setToken(null);
    onClose();
  };

  const onSubmit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    const trimmed = name.trim();
    if (trimmed.length < 3 || trimmed.length > 50) {
      return setError('The name needs 3 to 50 characters.');
    }
    if (!group) return setError('Pick a group.');
    let expires: string = preset;
    if (preset === 'date') {
      if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) return setError('Pick an expiration date.');
      expires = `${date}T00:00:00Z`;
      if (Date.parse(expires) <= Date.now()) return setError('The expiration date must be in the future.');
    }
    const body: BodyOf<'createKey'> = { name: trimmed, group, expires };
    if (scim) body.permissions = ['scim'];
    setBusy(true);
    try {
      const answer = await createKey(session.org, body, idempotencyKey);
      setCreated(answer.name ?? trimmed);
      setToken(answer.token ?? null);
      if (!answer.token) setError('This key was already created and its token shown; it cannot be shown again.');
      onCreated();
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return;
      setError(err instanceof ApiError ? err.detail : String(err));
    } finally {
      setBusy(false);
    }
  };

  if (created !== null) {
    return (
      <Dialog title={`API key “${created}” created`} onClose={close}>
        {token ? (
          <ShownOnce token={token} onDone={close} />
        ) : (
          <>
            <p role="alert" class="error">
              {error}
            </p>
            <div class="actions">
              <button type="button" onClick={close}>
                Done
              </button>
            </div>
          </>
        )}
      </Dialog>
    );
  }

  return (
    <Dialog title="New API key" onClose={close}>
      <form onSubmit={onSubmit} noValidate>
        <label for={`${id}-name`}>Name</label>
        <input
          id={`${id}-name`}
          value={name}
          maxLength={50}
          autoComplete="off"
          aria-describedby={`${id}-name-hint`}
          onInput={(e) => setName(e.currentTarget.value)}
        />
        <p class="hint" id={`${id}-name-hint`}>
          3 to 50 letters, digits, spaces, “-”, “_” or “.”; unique among live keys.
        </p>

        <label for={`${id}-exp`}>Expiration</label>
        <select
          id={`${id}-exp`}
          value={preset}
          onChange={(e) => setPreset(e.currentTarget.value as Preset)}
        >
          <option value="never">Never</option>
          <option value="30d">30 days</option>
          <option value="6m">6 months</option>
          <option value="1y">1 year</option>
          <option value="date">Custom date</option>
        </select>
        {preset === 'date' && (
          <>
            <label for={`${id}-date`}>Expiration date</label>
            <input
              id={`${id}-date`}
              type="date"
              min={tomorrow()}
              value={date}
              onInput={(e) => setDate(e.currentTarget.value)}
            />
          </>
        )}

        <label for={`${id}-group`}>Group</label>
        <select id={`${id}-group`} value={group} onChange={(e) => setGroup(e.currentTarget.value)}>
          {session.mint_groups.map((g) => (
            <option key={g} value={g}>
              {g}
            </option>
          ))}
        </select>

        {session.may_grant_scim && (
          <div class="check">
            <input
              id={`${id}-scim`}
              type="checkbox"
              checked={scim}
              onChange={(e) => setScim(e.currentTarget.checked)}
            />
            <label for={`${id}-scim`}>SCIM</label>
          </div>
        )}

        <div class="actions">
          <button type="button" onClick={close}>
            Cancel
          </button>
          <button type="submit" class="primary" disabled={busy}>
            Create
          </button>
        </div>
        <Alert text={error} />
      </form>
    </Dialog>
  );
}
