import { useId, useState } from 'preact/hooks';
import { signIn, ApiError, type Session } from '../api';

export interface SignInPrefill {
  org?: string;
  member?: string;
}

interface Props {
  prefill: SignInPrefill;
  notice: string | null;
  onSignedIn: (session: Session) => void;
}

export function SignIn({ prefill, notice, onSignedIn }: Props) {
  const id = useId();
  const [org, setOrg] = useState(prefill.org ?? '');
  const [member, setMember] = useState(prefill.member ?? '');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const onSubmit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const session = await signIn({ org: org.trim(), member: member.trim(), password });
      setPassword('');
      onSignedIn(session);
    } catch (err) {
      setError(err instanceof ApiError ? err.detail : String(err));
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby={`${id}-h`} class="card">
      <h1 id={`${id}-h`}>Sign in to keytrail</h1>
      {notice && (
        <p role="status" class="notice">
          {notice}
        </p>
      )}
      <form onSubmit={onSubmit} aria-describedby={error ? `${id}-err` : undefined}>
        <label for={`${id}-org`}>Organization</label>
        <input
          id={`${id}-org`}
          name="org"
          value={org}
          required
          autoComplete="organization"
          onInput={(e) => setOrg(e.currentTarget.value)}
        />
        <label for={`${id}-member`}>Member</label>
        <input
          id={`${id}-member`}
          name="member"
          value={member}
          required
          autoComplete="username"
          onInput={(e) => setMember(e.currentTarget.value)}
        />
        <label for={`${id}-pw`}>Password</label>
        <input
          id={`${id}-pw`}
          name="password"
          type="password"
          value={password}
          required
          autoComplete="current-password"
          onInput={(e) => setPassword(e.currentTarget.value)}
        />
        <div class="actions">
          <button type="submit" class="primary" disabled={busy}>
            Sign in
          </button>
        </div>
        {error && (
          <p role="alert" id={`${id}-err`} class="error">
            {error}
          </p>
        )}
      </form>
    </section>
  );
}
