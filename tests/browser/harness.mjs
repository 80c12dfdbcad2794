// What the browser tests share: secrets kept out of the output, checks that fail a step,
// numbered steps, `keytrail serve` started and stopped, axe-core on a page, and finding
// elements by label and role.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('../..', import.meta.url));
export const webRequire = createRequire(join(root, 'web/package.json'));
const axeSource = readFileSync(webRequire.resolve('axe-core/axe.min.js'), 'utf8');

// ---------------------------------------------------------------------------------------
// Output, secrets and failures.

const secrets = new Set();
/** Remembers `value` as a secret (so redact() hides it) and returns it. */
export function secret(value) {
  if (typeof value === 'string' && value.length >= 8) secrets.add(value);
  return value;
}
/** `text` with every secret seen so far replaced. */
export function redact(text) {
  let out = String(text);
  for (const s of secrets) out = out.split(s).join('<redacted>');
  return out;
}
export function fail(message) {
  throw new Error(message);
}
export function check(condition, message) {
  if (!condition) fail(message);
}
export function equal(actual, expected, what) {
  if (actual !== expected) fail(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}

let passed = 0;
/** How many steps have passed. */
export function passedSteps() {
  return passed;
}
/** Runs one numbered step: "ok N - name (ms)", or "not ok - name" and a thrown error. */
export async function step(name, body) {
  const started = Date.now();
  try {
    await body();
    passed += 1;
    console.log(`ok ${passed} - ${name} (${Date.now() - started} ms)`);
  } catch (error) {
    console.log(`not ok - ${name}`);
    throw new Error(`${name}: ${error instanceof Error ? error.message : error}`);
  }
}

// ---------------------------------------------------------------------------------------
// The server.

const BIN = process.env.KEYTRAIL_BIN || join(root, 'build/tools/keytrail/keytrail');
/** The servers started so far: {proc, output} (stdout and stderr, for a failure's report). */
export const servers = [];
const dirs = [];

/**
 * `keytrail serve` (KEYTRAIL_BIN) on a fresh data directory, listening on `listen`, with
 * `extraArgs`; {base (as it printed), adminKey, inviteUrl}, both secrets remembered.
 */
export async function startServer(extraArgs = [], { listen = '127.0.0.1:0' } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'keytrail-browser-'));
  dirs.push(dir);
  const tokenFile = join(dir, 'token');
  const args = ['serve', '--data-dir', join(dir, 'data'), '--listen', listen,
    '--bootstrap-token-file', tokenFile, '--usage-flush', '1s', ...extraArgs];
  const proc = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const server = { proc, output: '' };
  servers.push(server);
  proc.stderr.on('data', (d) => { server.output += d; });
  const base = await new Promise((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => reject(new Error('the server did not print "listening on" within 30 s')), 30_000);
    proc.on('error', (e) => { clearTimeout(timer); reject(new Error(`cannot start ${BIN}: ${e.message}`)); });
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`the server exited (${code}) before listening:\n${redact(server.output.slice(-2000))}`)); });
    proc.stdout.on('data', (d) => {
      buffered += d;
      server.output += d;
      const m = buffered.match(/listening on (http:\/\/\S+)/);
      if (m) { clearTimeout(timer); resolve(m[1].replace(/\/$/, '')); }
    });
  });
  const adminKey = secret(readFileSync(tokenFile, 'utf8').trim());
  const inviteUrl = readFileSync(`${tokenFile}.invite`, 'utf8').trim();
  secret(inviteUrl.split('#')[1]);
  return { base, adminKey, inviteUrl };
}

/** Stops every server and removes their data directories. */
export function stopServers() {
  for (const { proc } of servers) if (proc.exitCode === null) proc.kill('SIGTERM');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------
// The page.

/** axe-core on the page as it is; serious or critical violations fail. */
export async function axe(page, what) {
  await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const result = await axe.run(document, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help,
      targets: v.nodes.slice(0, 3).map((n) => n.target.join(' ')),
    }));
  });
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  check(bad.length === 0, `axe on ${what}: ${bad.map((v) => `${v.id} (${v.impact}: ${v.help}) at ${v.targets.join(', ')}`).join('; ')}`);
}

export function field(page, label) {
  return page.getByLabel(label, { exact: true });
}
export function button(scope, name) {
  return scope.getByRole('button', { name, exact: true });
}
