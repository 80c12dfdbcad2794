// What the browser tests share: secrets kept out of the output, checks that fail a step,
// numbered steps, axe-core on a page, and finding elements by label and role.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
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
