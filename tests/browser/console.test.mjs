// The web console in a real browser, against a real `keytrail serve`.
//
//   node tests/browser/console.test.mjs      (after `npm ci --prefix web` and a build)
//
// Starts the server (KEYTRAIL_BIN, default build/tools/keytrail/keytrail) on a fresh data
// directory, drives Debian's Chromium (CHROMIUM, default /usr/bin/chromium) with
// playwright-core, and checks the console as a person uses it: invitation, sign-in, a key
// created, shown once, rotated, moved, revoked, search and sort, groups, audit, what a
// viewer and a developer may do, sign-out, an ended session, CSRF, and axe-core's
// accessibility rules (serious and critical violations fail). Elements are found by role
// and accessible name. Exit status 0 = every step passed. KEYTRAIL_SCREENSHOT=path saves a
// picture of the keys view. Secrets (tokens, passwords) are never printed: any output
// passes through redact().
import { readFileSync } from 'node:fs';
import {
  axe, button, check, equal, fail, field, passedSteps, redact, secret, servers, startServer,
  step, stopServers, webRequire,
} from './harness.mjs';

const { chromium } = webRequire('playwright-core');

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ORG = 'default'; // serve's --bootstrap-org default
const ADMIN_PASSWORD = 'correct horse battery staple';
const OTHER_PASSWORD = 'another long passphrase 42';
const ENDED = 'Your session has ended. Sign in again.';

// ---------------------------------------------------------------------------------------
// Output, secrets and failures.

secret(ADMIN_PASSWORD); secret(OTHER_PASSWORD);

/** Waits until condition() is true (checked every 100 ms, up to 10 s). */
async function until(condition, what) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) fail(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}


// ---------------------------------------------------------------------------------------
// The server.

async function startConsoleServer(extraArgs = []) {
  const server = await startServer(extraArgs);
  check(server.inviteUrl.startsWith(`${server.base}/console/invite#`),
    `the invitation URL does not start with ${server.base}/console/invite#`);
  return server;
}

/** A JSON API call; returns {status, body, headers}. */
async function api(base, method, path, { bearer, cookie, csrf, body } = {}) {
  const headers = { Accept: 'application/json' };
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  if (cookie) headers.Cookie = cookie;
  if (csrf) headers['X-CSRF-Token'] = csrf;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(base + path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let parsed = null;
  try { parsed = text ? JSON.parse(text) : null; } catch { parsed = text; }
  return { status: response.status, body: parsed, headers: response.headers };
}

async function verify(base, token) {
  const r = await api(base, 'POST', '/v1/verify', { body: { key: token } });
  equal(r.status, 200, 'POST /v1/verify status');
  return r.body;
}

async function invite(base, adminKey, member, groups) {
  const set = await api(base, 'PUT', `/v1/orgs/${ORG}/members/${member}`, { bearer: adminKey, body: { groups } });
  equal(set.status, 200, `PUT member ${member}`);
  const inv = await api(base, 'POST', `/v1/orgs/${ORG}/members/${member}/invitations`, { bearer: adminKey });
  equal(inv.status, 201, `POST invitation for ${member} (${redact(JSON.stringify(inv.body))})`);
  secret(inv.body.token);
  check(inv.body.url.endsWith(`#${inv.body.token}`), 'the invitation url ends with #token');
  return inv.body.url;
}

// ---------------------------------------------------------------------------------------
// The browser.

let browser;
const cspViolations = [];

async function newPage(options = {}) {
  const context = await browser.newContext({ acceptDownloads: true, ...options });
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) cspViolations.push(redact(m.text()));
  });
  page.on('pageerror', (e) => cspViolations.push(`page error: ${redact(e.message)}`));
  return { context, page };
}



async function acceptInvitation(page, url, password) {
  await page.goto(url);
  await page.getByRole('heading', { name: 'Set your password' }).waitFor();
  check(!page.url().includes('#'), 'the invitation token is removed from the URL once read');
  await field(page, 'Password').fill(password);
  await field(page, 'Confirm password').fill(password);
  await button(page, 'Set password').click();
  await field(page, 'Organization').waitFor();
}

async function signIn(page, password) {
  await field(page, 'Password').fill(password);
  await button(page, 'Sign in').click();
  await page.getByRole('heading', { name: 'API keys', exact: true }).waitFor();
}

function keyRow(page, name) {
  return page.getByRole('row').filter({ has: page.getByRole('rowheader', { name, exact: true }) });
}

/** The cells of a key's row: Created by, Group, Expires, Last used, Status. */
async function rowCells(page, name) {
  const row = keyRow(page, name);
  await row.waitFor();
  const cells = await row.getByRole('cell').allInnerTexts();
  return { createdBy: cells[0], group: cells[1], expires: cells[2], lastUsed: cells[3], status: cells[4] };
}

async function cookieHeader(context) {
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === 'keytrail_session');
  check(session, 'the keytrail_session cookie is set');
  secret(session.value);
  return { header: `keytrail_session=${session.value}`, cookie: session };
}

async function newKeyThroughDialog(page, name, { group = 'developer', expiration = '30 days' } = {}) {
  await button(page, 'New API key').click();
  const dialog = page.getByRole('dialog', { name: 'New API key' });
  await dialog.waitFor();
  await field(dialog, 'Name').fill(name);
  await field(dialog, 'Expiration').selectOption({ label: expiration });
  await field(dialog, 'Group').selectOption(group);
  await button(dialog, 'Create').click();
  const tokenField = page.getByRole('textbox', { name: 'API key', exact: true });
  await tokenField.waitFor();
  return { dialog: page.getByRole('dialog'), token: secret(await tokenField.inputValue()) };
}

// ---------------------------------------------------------------------------------------
// The scenarios.

async function main() {
  const started = Date.now();
  const { base, adminKey, inviteUrl } = await startConsoleServer();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  const { context, page } = await newPage();
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
  let adminMember = '';
  let token = '';
  let rotated = '';

  await step('the console is served with its Content-Security-Policy', async () => {
    const r = await fetch(`${base}/console/keys`);
    equal(r.status, 200, 'GET /console/keys');
    const csp = r.headers.get('content-security-policy') || '';
    check(/script-src 'self'/.test(csp) && /frame-ancestors 'none'/.test(csp), `CSP header: ${csp}`);
    const html = await r.text();
    check(html.includes('/console/app.js') && html.includes('/console/app.css'), 'index.html links the bundle');
    for (const asset of ['/console/app.js', '/console/app.css']) {
      equal((await fetch(base + asset)).status, 200, `GET ${asset}`);
    }
  });

  await step('invitation: the token leaves the URL, passwords are checked, axe passes', async () => {
    await page.goto(inviteUrl);
    await page.getByRole('heading', { name: 'Set your password' }).waitFor();
    check(!page.url().includes('#'), 'the invitation token is removed from the URL once read');
    await axe(page, 'the invitation view');
    await field(page, 'Password').fill('short');
    await field(page, 'Confirm password').fill('short');
    await button(page, 'Set password').click();
    await page.getByRole('alert').filter({ hasText: 'at least 12 characters' }).waitFor();
    await field(page, 'Password').fill(ADMIN_PASSWORD);
    await field(page, 'Confirm password').fill(ADMIN_PASSWORD + 'x');
    await button(page, 'Set password').click();
    await page.getByRole('alert').filter({ hasText: 'differ' }).waitFor();
    await field(page, 'Confirm password').fill(ADMIN_PASSWORD);
    await button(page, 'Set password').click();
    await field(page, 'Organization').waitFor();
    equal(await field(page, 'Organization').inputValue(), ORG, 'Organization prefilled');
    adminMember = await field(page, 'Member').inputValue();
    check(adminMember.length > 0, 'Member prefilled');
    const again = await api(base, 'POST', '/v1/invitations/accept', { body: { token: inviteUrl.split('#')[1], password: OTHER_PASSWORD } });
    equal(again.status, 410, 'a used invitation is refused');
  });

  await step('sign-in: a wrong password shows the API error, axe passes, the right one signs in', async () => {
    await axe(page, 'the sign-in view');
    await field(page, 'Password').fill('not the password at all');
    await button(page, 'Sign in').click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    check((await alert.innerText()).trim().length > 0, 'the sign-in error has words');
    await signIn(page, ADMIN_PASSWORD);
    await page.getByRole('navigation', { name: 'Console' }).waitFor();
    for (const link of ['API keys', 'Groups', 'Audit']) {
      await page.getByRole('link', { name: link, exact: true }).waitFor();
    }
    const header = await page.getByRole('banner').innerText();
    check(header.includes(ORG) && header.includes(adminMember), 'the header names the org and the member');
  });

  await step('new key: created through the dialog, shown once, copied, verifies', async () => {
    await axe(page, 'the keys view');
    await button(page, 'New API key').click();
    await page.getByRole('dialog', { name: 'New API key' }).waitFor();
    await axe(page, 'the new-key dialog');
    await page.keyboard.press('Escape');
    await page.getByRole('dialog').waitFor({ state: 'detached' });
    const created = await newKeyThroughDialog(page, 'deploy bot');
    token = created.token;
    check(token.length > 20, 'a token is shown');
    await created.dialog.getByText('shown this once').waitFor();
    await button(page, 'Copy').click();
    await page.getByText('Copied', { exact: true }).waitFor();
    equal(secret(await page.evaluate(() => navigator.clipboard.readText())), token, 'the clipboard holds the token');
    const verdict = await verify(base, token);
    equal(verdict.valid, true, 'the new key verifies');
    equal(verdict.group, 'developer', 'the new key group');
    await button(page, 'Done').click();
    await page.getByRole('dialog').waitFor({ state: 'detached' });
    check(!(await page.content()).includes(token), 'the token is gone from the page after Done');
    await page.reload();
    await keyRow(page, 'deploy bot').waitFor();
    check(!(await page.content()).includes(token), 'the token is not in the page after a reload');
    const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie + location.href);
    check(!stored.includes(token), 'the token is in no storage, cookie or URL');
  });

  await step('the key is in the table: created by the member, group developer, expiry in 30 days, used', async () => {
    // The verify above is written down within --usage-flush (1 s here); until then: Never.
    let cells = await rowCells(page, 'deploy bot');
    for (let i = 0; i < 20 && cells.lastUsed === 'Never'; ++i) {
      await new Promise((r) => setTimeout(r, 500));
      await page.reload();
      await keyRow(page, 'deploy bot').waitFor();
      cells = await rowCells(page, 'deploy bot');
    }
    equal(cells.createdBy, adminMember, 'Created by');
    equal(cells.group, 'developer', 'Group');
    check(/^\d{4}-\d{2}-\d{2} \(in (29|30) days\)$/.test(cells.expires), `Expires: ${cells.expires}`);
    check(/ago$|^now$/.test(cells.lastUsed), `Last used: ${cells.lastUsed}`);
    equal(cells.status, 'active', 'Status');
    for (const h of ['Name', 'Created by', 'Group', 'Expires', 'Last used', 'Status']) {
      equal(await page.getByRole('columnheader', { name: h, exact: true }).count(), 1, `column headers named ${h}`);
    }
  });

  await step('rotate with 1 hour of grace: the new token is shown once, both verify', async () => {
    await button(page, 'Manage deploy bot').click();
    const panel = page.getByRole('dialog', { name: 'Key “deploy bot”' });
    await panel.waitFor();
    await axe(page, 'the key panel');
    await field(panel, 'Grace for the previous secret').selectOption({ label: '1 hour' });
    await button(panel, 'Rotate').click();
    const tokenField = page.getByRole('textbox', { name: 'API key', exact: true });
    await tokenField.waitFor();
    rotated = secret(await tokenField.inputValue());
    check(rotated !== token, 'a new token');
    equal((await verify(base, rotated)).valid, true, 'the rotated token verifies');
    const old = await verify(base, token);
    equal(old.valid, true, 'the previous token verifies inside its grace');
    equal(old.secret, 'previous', 'the previous token matches as previous');
    await button(page, 'Done').click();
    await tokenField.waitFor({ state: 'detached' });
    check(!(await page.content()).includes(rotated), 'the rotated token is gone after Done');
  });

  await step('change group: the key moves to viewer', async () => {
    const panel = page.getByRole('dialog', { name: 'Key “deploy bot”' });
    await field(panel, 'New group').selectOption('viewer');
    await button(panel, 'Save').click();
    await panel.getByRole('status').filter({ hasText: 'now in group viewer' }).waitFor();
    await button(panel, 'Close').first().click();
    await page.getByRole('dialog').waitFor({ state: 'detached' });
    await until(async () => (await rowCells(page, 'deploy bot')).group === 'viewer', 'the row shows group viewer');
  });

  await step('suspend, then resume: the key stops verifying, then verifies again', async () => {
    await button(page, 'Manage deploy bot').click();
    let panel = page.getByRole('dialog', { name: 'Key “deploy bot”' });
    await field(panel, 'Suspension reason').fill('checking a leak');
    await button(panel, 'Suspend').click();
    await panel.getByRole('status').filter({ hasText: 'suspended' }).waitFor();
    equal((await verify(base, rotated)).reason, 'suspended', 'the token while suspended');
    await page.keyboard.press('Escape');
    await page.getByRole('dialog').waitFor({ state: 'detached' });
    await until(async () => (await rowCells(page, 'deploy bot')).status === 'suspended', 'the row shows suspended');
    await button(page, 'Manage deploy bot').click();
    panel = page.getByRole('dialog', { name: 'Key “deploy bot”' });
    await button(panel, 'Resume').click();
    await panel.getByRole('status').filter({ hasText: 'resumed' }).waitFor();
    equal((await verify(base, rotated)).valid, true, 'the token after resume');
    await page.keyboard.press('Escape');
    await page.getByRole('dialog').waitFor({ state: 'detached' });
  });

  await step('renew: a new expiration, counted from now', async () => {
    await button(page, 'Manage deploy bot').click();
    const panel = page.getByRole('dialog', { name: 'Key “deploy bot”' });
    await field(panel, 'New expiration').selectOption('1y');
    await button(panel, 'Renew').click();
    await panel.getByRole('status').filter({ hasText: 'now expires on' }).waitFor();
    await page.keyboard.press('Escape');
    await page.getByRole('dialog').waitFor({ state: 'detached' });
    await until(async () => /in 1[12] months/.test((await rowCells(page, 'deploy bot')).expires), 'the row shows the new expiry');
  });

  await step('revoke with a reason after a confirmation: no secret verifies', async () => {
    await button(page, 'Manage deploy bot').click();
    const panel = page.getByRole('dialog', { name: 'Key “deploy bot”' });
    await field(panel, 'Reason').fill('pipeline retired');
    await button(panel, 'Revoke').click();
    await button(panel, 'Confirm revoke').click();
    await panel.getByRole('status').filter({ hasText: 'revoked' }).waitFor();
    equal((await verify(base, rotated)).reason, 'revoked', 'the rotated token after revoke');
    equal((await verify(base, token)).valid, false, 'the previous token after revoke');
    await button(panel, 'Show history').click();
    const timeline = panel.getByRole('list', { name: 'History' });
    await timeline.waitFor();
    const events = await timeline.getByRole('listitem').allInnerTexts();
    check(events.length === 7, `history has 7 events (created, rotated, moved, suspended, resumed, updated, revoked): ${events.length}`);
    check(events[6].includes('api_key.revoked') && events[6].includes('pipeline retired'), `last event: ${events[6]}`);
    await page.keyboard.press('Escape');
    await page.getByRole('dialog').waitFor({ state: 'detached' });
    await until(async () => (await rowCells(page, 'deploy bot')).status === 'revoked', 'the row shows revoked');
  });

  await step('search, filters and sorting', async () => {
    for (const name of ['alpha ci', 'zeta ci', 'middle svc']) {
      const r = await api(base, 'POST', `/v1/orgs/${ORG}/keys`, { bearer: adminKey, body: { name, group: 'developer', expires: '6m' } });
      equal(r.status, 201, `create ${name}`);
      secret(r.body.token);
    }
    await page.reload();
    await keyRow(page, 'zeta ci').waitFor();
    const names = async () => page.getByRole('rowheader').allInnerTexts();
    const all = (await names()).length;
    check(all === 5, `5 keys (bootstrap-admin and 4 made here), have ${all}`);
    await field(page, 'Search keys').fill('zeta');
    await until(async () => (await names()).join(',') === 'zeta ci', 'the search finds zeta ci only');
    await field(page, 'Search keys').fill('');
    await field(page, 'Status filter').selectOption('revoked');
    await until(async () => (await names()).join(',') === 'deploy bot', 'the status filter shows the revoked key only');
    await field(page, 'Status filter').selectOption('all');
    await field(page, 'Group filter').selectOption('developer');
    await until(async () => (await names()).length === 3 && !(await names()).includes('deploy bot'), 'the group filter leaves out the viewer key');
    await field(page, 'Group filter').selectOption('');
    await until(async () => (await names()).length === all, 'every key is shown again');
    const nameHeader = page.getByRole('columnheader', { name: 'Name' });
    equal(await nameHeader.getAttribute('aria-sort'), 'ascending', 'Name sorted ascending at first');
    const ascending = await names();
    equal(JSON.stringify(ascending), JSON.stringify([...ascending].sort((a, b) => a.localeCompare(b))), 'ascending order');
    await button(nameHeader, 'Name').click();
    await until(async () => (await nameHeader.getAttribute('aria-sort')) === 'descending', 'aria-sort is descending after a click');
    equal(JSON.stringify(await names()), JSON.stringify([...ascending].reverse()), 'descending order');
    const groupHeader = page.getByRole('columnheader', { name: 'Group' });
    await button(groupHeader, 'Group').click();
    await until(async () => (await groupHeader.getAttribute('aria-sort')) === 'ascending', 'Group is sorted');
    check((await nameHeader.getAttribute('aria-sort')) === null, 'only one column is sorted');
    await page.getByText('Page 1 of 1').waitFor();
    if (process.env.KEYTRAIL_SCREENSHOT) {
      await button(nameHeader, 'Name').click();
      await page.screenshot({ path: process.env.KEYTRAIL_SCREENSHOT, fullPage: true });
    }
  });

  await step('groups view: rules, members and key counts; axe passes', async () => {
    await page.getByRole('link', { name: 'Groups', exact: true }).click();
    await page.getByRole('heading', { name: 'Groups', exact: true }).waitFor();
    const adminRow = page.getByRole('row').filter({ has: page.getByRole('rowheader', { name: /^admin/ }) });
    await adminRow.waitFor();
    const adminCells = await adminRow.getByRole('cell').allInnerTexts();
    check(adminCells[1].includes('organization-admin'), `admin rules: ${adminCells[1]}`);
    check(adminCells[2].includes(adminMember), `admin members: ${adminCells[2]}`);
    const devRow = page.getByRole('row').filter({ has: page.getByRole('rowheader', { name: /^developer/ }) });
    equal((await devRow.getByRole('cell').allInnerTexts())[3], '3', 'active developer keys');
    await axe(page, 'the groups view');
  });

  await step('audit view: records, filter by action, CSV export; axe passes', async () => {
    await page.getByRole('link', { name: 'Audit', exact: true }).click();
    await page.getByRole('heading', { name: 'Audit', exact: true }).waitFor();
    await page.getByRole('cell', { name: 'api_key.created', exact: true }).first().waitFor();
    await axe(page, 'the audit view');
    await field(page, 'Action').selectOption('api_key.revoked');
    await button(page, 'Apply filters').click();
    await until(async () => (await page.getByRole('row').count()) === 2 &&
      (await page.getByRole('cell', { name: 'api_key.revoked', exact: true }).count()) === 1,
      'the audit table shows the one revocation');
    const download = page.waitForEvent('download');
    await page.getByRole('link', { name: 'Download CSV', exact: true }).click();
    const csv = readFileSync(await (await download).path(), 'utf8');
    const lines = csv.trim().split('\n');
    check(lines[0].startsWith('time,org,action'), `CSV header: ${lines[0]}`);
    equal(lines.length, 2, 'CSV lines (header and the one revocation)');
    check(lines[1].includes('api_key.revoked'), 'the CSV row is the revocation');
  });

  await step('CSRF: a POST with the session cookie but no or a wrong X-CSRF-Token is 403', async () => {
    const { header } = await cookieHeader(context);
    const body = { name: 'csrf probe', group: 'developer' };
    const none = await api(base, 'POST', `/v1/orgs/${ORG}/keys`, { cookie: header, body });
    equal(none.status, 403, 'without X-CSRF-Token');
    equal(none.body.code, 'csrf_token_missing', 'problem code without the token');
    const wrong = await api(base, 'POST', `/v1/orgs/${ORG}/keys`, { cookie: header, csrf: 'not-the-token', body });
    equal(wrong.status, 403, 'with a wrong X-CSRF-Token');
    equal(wrong.body.code, 'csrf_token_invalid', 'problem code with a wrong token');
    const read = await api(base, 'GET', `/v1/orgs/${ORG}/keys`, { cookie: header });
    equal(read.status, 200, 'a GET with the cookie needs no CSRF token');
    const session = await api(base, 'GET', '/v1/sessions/current', { cookie: header });
    equal(session.status, 200, 'GET /v1/sessions/current');
    secret(session.body.csrf_token);
    const withToken = await api(base, 'POST', `/v1/orgs/${ORG}/keys`, { cookie: header, csrf: session.body.csrf_token, body });
    equal(withToken.status, 201, 'with the right X-CSRF-Token');
    secret(withToken.body.token);
  });

  await step('a viewer member sees the keys but no New API key', async () => {
    const url = await invite(base, adminKey, 'vera', ['viewer']);
    const viewer = await newPage();
    await acceptInvitation(viewer.page, url, OTHER_PASSWORD);
    equal(await field(viewer.page, 'Member').inputValue(), 'vera', 'Member prefilled');
    await signIn(viewer.page, OTHER_PASSWORD);
    await keyRow(viewer.page, 'zeta ci').waitFor();
    equal(await button(viewer.page, 'New API key').count(), 0, 'New API key buttons for a viewer');
    await button(viewer.page, 'Manage zeta ci').click();
    const panel = viewer.page.getByRole('dialog', { name: 'Key “zeta ci”' });
    await panel.waitFor();
    for (const b of ['Rotate', 'Revoke', 'Save']) equal(await button(panel, b).count(), 0, `${b} for a viewer`);
    await viewer.context.close();
  });

  await step('a developer member cannot pick admin as the group of a new key', async () => {
    const url = await invite(base, adminKey, 'dana', ['developer']);
    const dev = await newPage();
    await acceptInvitation(dev.page, url, OTHER_PASSWORD);
    await signIn(dev.page, OTHER_PASSWORD);
    await button(dev.page, 'New API key').click();
    const dialog = dev.page.getByRole('dialog', { name: 'New API key' });
    const groups = await field(dialog, 'Group').evaluate((s) => [...s.options].map((o) => o.value));
    check(groups.length > 0 && !groups.includes('admin'), `developer's Group options: ${groups.join(',')}`);
    equal(await field(dialog, 'SCIM').count(), 0, 'SCIM checkbox for a developer');
    await dev.context.close();
  });

  await step('sign-out: back to sign-in, and the old cookie no longer works', async () => {
    const { header } = await cookieHeader(context);
    await button(page, 'Sign out').click();
    await field(page, 'Organization').waitFor();
    const after = await api(base, 'GET', '/v1/sessions/current', { cookie: header });
    equal(after.status, 401, 'GET /v1/sessions/current with the old cookie');
    const cookies = await context.cookies();
    check(!cookies.some((c) => c.name === 'keytrail_session' && c.value), 'the cookie is cleared in the browser');
  });
  await context.close();

  await step('an idle session ends: the next action shows sign-in with a message', async () => {
    const short = await startConsoleServer(['--session-idle-timeout', '2s']);
    const { page: p, context: c } = await newPage();
    await acceptInvitation(p, short.inviteUrl, ADMIN_PASSWORD);
    await signIn(p, ADMIN_PASSWORD);
    await new Promise((r) => setTimeout(r, 3000));
    await p.getByRole('link', { name: 'Audit', exact: true }).click();
    await p.getByRole('status').filter({ hasText: ENDED }).waitFor();
    await field(p, 'Organization').waitFor();
    // The session stays ended: neither a later request nor a reload brings it back.
    const { header } = await cookieHeader(c);
    const later = await api(short.base, 'GET', '/v1/sessions/current', { cookie: header });
    equal(later.status, 401, 'GET /v1/sessions/current with the idle session\'s cookie after its 401');
    await p.reload();
    await field(p, 'Organization').waitFor();
    await c.close();
  });

  check(cspViolations.length === 0, `console errors or CSP violations: ${cspViolations.join(' | ')}`);
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
}
process.exit(status);
