import { useId, useState } from 'preact/hooks';
import { acceptInvitation, ApiError } from '../api';
import { Alert } from '../alert';

interface Props {
  onAccepted: (org: string, member: string) => void;
}

const MIN = 12;
const MAX = 1024;

/** The invitation token from the URL fragment, which is then removed from the URL. */
function takeToken(): string {
  const token = decodeURIComponent(location.hash.replace(/^#/, ''));
  if (location.hash) history.replaceState(null, '', location.pathname);
  return token;
}

export function Invite({ onAccepted }: Props) {
  const id = useId();
  const [token] = useState(takeToken);
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const onSubmit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    if (password.length < MIN) return setError(`The password needs at least ${MIN} characters.`);
    if (password.length > MAX) return setError(`The password may have at most ${MAX} characters.`);
    if (password !== confirm) return setError('The two passwords differ.');
    setBusy(true);
    try {
      const answer = await acceptInvitation({ token, password });
      onAccepted(answer.org, answer.member);
    } catch (err) {
      setError(err instanceof ApiError ? err.detail : String(err));
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby={`${id}-h`} class="card">
      <h1 id={`${id}-h`}>Set your password</h1>
      {!token ? (
        <p role="alert" class="error">
          This invitation link has no token. Open the whole link you were given, or ask for a
          new invitation.
        </p>
      ) : (
        <form onSubmit={onSubmit} noValidate>
          <p class="hint" id={`${id}-rule`}>
            At least {MIN} characters.
          </p>
          <label for={`${id}-pw`}>Password</label>
          <input
            id={`${id}-pw`}
            type="password"
            value={password}
            autoComplete="new-password"
            aria-describedby={`${id}-rule`}
            onInput={(e) => setPassword(e.currentTarget.value)}
          />
          <label for={`${id}-confirm`}>Confirm password</label>
          <input
            id={`${id}-confirm`}
            type="password"
            value={confirm}
            autoComplete="new-password"
            onInput={(e) => setConfirm(e.currentTarget.value)}
          />
          <div class="actions">
            <button type="submit" class="primary" disabled={busy}>
              Set password
            </button>
          </div>
          <Alert text={error} />
        </form>
      )}
    </section>
  );
}
