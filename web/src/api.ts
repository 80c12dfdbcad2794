// The console's only HTTP client: every request of the console goes through send().
// Request and answer types come from src/gen/api.ts, generated from docs/openapi.yaml by
// build.mjs, so a change of the API that the console does not follow fails the build.
import type { components, operations, paths } from './gen/api';

type Op = keyof operations;
type JsonOf<T> = T extends { content: { 'application/json': infer J } } ? J : never;
/** The JSON answer of operation O with status S. */
export type Answer<O extends Op, S extends keyof operations[O]['responses']> = JsonOf<
  operations[O]['responses'][S]
>;
/** The JSON request body of operation O. */
export type BodyOf<O extends Op> = JsonOf<NonNullable<operations[O]['requestBody']>>;
/** The query parameters of operation O. */
export type QueryOf<O extends Op> = NonNullable<operations[O]['parameters']['query']>;

export type Session = components['schemas']['Session'];
export type Key = components['schemas']['Key'];
export type NewKey = components['schemas']['NewKey'];
export type Group = components['schemas']['Group'];
export type Member = components['schemas']['Member'];
export type AuditRecord = components['schemas']['AuditRecord'];
export type Problem = components['schemas']['Problem'];
export type Action = keyof Session['allowed'];
export type AuditAction = NonNullable<QueryOf<'listAudit'>['action']>;
export type Rotated = Answer<'rotateKey', 200>;

/** A refusal or failure, with the words to show a person. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
  ) {
    super(detail);
  }
}

let csrfToken: string | null = null;
let sessionEnded: () => void = () => {};

/** The CSRF token sent on every request but GET and HEAD; null when signed out. */
export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

/** Called when a request of a signed-in member is answered 401. */
export function onSessionEnded(callback: () => void): void {
  sessionEnded = callback;
}

/** A fresh random id (RFC 4122 v4) for Idempotency-Key; works outside secure contexts. */
export function newIdempotencyKey(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

type Params = Record<string, string>;

function url<P extends keyof paths>(
  template: P,
  params: Params,
  query?: Record<string, string | number | boolean | undefined>,
): string {
  let out: string = template.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`missing path parameter ${name}`);
    return encodeURIComponent(value);
  });
  if (query) {
    const q = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) {
      if (value !== undefined && value !== '') q.set(name, String(value));
    }
    const s = q.toString();
    if (s) out += `?${s}`;
  }
  return out;
}

interface SendOptions {
  body?: unknown;
  idempotencyKey?: string;
  accept?: string;
  /** A 401 is an answer of this call (sign-in, the first session check), not an ended session. */
  expect401?: boolean;
}

async function problemOf(response: Response): Promise<ApiError> {
  let code = 'http_' + response.status;
  let detail = `The server answered ${response.status} ${response.statusText}.`;
  try {
    const p = (await response.json()) as Partial<Problem>;
    if (p.code) code = p.code;
    if (p.detail) detail = p.detail;
    else if (p.title) detail = p.title;
  } catch {
    // Not problem JSON: keep the generic words.
  }
  return new ApiError(response.status, code, detail);
}

async function send(method: string, target: string, options: SendOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { Accept: options.accept ?? 'application/json' };
  if (options.body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD' && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  if (options.idempotencyKey) headers['Idempotency-Key'] = options.idempotencyKey;
  let response: Response;
  try {
    response = await fetch(target, {
      method,
      headers,
      credentials: 'same-origin',
      cache: 'no-store',
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
  } catch {
    throw new ApiError(0, 'network', 'The server could not be reached. Check the connection and try again.');
  }
  if (response.ok) return response;
  const error = await problemOf(response);
  if (response.status === 401 && !options.expect401) sessionEnded();
  throw error;
}

async function json<T>(response: Response): Promise<T> {
  return (await response.json()) as T;
}

// Sessions and invitations.

export async function currentSession(): Promise<Session> {
  return json(await send('GET', url('/v1/sessions/current', {}), { expect401: true }));
}

export async function signIn(body: BodyOf<'createSession'>): Promise<Session> {
  return json(await send('POST', url('/v1/sessions', {}), { body, expect401: true }));
}

export async function signOut(): Promise<void> {
  await send('DELETE', url('/v1/sessions/current', {}));
}

export async function acceptInvitation(
  body: BodyOf<'acceptInvitation'>,
): Promise<Answer<'acceptInvitation', 200>> {
  return json(await send('POST', url('/v1/invitations/accept', {}), { body, expect401: true }));
}

// Single sign-on.

/** How an org's members sign in: SSO or not, passwords or not, where SSO starts. */
export type SsoOptions = Required<Answer<'ssoStatus', 200>>;

/** How members of `org` sign in; asks without a credential. */
export async function ssoOptions(org: string): Promise<SsoOptions> {
  const answer: Answer<'ssoStatus', 200> = await json(
    await send('GET', url('/v1/sso/{org}', { org }), { expect401: true }),
  );
  // The browser is sent to login_url: only a path of this server is followed.
  const login = answer.login_url ?? null;
  const local = login !== null && /^\/(?![/\\])/.test(login);
  return {
    sso: answer.sso === true,
    password_sign_in: answer.password_sign_in !== false,
    login_url: local ? login : null,
  };
}

// Keys.

/** Every key of the org, all pages. */
export async function listAllKeys(org: string): Promise<Key[]> {
  const keys: Key[] = [];
  let token: string | undefined;
  for (;;) {
    const query: QueryOf<'listKeys'> = { page_size: 1000, page_token: token };
    const page: Answer<'listKeys', 200> = await json(
      await send('GET', url('/v1/orgs/{org}/keys', { org }, { ...query })),
    );
    keys.push(...(page.keys ?? []));
    if (!page.next_page_token) return keys;
    token = page.next_page_token;
  }
}

export async function createKey(
  org: string,
  body: BodyOf<'createKey'>,
  idempotencyKey: string,
): Promise<NewKey> {
  return json(await send('POST', url('/v1/orgs/{org}/keys', { org }), { body, idempotencyKey }));
}

export async function rotateKey(
  org: string,
  id: string,
  body: BodyOf<'rotateKey'>,
  idempotencyKey: string,
): Promise<Rotated> {
  return json(
    await send('POST', url('/v1/orgs/{org}/keys/{id}/rotate', { org, id }), { body, idempotencyKey }),
  );
}

export async function revokeKey(
  org: string,
  id: string,
  body: BodyOf<'revokeKey'>,
  idempotencyKey: string,
): Promise<Key> {
  return json(
    await send('POST', url('/v1/orgs/{org}/keys/{id}/revoke', { org, id }), { body, idempotencyKey }),
  );
}

export async function updateKey(
  org: string,
  id: string,
  body: BodyOf<'updateKey'>,
  idempotencyKey: string,
): Promise<Key> {
  return json(
    await send('PATCH', url('/v1/orgs/{org}/keys/{id}', { org, id }), { body, idempotencyKey }),
  );
}

export async function suspendKey(
  org: string,
  id: string,
  body: BodyOf<'suspendKey'>,
  idempotencyKey: string,
): Promise<Key> {
  return json(
    await send('POST', url('/v1/orgs/{org}/keys/{id}/suspend', { org, id }), { body, idempotencyKey }),
  );
}

export async function resumeKey(org: string, id: string, idempotencyKey: string): Promise<Key> {
  return json(
    await send('POST', url('/v1/orgs/{org}/keys/{id}/resume', { org, id }), { idempotencyKey }),
  );
}

export async function moveKey(
  org: string,
  id: string,
  body: BodyOf<'moveKey'>,
  idempotencyKey: string,
): Promise<Key> {
  return json(
    await send('PUT', url('/v1/orgs/{org}/keys/{id}/group', { org, id }), { body, idempotencyKey }),
  );
}

export async function keyHistory(org: string, id: string): Promise<AuditRecord[]> {
  const answer: Answer<'getKeyHistory', 200> = await json(
    await send('GET', url('/v1/orgs/{org}/keys/{id}/history', { org, id })),
  );
  return answer.events ?? [];
}

// Groups and members.

export async function listGroups(org: string): Promise<Group[]> {
  const answer: Answer<'listGroups', 200> = await json(
    await send('GET', url('/v1/orgs/{org}/groups', { org })),
  );
  return answer.groups ?? [];
}

export async function listMembers(org: string): Promise<Member[]> {
  const answer: Answer<'listMembers', 200> = await json(
    await send('GET', url('/v1/orgs/{org}/members', { org })),
  );
  return answer.members ?? [];
}

// Audit trail.

export type AuditQuery = Omit<QueryOf<'listAudit'>, 'page_size' | 'page_token'>;

export async function listAudit(
  org: string,
  filter: AuditQuery,
  pageToken: string | undefined,
  pageSize: number,
): Promise<Answer<'listAudit', 200>> {
  const query: QueryOf<'listAudit'> = { ...filter, page_size: pageSize, page_token: pageToken };
  return json(await send('GET', url('/v1/orgs/{org}/audit', { org }, { ...query })));
}

/** A link to every record matching the filter, as the API's CSV export (a download). */
export function auditCsvHref(org: string, filter: AuditQuery): string {
  const query: QueryOf<'listAudit'> = { ...filter, format: 'csv' };
  return url('/v1/orgs/{org}/audit', { org }, { ...query });
}
