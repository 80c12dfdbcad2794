import { useState } from 'preact/hooks';
import { signOut, ApiError, type Session } from '../api';
import { hrefOf, navigate, type Route } from '../route';
import { Alert } from '../alert';

interface Props {
  session: Session;
  route: Route;
  onSignedOut: () => void;
}

const links: [Route, string][] = [
  ['keys', 'API keys'],
  ['groups', 'Groups'],
  ['audit', 'Audit'],
];

export function Header({ session, route, onSignedOut }: Props) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const onSignOut = async () => {
    setBusy(true);
    setError(null);
    try {
      await signOut();
      onSignedOut();
    } catch (e) {
      // A 401 already took the page back to sign-in.
      if (!(e instanceof ApiError && e.status === 401)) {
        setError(e instanceof ApiError ? e.detail : String(e));
      }
      setBusy(false);
    }
  };

  return (
    <header class="top">
      <div class="brand">
        <span class="logo">keytrail</span>
        <span class="who">
          <span class="org" title="Organization">{session.org}</span>
          <span aria-hidden="true"> · </span>
          <span class="member" title="Member">{session.member}</span>
        </span>
      </div>
      <nav aria-label="Console">
        <ul>
          {links.map(([to, label]) => (
            <li key={to}>
              <a
                href={hrefOf(to)}
                aria-current={route === to ? 'page' : undefined}
                onClick={(e) => {
                  if (e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
                  e.preventDefault();
                  navigate(to);
                }}
              >
                {label}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      <div class="signout">
        <button type="button" onClick={onSignOut} disabled={busy}>
          Sign out
        </button>
        <Alert text={error} />
      </div>
    </header>
  );
}
