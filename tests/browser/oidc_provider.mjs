// A real OpenID Connect provider for the SSO tests, with a proxy in front that can spoil
// its ID tokens.
//
//   import { generateSigningKey, startOidcProvider } from './oidc_provider.mjs';
//   node tests/browser/oidc_provider.mjs --self-test     (checks this file, no keytrail)
//   node tests/browser/oidc_provider.mjs --redirect-uri http://127.0.0.1:8080/v1/sso/callback
//                                         (runs one for trying keytrail by hand; see cli())
//
// The provider is `oidc-provider` (web/node_modules) on 127.0.0.1, in memory, with one
// confidential client (authorization code flow, PKCE S256 required, client_secret_basic
// unless told otherwise), the accounts the caller chooses, and its development login and
// consent pages ("Enter any login" / "and password" / "Sign-in", then "Continue"): the
// login is the account's `sub`, any password passes. ID tokens carry the scope's claims
// (email, email_verified, preferred_username) and are signed with the caller's key, so a
// test can sign tokens of its own too (signJwt).
//
// The issuer URL is the proxy's, not the provider's: discovery, authorization, the login
// pages, token and JWKS all go through it. The proxy forwards every request unchanged
// (Host included, so the provider names the proxy in its URLs) and, in any mode but
// `normal`, rewrites the ID token in the token endpoint's answer:
//   tamper          one character of the payload changed, header and signature kept
//   wrong_audience  re-signed with the same key, `aud` another client
//   expired         re-signed with the same key, `exp` an hour ago (and `iat` two)
// `rewrites` counts the tokens it changed, so a test knows the spoiled token was fetched.
// `requests` lists what went through ({method, path, query}; no bodies, no secrets).
import { createPublicKey, createHash, generateKeyPairSync, randomBytes, sign, verify } from 'node:crypto';
import { createServer, request as httpRequest } from 'node:http';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const webRequire = createRequire(join(root, 'web/package.json'));

export const MODES = ['normal', 'tamper', 'wrong_audience', 'expired'];
const TOKEN_PATH = '/token';

// ---------------------------------------------------------------------------------------
// Keys and JWTs (RS256 with node:crypto alone, so the rewriting needs no JOSE library).

/** A fresh RSA key for signing ID tokens: {privateKey (KeyObject), kid}. */
export function generateSigningKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { privateKey, kid: `test-${randomBytes(6).toString('hex')}` };
}

function b64url(data) {
  return Buffer.from(data).toString('base64url');
}

/** Signs `payload` as a compact JWS (RS256) with `key` ({privateKey, kid}); `header` adds fields. */
export function signJwt(payload, key, header = {}) {
  const head = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: key.kid, ...header }));
  const body = b64url(JSON.stringify(payload));
  const signature = sign('sha256', Buffer.from(`${head}.${body}`), key.privateKey);
  return `${head}.${body}.${b64url(signature)}`;
}

/** {header, payload} of a compact JWS, unverified. */
export function decodeJwt(token) {
  const [head, body] = String(token).split('.');
  return {
    header: JSON.parse(Buffer.from(head, 'base64url').toString('utf8')),
    payload: JSON.parse(Buffer.from(body, 'base64url').toString('utf8')),
  };
}

/** Whether `token`'s RS256 signature is valid under one key of the JWK Set `jwks`. */
export function verifyJwt(token, jwks) {
  const [head, body, signature] = String(token).split('.');
  const { kid } = JSON.parse(Buffer.from(head, 'base64url').toString('utf8'));
  const jwk = (jwks.keys || []).find((k) => k.kid === kid);
  if (!jwk) return false;
  return verify('sha256', Buffer.from(`${head}.${body}`), createPublicKey({ key: jwk, format: 'jwk' }),
    Buffer.from(signature, 'base64url'));
}

/** `token` spoiled as `mode` says (see the top of this file). */
export function spoilIdToken(token, mode, key, now = Math.floor(Date.now() / 1000)) {
  const [head, body, signature] = token.split('.');
  const { header, payload } = decodeJwt(token);
  if (mode === 'tamper') {
    // One character of a claim's value: still JSON, still base64url, signature untouched.
    const text = Buffer.from(body, 'base64url').toString('utf8');
    const claim = 'email' in payload ? 'email' : 'sub';
    const at = text.indexOf(`"${claim}":"`) + claim.length + 4;
    const changed = text.slice(0, at) + (text[at] === 'x' ? 'y' : 'x') + text.slice(at + 1);
    return `${head}.${b64url(changed)}.${signature}`;
  }
  if (mode === 'wrong_audience') {
    const { azp, ...rest } = payload;
    return signJwt({ ...rest, aud: 'another-client' }, key, header);
  }
  if (mode === 'expired') {
    return signJwt({ ...payload, iat: now - 7200, exp: now - 3600 }, key, header);
  }
  throw new Error(`unknown mode ${mode}`);
}

// ---------------------------------------------------------------------------------------
// The provider and its proxy.

function listen(server) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server.address().port));
  });
}

/** oidc-provider's configuration: one client, the accounts, the key, the dev pages. */
function providerConfig(client, accounts, signingKey) {
  return {
    clients: [{
      client_id: client.id,
      client_secret: client.secret,
      redirect_uris: [client.redirectUri],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: client.authMethod,
    }],
    jwks: { keys: [{ ...signingKey.privateKey.export({ format: 'jwk' }), kid: signingKey.kid, alg: 'RS256', use: 'sig' }] },
    async findAccount(_ctx, sub) {
      if (!accounts.has(sub)) return undefined;
      return {
        accountId: sub,
        async claims() {
          const a = accounts.get(sub);
          return { sub, email: a.email, email_verified: a.email_verified, preferred_username: a.preferred_username };
        },
      };
    },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['preferred_username'] },
    scopes: ['openid', 'email', 'profile'],
    // The scope's claims go into the ID token itself (keytrail reads them there).
    conformIdTokenClaims: false,
    pkce: { methods: ['S256'], required: () => true },
    features: { devInteractions: { enabled: true } },
    cookies: {
      keys: [randomBytes(32).toString('hex')],
      long: { signed: true, httpOnly: true, sameSite: 'lax' },
      short: { signed: true, httpOnly: true, sameSite: 'lax' },
    },
    routes: { token: TOKEN_PATH },
    ttl: { AccessToken: 600, AuthorizationCode: 60, Grant: 3600, IdToken: 600, Interaction: 600, Session: 3600 },
  };
}

/**
 * Starts the provider and the proxy; resolves to a handle:
 *   issuer          the proxy's URL, e.g. http://127.0.0.1:41234 (no trailing slash)
 *   client          {id, secret, redirectUri, authMethod}
 *   accounts        Map sub -> claims; add to it at any time
 *   jwks            the public JWK Set
 *   mode, setMode(mode), rewrites, requests
 *   close()
 * options: client {id, secret, redirectUri (required), authMethod ('client_secret_basic'
 * or 'client_secret_post')}, accounts [{sub, email, email_verified, preferred_username}],
 * signingKey (from generateSigningKey(); default a fresh one).
 */
export async function startOidcProvider(options) {
  const { client: c = {}, accounts: list = [], signingKey = generateSigningKey() } = options;
  if (!c.redirectUri) throw new Error('startOidcProvider: client.redirectUri is required');
  const client = {
    id: c.id || 'keytrail-test',
    secret: c.secret || randomBytes(24).toString('base64url'),
    redirectUri: c.redirectUri,
    authMethod: c.authMethod || 'client_secret_basic',
  };
  const accounts = new Map(list.map((a) => [a.sub, { ...a }]));

  const handle = {
    issuer: '',
    client,
    accounts,
    signingKey,
    jwks: { keys: [{ ...createPublicKey(signingKey.privateKey).export({ format: 'jwk' }), kid: signingKey.kid, alg: 'RS256', use: 'sig' }] },
    mode: 'normal',
    rewrites: 0,
    requests: [],
    setMode(mode) {
      if (!MODES.includes(mode)) throw new Error(`unknown mode ${mode} (one of ${MODES.join(', ')})`);
      handle.mode = mode;
    },
  };

  // The proxy listens first: its URL is the issuer the provider is built with.
  let upstreamPort = 0;
  const proxy = createServer((req, res) => forward(req, res));
  const proxyPort = await listen(proxy);
  handle.issuer = `http://127.0.0.1:${proxyPort}`;

  const { default: Provider } = await import(pathToFileURL(webRequire.resolve('oidc-provider')).href);
  // The library warns, on every start, that the in-memory store and the development pages
  // are for development only: that is the point here, so those two warnings are dropped.
  const warn = console.warn;
  console.warn = (...args) => {
    if (!/quick start development-only/.test(String(args[0]))) warn(...args);
  };
  let provider;
  try {
    provider = new Provider(handle.issuer, providerConfig(client, accounts, signingKey));
  } finally {
    console.warn = warn;
  }
  const upstream = createServer(provider.callback());
  upstreamPort = await listen(upstream);

  function forward(req, res) {
    const url = new URL(req.url, handle.issuer);
    handle.requests.push({ method: req.method, path: url.pathname, query: Object.fromEntries(url.searchParams) });
    const rewrite = req.method === 'POST' && url.pathname === TOKEN_PATH && handle.mode !== 'normal';
    const headers = { ...req.headers };
    delete headers.connection;
    delete headers['keep-alive'];
    if (rewrite) delete headers['accept-encoding'];
    const out = httpRequest({ host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers, agent: false }, (answer) => {
      if (!rewrite) {
        res.writeHead(answer.statusCode, answer.headers);
        answer.pipe(res);
        return;
      }
      const chunks = [];
      answer.on('data', (d) => chunks.push(d));
      answer.on('end', () => {
        let body = Buffer.concat(chunks);
        const mode = handle.mode;
        try {
          const json = JSON.parse(body.toString('utf8'));
          if (answer.statusCode === 200 && json.id_token) {
            json.id_token = spoilIdToken(json.id_token, mode, signingKey);
            body = Buffer.from(JSON.stringify(json));
            handle.rewrites += 1;
          }
        } catch {
          // Not JSON: passed on as it is.
        }
        const h = { ...answer.headers, 'content-length': String(body.length) };
        delete h.etag;
        res.writeHead(answer.statusCode, h);
        res.end(body);
      });
    });
    out.on('error', (e) => {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`proxy: ${e.message}`);
    });
    req.pipe(out);
  }

  handle.close = async () => {
    for (const server of [proxy, upstream]) {
      server.closeAllConnections?.();
      await new Promise((resolve) => server.close(() => resolve()));
    }
  };
  return handle;
}

// ---------------------------------------------------------------------------------------
// A relying party in a few lines: the authorization code flow with fetch, a cookie jar and
// the development pages, as the self-test (and keytrail) uses the provider.

function base64urlSha256(text) {
  return createHash('sha256').update(text).digest('base64url');
}

class Jar {
  cookies = new Map();
  take(response) {
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (value === '' || /expires=Thu, 01 Jan 1970/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
  header() {
    return [...this.cookies].map(([n, v]) => `${n}=${v}`).join('; ');
  }
}

async function fetchWith(jar, url, init = {}) {
  const response = await fetch(url, { ...init, redirect: 'manual', headers: { ...(init.headers || {}), cookie: jar.header() } });
  jar.take(response);
  return response;
}

/**
 * Runs the authorization code flow against `op` as `sub`; resolves to the callback's
 * query (code, state or error) and what was sent. `jar` keeps the provider's cookies
 * across calls (a signed-in provider session skips the login page).
 */
export async function authorize(op, sub, { jar = new Jar(), pkce = true, discovery } = {}) {
  const config = discovery || (await (await fetch(`${op.issuer}/.well-known/openid-configuration`)).json());
  const verifier = randomBytes(32).toString('base64url');
  const sent = { state: randomBytes(12).toString('base64url'), nonce: randomBytes(12).toString('base64url'), verifier };
  const query = new URLSearchParams({
    client_id: op.client.id, redirect_uri: op.client.redirectUri, response_type: 'code',
    scope: 'openid email profile', state: sent.state, nonce: sent.nonce,
  });
  if (pkce) {
    query.set('code_challenge', base64urlSha256(verifier));
    query.set('code_challenge_method', 'S256');
  }
  let url = `${config.authorization_endpoint}?${query}`;
  const pages = [];
  for (let hops = 0; hops < 20; hops += 1) {
    if (url.startsWith(op.client.redirectUri)) {
      return { callback: Object.fromEntries(new URL(url).searchParams), sent, pages, jar };
    }
    const response = await fetchWith(jar, url);
    if (response.status >= 300 && response.status < 400) {
      url = new URL(response.headers.get('location'), url).href;
      continue;
    }
    const html = await response.text();
    const action = html.match(/<form[^>]*action="([^"]+)"/);
    if (response.status !== 200 || !action) throw new Error(`authorize: ${response.status} at ${url}: ${html.slice(0, 300)}`);
    const form = new URLSearchParams();
    if (html.includes('name="login"')) {
      pages.push('login');
      form.set('prompt', 'login');
      form.set('login', sub);
      form.set('password', 'any password');
    } else if (html.includes('value="consent"')) {
      pages.push('consent');
      form.set('prompt', 'consent');
    } else {
      throw new Error(`authorize: an unknown page at ${url}`);
    }
    const posted = await fetchWith(jar, new URL(action[1].replace(/&amp;/g, '&'), url).href, {
      method: 'POST', body: form, headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    if (posted.status < 300 || posted.status >= 400) throw new Error(`authorize: the ${pages.at(-1)} form answered ${posted.status}`);
    url = new URL(posted.headers.get('location'), url).href;
  }
  throw new Error('authorize: too many redirects');
}

/** The token endpoint's answer for `code`: {status, body}. */
export async function exchangeCode(op, config, code, verifier) {
  const form = new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: op.client.redirectUri, code_verifier: verifier });
  const headers = { 'content-type': 'application/x-www-form-urlencoded' };
  if (op.client.authMethod === 'client_secret_post') {
    form.set('client_id', op.client.id);
    form.set('client_secret', op.client.secret);
  } else {
    headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(op.client.id)}:${encodeURIComponent(op.client.secret)}`).toString('base64')}`;
  }
  const response = await fetch(config.token_endpoint, { method: 'POST', headers, body: form });
  return { status: response.status, body: await response.json() };
}

// ---------------------------------------------------------------------------------------
// Self-test: node tests/browser/oidc_provider.mjs --self-test

async function selfTest() {
  let passed = 0;
  const check = (condition, message) => {
    if (!condition) throw new Error(message);
  };
  const step = async (name, body) => {
    try {
      await body();
      passed += 1;
      console.log(`ok ${passed} - ${name}`);
    } catch (error) {
      console.log(`not ok - ${name}`);
      throw error;
    }
  };
  const key = generateSigningKey();
  const op = await startOidcProvider({
    client: { id: 'keytrail-test', redirectUri: 'http://127.0.0.1:9/v1/sso/callback' },
    accounts: [{ sub: 'alice-sub', email: 'alice@example.com', email_verified: true, preferred_username: 'alice' }],
    signingKey: key,
  });
  const jar = new Jar();
  let config;
  const now = () => Math.floor(Date.now() / 1000);
  const flow = async () => {
    const { callback, sent } = await authorize(op, 'alice-sub', { jar, discovery: config });
    check(callback.code && callback.state === sent.state, `callback: ${JSON.stringify(callback)}`);
    const token = await exchangeCode(op, config, callback.code, sent.verifier);
    check(token.status === 200 && token.body.id_token, `token: ${token.status} ${JSON.stringify(token.body)}`);
    return { ...token.body, sent, code: callback.code };
  };
  try {
    await step('discovery names the proxy as issuer and every endpoint', async () => {
      config = await (await fetch(`${op.issuer}/.well-known/openid-configuration`)).json();
      check(config.issuer === op.issuer, `issuer ${config.issuer}`);
      for (const e of ['authorization_endpoint', 'token_endpoint', 'jwks_uri', 'userinfo_endpoint']) {
        check(config[e].startsWith(`${op.issuer}/`), `${e}: ${config[e]}`);
      }
      check(config.code_challenge_methods_supported.includes('S256'), 'S256 is supported');
    });
    await step('the JWKS is the test key', async () => {
      const jwks = await (await fetch(config.jwks_uri)).json();
      check(jwks.keys.length === 1 && jwks.keys[0].kid === key.kid && !jwks.keys[0].d, `jwks: ${JSON.stringify(jwks.keys.map((k) => k.kid))}`);
      check(jwks.keys[0].n === op.jwks.keys[0].n, 'the same modulus');
    });
    await step('without PKCE the authorization is refused', async () => {
      const { callback } = await authorize(op, 'alice-sub', { pkce: false, discovery: config });
      check(callback.error === 'invalid_request', `callback: ${JSON.stringify(callback)}`);
    });
    await step('login form, consent, code, token: a signed ID token with the claims', async () => {
      const first = await authorize(op, 'alice-sub', { jar, discovery: config });
      check(first.pages.join(',') === 'login,consent', `pages: ${first.pages.join(',')}`);
      const token = await exchangeCode(op, config, first.callback.code, first.sent.verifier);
      check(token.status === 200, `token status ${token.status}: ${JSON.stringify(token.body)}`);
      check(verifyJwt(token.body.id_token, op.jwks), 'the ID token verifies');
      const { header, payload } = decodeJwt(token.body.id_token);
      check(header.alg === 'RS256' && header.kid === key.kid, `header ${JSON.stringify(header)}`);
      check(payload.iss === op.issuer && payload.aud === 'keytrail-test' && payload.nonce === first.sent.nonce, `iss/aud/nonce: ${JSON.stringify(payload)}`);
      check(payload.sub === 'alice-sub' && payload.email === 'alice@example.com' && payload.email_verified === true && payload.preferred_username === 'alice', `claims: ${JSON.stringify(payload)}`);
      check(payload.exp > now(), 'exp in the future');
      const again = await exchangeCode(op, config, first.callback.code, first.sent.verifier);
      check(again.status === 400 && again.body.error === 'invalid_grant', `a code used twice: ${again.status} ${JSON.stringify(again.body)}`);
      const fresh = await authorize(op, 'alice-sub', { jar, discovery: config });
      const wrongVerifier = await exchangeCode(op, config, fresh.callback.code, 'x'.repeat(43));
      check(wrongVerifier.status === 400 && wrongVerifier.body.error === 'invalid_grant', `a wrong PKCE verifier: ${wrongVerifier.status}`);
    });
    await step('a signed-in provider session skips the login and consent pages', async () => {
      const again = await authorize(op, 'alice-sub', { jar, discovery: config });
      check(again.pages.length === 0 && again.callback.code, `pages: ${again.pages.join(',')}`);
    });
    await step('tamper: one payload character differs, the signature no longer verifies', async () => {
      op.setMode('tamper');
      const before = op.rewrites;
      const t = await flow();
      check(op.rewrites === before + 1, 'the token was rewritten');
      check(!verifyJwt(t.id_token, op.jwks), 'the tampered token must not verify');
      const { payload } = decodeJwt(t.id_token);
      check(payload.email !== 'alice@example.com' && payload.email.length === 'alice@example.com'.length, `email ${payload.email}`);
    });
    await step('wrong_audience: verifies, but aud is another client', async () => {
      op.setMode('wrong_audience');
      const t = await flow();
      check(verifyJwt(t.id_token, op.jwks), 'the re-signed token verifies');
      const { payload } = decodeJwt(t.id_token);
      check(payload.aud === 'another-client' && !('azp' in payload), `aud ${JSON.stringify(payload.aud)}`);
    });
    await step('expired: verifies, but exp is an hour ago', async () => {
      op.setMode('expired');
      const t = await flow();
      check(verifyJwt(t.id_token, op.jwks), 'the re-signed token verifies');
      const { payload } = decodeJwt(t.id_token);
      check(payload.exp < now() - 3000 && payload.iat < payload.exp, `exp ${payload.exp}`);
    });
    await step('normal again: untouched tokens; the proxy saw discovery, authorize, token, JWKS', async () => {
      op.setMode('normal');
      const before = op.rewrites;
      const t = await flow();
      check(op.rewrites === before && verifyJwt(t.id_token, op.jwks), 'a normal token');
      const paths = new Set(op.requests.map((r) => r.path));
      for (const p of ['/.well-known/openid-configuration', '/auth', '/token', '/jwks']) check(paths.has(p), `no request for ${p}`);
      check([...paths].some((p) => p.startsWith('/interaction/')), 'no interaction page went through the proxy');
    });
    await step('a token the test signs itself verifies against the provider JWKS', async () => {
      const own = signJwt({ iss: op.issuer, sub: 'x', aud: 'keytrail-test', exp: now() + 60, iat: now() }, key);
      const jwks = await (await fetch(config.jwks_uri)).json();
      check(verifyJwt(own, jwks), 'signJwt verifies');
    });
  } finally {
    await op.close();
  }
  console.log(`${passed} passed, 0 failed`);
}

// ---------------------------------------------------------------------------------------
// By hand: node tests/browser/oidc_provider.mjs --redirect-uri URL [--client-id ID]
//   [--account sub,email,preferred_username ...]; type a mode name + Enter to switch.

async function cli(argv) {
  const value = (name) => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : undefined; };
  const redirectUri = value('--redirect-uri');
  if (!redirectUri) throw new Error('usage: oidc_provider.mjs --self-test | --redirect-uri URL [--client-id ID] [--account sub,email,username]...');
  const accounts = [];
  argv.forEach((a, i) => {
    if (a !== '--account') return;
    const [sub, email, preferred_username] = argv[i + 1].split(',');
    accounts.push({ sub, email, email_verified: true, preferred_username });
  });
  if (accounts.length === 0) accounts.push({ sub: 'alice', email: 'alice@example.com', email_verified: true, preferred_username: 'alice' });
  const op = await startOidcProvider({ client: { id: value('--client-id'), redirectUri }, accounts });
  console.log(JSON.stringify({ issuer: op.issuer, client_id: op.client.id, client_secret: op.client.secret, accounts: [...op.accounts.keys()] }, null, 2));
  console.log(`modes: ${MODES.join(', ')} (type one and Enter); Ctrl-C ends`);
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (line) => {
    try {
      op.setMode(line.trim());
      console.log(`mode ${op.mode}`);
    } catch (e) {
      console.log(e.message);
    }
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const run = process.argv.includes('--self-test') ? selfTest() : cli(process.argv.slice(2));
  run.catch((error) => {
    console.error(`FAILED: ${error instanceof Error ? error.stack : error}`);
    process.exit(1);
  }).then(() => {
    if (process.argv.includes('--self-test')) process.exit(0);
  });
}
