import { useEffect, useId, useState } from 'preact/hooks';
import { signIn, ssoOptions, ApiError, type Session, type SsoOptions } from '../api';
import { Alert } from '../alert';

export interface SignInPrefill {
  org?: string;
  member?: string;
}

interface Props {
  prefill: SignInPrefill;
  notice: string | null;
  /** Why the last single sign-on failed (from the URL), or null. */
  ssoError: string | null;
  onSignedIn: (session: Session) => void;
}

/** How long the organization field must rest before its sign-in options are asked for. */
const SSO_LOOKUP_DELAY_MS = 300;

/** The sign-in options of `org` (trimmed), once it has rested; null while unknown or none. */
function useSsoOptions(org: string): SsoOptions | null {
  const [known, setKnown] = useState<{ org: string; options: SsoOptions } | null>(null);
  useEffect(() => {
    if (!org) return;
    let live = true;
    const timer = setTimeout(() => {
      ssoOptions(org).then(
        (options) => live && setKnown({ org, options }),
        // No answer: offer the password form, as without SSO.
        () => live && setKnown(null),
      );
    }, SSO_LOOKUP_DELAY_MS);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [org]);
  // Options of an org the field no longer names are never shown.
  return known && known.org === org && known.options.sso ? known.options : null;
}

export function SignIn({ prefill, notice, ssoError, onSignedIn }: Props) {
  const id = useId();
  const [org, setOrg] = useState(prefill.org ?? '');
  const [member, setMember] = useState(prefill.member ?? '');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const sso = useSsoOptions(org.trim());
  const withPassword = !sso || sso.password_sign_in;

  const onSubmit = async (e: Event) => {
    e.preventDefault();
    if (!withPassword) {
      // Enter in the organization field when SSO is the only way in.
      if (sso?.login_url) location.assign(sso.login_url);
      return;
    }
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
      <Alert text={ssoError} />
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
        {sso?.login_url && (
          <div class="sso">
            <a class="button primary" href={sso.login_url}>
              Sign in with SSO
            </a>
            {withPassword && <p class="hint">or with your keytrail password:</p>}
          </div>
        )}
        {withPassword && (
          <>
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
          </>
        )}
        {error && (
          <p role="alert" id={`${id}-err`} class="error">
            {error}
          </p>
        )}
      </form>
    </section>
  );
}
