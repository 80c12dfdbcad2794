// Single sign-on (OpenID Connect) for the console, in a real browser, against a real
// `keytrail serve` and a real OpenID provider.
//
//   node tests/browser/sso.test.mjs      (after `npm ci --prefix web` and a build)
//
// Starts the server (KEYTRAIL_BIN, default build/tools/keytrail/keytrail; KEYTRAIL_CONSOLE_DIR
// serves a console build from that directory instead of the built-in one) on a fresh data
// directory and `oidc-provider` behind a proxy that is the issuer (tests/browser/
// oidc_provider.mjs), drives Debian's Chromium (CHROMIUM, default /usr/bin/chromium) with
// playwright-core, and checks: the sign-in page offers "Sign in with SSO" for an org with
// SSO; a member signs in through the provider's login and consent pages; tampered,
// wrong-audience and expired ID tokens, a replayed callback, a member deactivated over
// SCIM and an unknown account are refused with the right sso_error and no session; a
// just-in-time member gets in; with password sign-in off the password form is gone and
// POST /v1/sessions is refused; the flow works across sites (keytrail at localhost, the
// provider at 127.0.0.1); axe-core finds no serious or critical violation. Elements are
// found by role and accessible name. Exit status 0 = every step passed. Secrets (keys,
// passwords, the client secret, codes, cookies) are never printed: output passes through
// redact().
import { createServer } from 'node:net';
import { generateSigningKey, startOidcProvider } from './oidc_provider.mjs';
import {
  axe, button, check, equal, fail, field, passedSteps, redact, secret, servers, startServer,
  step, stopServers, webRequire,
} from './harness.mjs';

const { chromium } = webRequire('playwright-core');

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const CONSOLE_DIR = process.env.KEYTRAIL_CONSOLE_DIR || '';
const ORG = 'default'; // serve's --bootstrap-org default
const ADMIN_PASSWORD = 'correct horse battery staple';
const CLIENT_ID = 'keytrail-console';
const CLIENT_SECRET = `client-secret-${Math.random().toString(36).slice(2)}-${Date.now()}`;
const SSO_FAILED = 'Single sign-on failed';
const DEACTIVATED = 'Single sign-on failed: your account is deactivated.';

// The provider's people. The login on its development page is the `sub`; keytrail finds
// the member by the verified email (the default claim), so sub and member id differ.
const ALICE = { sub: 'sub-alice-7f3a', email: 'alice@example.com', email_verified: true, preferred_username: 'alice' };
const BOB = { sub: 'sub-bob-19c2', email: 'bob@example.com', email_verified: true, preferred_username: 'bob' };
const MALLORY = { sub: 'sub-mallory-5d0e', email: 'mallory@example.com', email_verified: true, preferred_username: 'mallory' };
const NINA = { sub: 'sub-nina-a41b', email: 'nina@example.com', email_verified: true, preferred_username: 'nina' };

// ---------------------------------------------------------------------------------------
// Output, secrets and failures.

secret(ADMIN_PASSWORD); secret(CLIENT_SECRET);
/** JSON text with every object's keys sorted, so that key order does not count. */
function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
function sameJson(actual, expected, what) {
  equal(canonical(actual), canonical(expected), what);
}


// ---------------------------------------------------------------------------------------
// The servers: keytrail and the OpenID provider.

const providers = [];

/** A TCP port free on 127.0.0.1 just now (for a server whose URL must be known first). */
async function freePort() {
  const probe = createServer();
  await new Promise((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** `keytrail serve` (with KEYTRAIL_CONSOLE_DIR's console, if set), at `publicUrl` if given. */
async function startSsoServer({ listen = '127.0.0.1:0', publicUrl } = {}) {
  const args = [];
  if (publicUrl) args.push('--public-url', publicUrl);
  if (CONSOLE_DIR) args.push('--console-dir', CONSOLE_DIR);
  return startServer(args, { listen });
}

/** The provider, its one client registered with keytrail's callback at `base`. */
async function startProvider(base) {
  const op = await startOidcProvider({
    client: { id: CLIENT_ID, secret: CLIENT_SECRET, redirectUri: `${base}/v1/sso/callback` },
    accounts: [ALICE, BOB, MALLORY, NINA],
    signingKey: generateSigningKey(),
  });
  providers.push(op);
  return op;
}

/** A JSON API call; returns {status, body, headers}. */
async function api(base, method, path, { bearer, cookie, body, contentType } = {}) {
  const headers = { Accept: 'application/json' };
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  if (cookie) headers.Cookie = cookie;
  if (body !== undefined) headers['Content-Type'] = contentType || 'application/json';
  const response = await fetch(base + path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body), redirect: 'manual',
  });
  const text = await response.text();
  let parsed = null;
  try { parsed = text ? JSON.parse(text) : null; } catch { parsed = text; }
  return { status: response.status, body: parsed, text, headers: response.headers };
}

async function configureSso(base, adminKey, issuer, extra = {}) {
  const r = await api(base, 'PUT', `/v1/orgs/${ORG}/sso`, {
    bearer: adminKey, body: { issuer, client_id: CLIENT_ID, client_secret: CLIENT_SECRET, ...extra },
  });
  equal(r.status, 200, `PUT /v1/orgs/${ORG}/sso (${redact(r.text)})`);
  check(!r.text.includes(CLIENT_SECRET), 'the answer does not echo the client secret');
  return r.body;
}

async function setMember(base, adminKey, member, groups) {
  const r = await api(base, 'PUT', `/v1/orgs/${ORG}/members/${member}`, { bearer: adminKey, body: { groups } });
  equal(r.status, 200, `PUT member ${member} (${redact(r.text)})`);
}

async function memberIds(base, adminKey) {
  const r = await api(base, 'GET', `/v1/orgs/${ORG}/members`, { bearer: adminKey });
  equal(r.status, 200, 'GET members');
  return new Map(r.body.members.map((m) => [m.id, m.groups || []]));
}

async function passwordSignIn(base, member, password) {
  return api(base, 'POST', '/v1/sessions', { body: { org: ORG, member, password } });
}

/** Where a redirect answer sends the browser, as path and query. */
function target(location, base) {
  const u = new URL(location, base);
  return u.pathname + u.search;
}

// ---------------------------------------------------------------------------------------
// The browser.

let browser;
const pageErrors = [];

async function newPage() {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) pageErrors.push(redact(m.text()));
  });
  page.on('pageerror', (e) => pageErrors.push(`page error: ${redact(e.message)}`));
  return { context, page };
}


function ssoLink(page) {
  return page.getByRole('link', { name: 'Sign in with SSO', exact: true });
}

/**
 * The sign-in page of `base` with `org` typed in, once the console has asked GET
 * /v1/sso/{org} about it (the field is debounced).
 */
async function signInPage(page, base, org = ORG) {
  await page.goto(`${base}/console/`);
  await field(page, 'Organization').waitFor();
  const asked = page.waitForResponse((r) => r.url() === `${base}/v1/sso/${encodeURIComponent(org)}`);
  await field(page, 'Organization').fill(org);
  await asked;
}

/**
 * Signs in as `account` through SSO in `page` (a fresh context: the provider shows its
 * login page, then its consent page). Resolves to {location} (where keytrail's callback
 * sent the browser, path and query), {callbackUrl} (with code and state) and {cookie} (the
 * Cookie header the browser sent with it), once the console has loaded.
 */
async function ssoSignIn(page, { base, op }, account, org = ORG) {
  const callback = new Promise((resolve) => {
    const onRequest = async (request) => {
      if (!request.url().startsWith(`${base}/v1/sso/callback`)) return;
      page.off('request', onRequest);
      const url = new URL(request.url());
      for (const p of ['code', 'state']) secret(url.searchParams.get(p));
      secret(request.url());
      const cookie = (await request.headerValue('cookie')) || '';
      for (const c of cookie.split(';')) secret(c.trim().split('=').slice(1).join('='));
      const response = await request.response();
      resolve({ callbackUrl: request.url(), cookie, location: response ? await response.headerValue('location') : null });
    };
    page.on('request', onRequest);
  });
  await signInPage(page, base, org);
  await ssoLink(page).click();
  await page.waitForURL((u) => u.href.startsWith(`${op.issuer}/interaction/`));
  const login = page.getByRole('textbox', { name: 'Enter any login' });
  await login.fill(account.sub);
  await page.getByPlaceholder('and password').fill('any password will do');
  await button(page, 'Sign-in').click();
  await button(page, 'Continue').click();
  const seen = await Promise.race([
    callback,
    new Promise((_, reject) => setTimeout(() => reject(new Error('keytrail\'s callback was not reached within 15 s')), 15_000)),
  ]);
  check(seen.location, 'the callback answered with a redirect');
  await page.waitForURL((u) => u.href.startsWith(`${base}/console/`));
  return { ...seen, location: target(seen.location, base) };
}

async function sessionCookie(context) {
  const cookies = await context.cookies();
  const session = cookies.find((c) => /keytrail_session$/.test(c.name) && c.value);
  if (session) secret(session.value);
  return session ? `${session.name}=${session.value}` : null;
}

/** The browser was sent back with `code`: the console explains it, drops it from the URL, no session. */
async function refusedWith(page, context, seen, code, words = SSO_FAILED) {
  equal(seen.location, `/console/?sso_error=${code}`, 'where the callback sent the browser');
  await page.getByRole('alert').filter({ hasText: words }).waitFor();
  check(!page.url().includes('sso_error'), `the console removes sso_error from the URL (${page.url()})`);
  await field(page, 'Organization').waitFor();
  equal(await sessionCookie(context), null, 'a session cookie after a refused sign-in');
}

// ---------------------------------------------------------------------------------------
// The scenarios.

async function main() {
  const started = Date.now();
  const kt = await startSsoServer();
  const { base, adminKey } = kt;
  const op = await startProvider(base);
  const site = { base, op };
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  let adminMember = '';
  let ssoAnswer;
  let aliceSignIn;

  await step('without SSO: GET /v1/sso/{org} says so, the sign-in page offers the password only', async () => {
    const accepted = await api(base, 'POST', '/v1/invitations/accept', { body: { token: kt.inviteUrl.split('#')[1], password: ADMIN_PASSWORD } });
    equal(accepted.status, 200, 'accepting the bootstrap invitation');
    adminMember = accepted.body.member;
    for (const org of [ORG, 'no-such-org']) {
      const r = await api(base, 'GET', `/v1/sso/${org}`);
      equal(r.status, 200, `GET /v1/sso/${org}`);
      sameJson(r.body, { sso: false, password_sign_in: true, login_url: null }, `GET /v1/sso/${org}`);
    }
    const { page, context } = await newPage();
    await signInPage(page, base);
    equal(await ssoLink(page).count(), 0, 'Sign in with SSO links without SSO');
    await field(page, 'Password').waitFor();
    await context.close();
  });

  await step('an sso_error in the URL: the sign-in page says why and drops it from the URL', async () => {
    const { page, context } = await newPage();
    await page.goto(`${base}/console/?sso_error=member_inactive`);
    await page.getByRole('alert').filter({ hasText: DEACTIVATED }).waitFor();
    equal(new URL(page.url()).search, '', 'the query after reading sso_error');
    await page.goto(`${base}/console/?sso_error=<b>call+555</b>`);
    const alert = page.getByRole('alert');
    await alert.waitFor();
    const words = await alert.innerText();
    check(words.startsWith(SSO_FAILED) && !words.includes('555'), `an unknown code gets general words, not the code: ${words}`);
    await axe(page, 'the sign-in view with an SSO error');
    await context.close();
  });

  await step('configure SSO: PUT /v1/orgs/default/sso with the admin key; the secret is never shown', async () => {
    const anonymous = await api(base, 'PUT', `/v1/orgs/${ORG}/sso`, { body: { issuer: op.issuer, client_id: CLIENT_ID, client_secret: CLIENT_SECRET } });
    equal(anonymous.status, 401, 'PUT sso without a key');
    const plain = await api(base, 'PUT', `/v1/orgs/${ORG}/sso`, { bearer: adminKey, body: { issuer: 'http://idp.example.com', client_id: CLIENT_ID, client_secret: CLIENT_SECRET } });
    check(plain.status >= 400 && plain.status < 500, `an http:// issuer off loopback is refused with a 4xx, got ${plain.status}`);
    const fetchedBefore = op.requests.filter((r) => r.path === '/.well-known/openid-configuration').length;
    ssoAnswer = await configureSso(base, adminKey, op.issuer);
    sameJson(ssoAnswer, {
      issuer: op.issuer, client_id: CLIENT_ID, claim: 'email', jit_group: null, password_sign_in: true,
      callback_url: `${base}/v1/sso/callback`, client_secret_set: true,
    }, 'the PUT answer');
    check(op.requests.filter((r) => r.path === '/.well-known/openid-configuration').length > fetchedBefore,
      'keytrail fetched the discovery document through the issuer URL');
    const r = await api(base, 'GET', `/v1/sso/${ORG}`);
    sameJson(r.body, { sso: true, password_sign_in: true, login_url: `/v1/sso/${ORG}/login` }, 'GET /v1/sso/default');
    const other = await api(base, 'GET', '/v1/sso/no-such-org');
    equal(other.body.sso, false, 'sso of an unknown org');
    await setMember(base, adminKey, ALICE.email, ['developer']);
  });

  await step('the sign-in page shows "Sign in with SSO" for org default only; axe passes', async () => {
    const { page, context } = await newPage();
    await signInPage(page, base);
    await ssoLink(page).waitFor();
    equal(await ssoLink(page).getAttribute('href'), `/v1/sso/${ORG}/login`, 'the link goes to login_url');
    await field(page, 'Member').waitFor();
    await field(page, 'Password').waitFor();
    await axe(page, 'the sign-in view with Sign in with SSO');
    const asked = page.waitForResponse((r) => r.url() === `${base}/v1/sso/no-such-org`);
    await field(page, 'Organization').fill('no-such-org');
    await asked;
    await ssoLink(page).waitFor({ state: 'detached' });
    await field(page, 'Organization').fill(ORG);
    await ssoLink(page).waitFor();
    await context.close();
  });

  await step('SSO sign-in through the provider\'s login and consent pages: signed in as alice@example.com', async () => {
    const { page, context } = await newPage();
    const seen = await ssoSignIn(page, site, ALICE);
    equal(seen.location, '/console/', 'where the callback sent the browser');
    await page.getByRole('heading', { name: 'API keys', exact: true }).waitFor();
    const header = await page.getByRole('banner').innerText();
    check(header.includes(ORG) && header.includes(ALICE.email), `the header names the org and alice: ${header}`);
    check(!/[?&](code|state)=/.test(page.url()), 'no code or state in the console URL');
    const cookie = await sessionCookie(context);
    check(cookie, 'the session cookie is set');
    const current = await api(base, 'GET', '/v1/sessions/current', { cookie });
    equal(current.status, 200, 'GET /v1/sessions/current');
    equal(current.body.member, ALICE.email, 'the session member');
    equal(current.body.org, ORG, 'the session org');
    check(!(await context.cookies()).some((c) => /keytrail_sso$/.test(c.name) && c.value), 'the flow cookie is cleared');
    const auth = op.requests.filter((r) => r.path === '/auth').at(-1);
    check(auth, 'the browser went to the authorization endpoint');
    const q = auth.query;
    equal(q.response_type, 'code', 'response_type');
    equal(q.client_id, CLIENT_ID, 'client_id');
    equal(q.redirect_uri, `${base}/v1/sso/callback`, 'redirect_uri');
    for (const s of ['openid', 'email', 'profile']) check(q.scope.split(' ').includes(s), `scope has ${s}: ${q.scope}`);
    equal(q.code_challenge_method, 'S256', 'code_challenge_method');
    check(/^[A-Za-z0-9_-]{43}$/.test(q.code_challenge || ''), 'a S256 code_challenge');
    check((q.state || '').length >= 16 && (q.nonce || '').length >= 16, 'state and nonce of at least 16 characters');
    aliceSignIn = seen;
    await context.close();
  });

  await step('replaying the callback URL is refused (invalid_state or provider_error), no new session', async () => {
    const refused = /^\/console\/\?sso_error=(invalid_state|provider_error)$/;
    // With the flow cookie the browser had then (the code is spent at the provider) ...
    const flowCookie = aliceSignIn.cookie.split(';').map((c) => c.trim()).filter((c) => c && !/keytrail_session=/.test(c)).join('; ');
    for (const [what, cookie] of [['with the flow cookie', flowCookie], ['without cookies', '']]) {
      const r = await fetch(aliceSignIn.callbackUrl, { redirect: 'manual', headers: cookie ? { Cookie: cookie } : {} });
      equal(r.status, 303, `the replayed callback ${what}`);
      const to = target(r.headers.get('location') || '', base);
      check(refused.test(to), `the replayed callback ${what} sends to ${to}`);
      check(!r.headers.getSetCookie().some((c) => /keytrail_session=[^;]/.test(c)), `no session cookie for a replay ${what}`);
    }
    // ... and in a browser.
    const { page, context } = await newPage();
    await page.goto(aliceSignIn.callbackUrl);
    await page.getByRole('alert').filter({ hasText: SSO_FAILED }).waitFor();
    check(!page.url().includes('sso_error') && !page.url().includes('code='), `the console URL: ${page.url()}`);
    equal(await sessionCookie(context), null, 'a session cookie after a replay');
    await context.close();
  });

  for (const mode of ['tamper', 'wrong_audience', 'expired']) {
    await step(`${mode}: an ID token ${{ tamper: 'changed after signing', wrong_audience: 'for another client', expired: 'that has expired' }[mode]} is refused with invalid_token`, async () => {
      op.setMode(mode);
      const before = op.rewrites;
      try {
        const { page, context } = await newPage();
        const seen = await ssoSignIn(page, site, ALICE);
        equal(op.rewrites, before + 1, 'ID tokens the proxy rewrote');
        await refusedWith(page, context, seen, 'invalid_token');
        await context.close();
      } finally {
        op.setMode('normal');
      }
    });
  }

  await step('a member deactivated over SCIM is refused with member_inactive', async () => {
    const created = await api(base, 'POST', `/v1/orgs/${ORG}/keys`, {
      bearer: adminKey, body: { name: 'scim', group: 'viewer', permissions: ['scim'], expires: '1y' },
    });
    equal(created.status, 201, `a key with the scim permission (${redact(created.text)})`);
    const scim = secret(created.body.token);
    // SCIM manages only the people it provisioned: bob comes from the identity provider.
    const provisioned = await api(base, 'POST', '/scim/v2/Users', {
      bearer: scim, contentType: 'application/scim+json',
      body: { userName: BOB.email, emails: [{ value: BOB.email, primary: true }] },
    });
    equal(provisioned.status, 201, `SCIM POST /Users (${redact(provisioned.text)})`);
    await setMember(base, adminKey, BOB.email, ['developer']);
    const patched = await api(base, 'PATCH', `/scim/v2/Users/${BOB.email}`, {
      bearer: scim, contentType: 'application/scim+json',
      body: { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'active', value: false }] },
    });
    equal(patched.status, 200, `SCIM PATCH active=false (${redact(patched.text)})`);
    const { page, context } = await newPage();
    const seen = await ssoSignIn(page, site, BOB);
    await refusedWith(page, context, seen, 'member_inactive', DEACTIVATED);
    await context.close();
  });

  await step('an account that is no member is refused with unknown_member', async () => {
    const { page, context } = await newPage();
    const seen = await ssoSignIn(page, site, MALLORY);
    await refusedWith(page, context, seen, 'unknown_member');
    await context.close();
    check(!(await memberIds(base, adminKey)).has(MALLORY.email), 'mallory is not made a member');
  });

  await step('with jit_group, an unknown account gets in and is listed as a member of that group', async () => {
    const answer = await configureSso(base, adminKey, op.issuer, { jit_group: 'developer' });
    equal(answer.jit_group, 'developer', 'jit_group in the PUT answer');
    const { page, context } = await newPage();
    const seen = await ssoSignIn(page, site, NINA);
    equal(seen.location, '/console/', 'where the callback sent the browser');
    await page.getByRole('heading', { name: 'API keys', exact: true }).waitFor();
    check((await page.getByRole('banner').innerText()).includes(NINA.email), 'the header names nina');
    const members = await memberIds(base, adminKey);
    check(members.has(NINA.email), `nina is a member: ${[...members.keys()].join(', ')}`);
    sameJson(members.get(NINA.email), ['developer'], 'nina\'s groups');
    await context.close();
  });

  await step('password sign-in off: the password form is hidden, POST /v1/sessions is refused; axe passes', async () => {
    equal((await passwordSignIn(base, adminMember, ADMIN_PASSWORD)).status, 201, 'a password sign-in while allowed');
    const answer = await configureSso(base, adminKey, op.issuer, { password_sign_in: false });
    equal(answer.password_sign_in, false, 'password_sign_in in the PUT answer');
    const r = await api(base, 'GET', `/v1/sso/${ORG}`);
    sameJson(r.body, { sso: true, password_sign_in: false, login_url: `/v1/sso/${ORG}/login` }, 'GET /v1/sso/default');
    const { page, context } = await newPage();
    await signInPage(page, base);
    await ssoLink(page).waitFor();
    await field(page, 'Password').waitFor({ state: 'detached' });
    equal(await field(page, 'Member').count(), 0, 'Member fields');
    equal(await button(page, 'Sign in').count(), 0, 'Sign in buttons');
    await axe(page, 'the sign-in view with SSO only');
    await context.close();
    const refused = await passwordSignIn(base, adminMember, ADMIN_PASSWORD);
    equal(refused.status, 401, 'POST /v1/sessions with the right password');
    const key = await api(base, 'GET', `/v1/orgs/${ORG}/members`, { bearer: adminKey });
    equal(key.status, 200, 'API keys are not affected');
    const sso = await newPage();
    equal((await ssoSignIn(sso.page, site, ALICE)).location, '/console/', 'SSO still signs in');
    await sso.context.close();
  });

  await step('DELETE /v1/orgs/default/sso: SSO is off, passwords work again', async () => {
    const r = await api(base, 'DELETE', `/v1/orgs/${ORG}/sso`, { bearer: adminKey });
    check(r.status === 200 || r.status === 204, `DELETE sso: ${r.status}`);
    const after = await api(base, 'GET', `/v1/sso/${ORG}`);
    sameJson(after.body, { sso: false, password_sign_in: true, login_url: null }, 'GET /v1/sso/default');
    const login = await api(base, 'GET', `/v1/sso/${ORG}/login`);
    equal(login.status, 303, 'GET /v1/sso/default/login');
    equal(target(login.headers.get('location'), base), '/console/?sso_error=not_configured', 'where the login sends the browser');
    equal((await passwordSignIn(base, adminMember, ADMIN_PASSWORD)).status, 201, 'a password sign-in');
  });

  await step('across sites (keytrail at localhost, the provider at 127.0.0.1): the sign-in completes', async () => {
    // As with a real provider, the return from it is a cross-site navigation: the flow
    // cookie must still reach the callback, and the session must work afterwards.
    const port = await freePort();
    const publicUrl = `http://localhost:${port}`;
    const cross = await startSsoServer({ listen: `127.0.0.1:${port}`, publicUrl });
    const local = `http://127.0.0.1:${port}`; // for node's fetch (localhost may resolve to ::1)
    const crossOp = await startProvider(publicUrl);
    const answer = await configureSso(local, cross.adminKey, crossOp.issuer);
    equal(answer.callback_url, `${publicUrl}/v1/sso/callback`, 'callback_url with --public-url');
    await setMember(local, cross.adminKey, ALICE.email, ['viewer']);
    const { page, context } = await newPage();
    const seen = await ssoSignIn(page, { base: publicUrl, op: crossOp }, ALICE);
    equal(seen.location, '/console/', 'where the callback sent the browser');
    await page.getByRole('heading', { name: 'API keys', exact: true }).waitFor();
    check((await page.getByRole('banner').innerText()).includes(ALICE.email), 'the header names alice');
    await context.close();
  });

  check(pageErrors.length === 0, `page errors or CSP violations: ${pageErrors.join(' | ')}`);
  console.log(`all ${passedSteps()} steps passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

let status = 0;
try {
  await main();
} catch (error) {
  status = 1;
  console.error(`FAILED: ${redact(error instanceof Error ? error.message : error)}`);
  for (const [i, s] of servers.entries()) {
    console.error(`--- server ${i} output (last 3000 characters) ---\n${redact(s.output.slice(-3000))}`);
  }
} finally {
  if (browser) await browser.close().catch(() => {});
  stopServers();
  for (const op of providers) await op.close().catch(() => {});
}
process.exit(status);
