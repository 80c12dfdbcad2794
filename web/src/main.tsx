import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { currentSession, onSessionEnded, setCsrfToken, type Session } from './api';
import { navigate, useRoute } from './route';
import { takeSsoError } from './sso';
import { Header } from './views/Header';
import { SignIn, type SignInPrefill } from './views/SignIn';
import { Invite } from './views/Invite';
import { Keys } from './views/Keys';
import { Groups } from './views/Groups';
import { Audit } from './views/Audit';
import './style.css';

const ENDED = 'Your session has ended. Sign in again.';

function App() {
  const route = useRoute();
  // undefined: not known yet; null: signed out.
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const [notice, setNotice] = useState<string | null>(null);
  const [prefill, setPrefill] = useState<SignInPrefill>({});
  // A failed single sign-on comes back as /console/?sso_error=<code>: read once, at start.
  const [ssoError, setSsoError] = useState(takeSsoError);

  const enter = (s: Session | null) => {
    setCsrfToken(s ? s.csrf_token : null);
    setSession(s);
    if (s) setSsoError(null);
  };

  useEffect(() => {
    onSessionEnded(() => {
      enter(null);
      setNotice(ENDED);
    });
    if (route === 'invite') {
      enter(null);
      return;
    }
    currentSession().then(
      (s) => enter(s),
      () => enter(null),
    );
  }, []);

  useEffect(() => {
    document.title = session ? `keytrail · ${session.org}` : 'keytrail console';
  }, [session]);

  if (route === 'invite' && !session) {
    return (
      <main class="narrow">
        <Invite
          onAccepted={(org, member) => {
            setPrefill({ org, member });
            setNotice('Your password is set. Sign in with it.');
            navigate('keys', true);
          }}
        />
      </main>
    );
  }
  if (session === undefined) {
    return (
      <main class="narrow">
        <p role="status">Loading…</p>
      </main>
    );
  }
  if (session === null) {
    return (
      <main class="narrow">
        <SignIn
          prefill={prefill}
          notice={notice}
          ssoError={ssoError}
          onSignedIn={(s) => {
            setNotice(null);
            enter(s);
            if (route === 'invite') navigate('keys', true);
          }}
        />
      </main>
    );
  }
  return (
    <>
      <Header
        session={session}
        route={route}
        onSignedOut={() => {
          enter(null);
          setPrefill({ org: session.org, member: session.member });
          setNotice('You have signed out.');
        }}
      />
      <main>
        {route === 'groups' ? (
          <Groups session={session} />
        ) : route === 'audit' ? (
          <Audit session={session} />
        ) : (
          <Keys session={session} />
        )}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
