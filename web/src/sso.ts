// Single sign-on failures. keytrail's SSO callback sends the browser back to
// /console/?sso_error=<code> (docs/identity.md); the console shows the code's words on the
// sign-in page and takes the parameter out of the URL.

const MESSAGES = new Map<string, string>([
  ['invalid_state', 'Single sign-on failed: the sign-in expired or was started in another window. Try again.'],
  ['provider_error', 'Single sign-on failed: the identity provider did not complete the sign-in. Try again, or ask an admin to check the set-up.'],
  ['invalid_token', 'Single sign-on failed: the identity provider’s answer could not be verified. Ask an admin to check the set-up.'],
  ['unknown_member', 'Single sign-on failed: your account is not a member of this organization. Ask an admin to add you.'],
  ['member_inactive', 'Single sign-on failed: your account is deactivated.'],
  ['not_configured', 'Single sign-on failed: single sign-on is not set up for this organization.'],
]);

/** The words for an sso_error code; a general sentence for a code not known here. */
export function ssoErrorMessage(code: string): string {
  return MESSAGES.get(code) ?? 'Single sign-on failed. Try again, or ask an admin of the organization.';
}

/** The words for the page URL's sso_error (null if it has none), which is then removed from the URL. */
export function takeSsoError(): string | null {
  const params = new URLSearchParams(location.search);
  const code = params.get('sso_error');
  if (code === null) return null;
  params.delete('sso_error');
  const rest = params.toString();
  history.replaceState(history.state, '', location.pathname + (rest ? `?${rest}` : '') + location.hash);
  return ssoErrorMessage(code);
}
