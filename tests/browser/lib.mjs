// What the browser scripts share: headless Chromium launched with a profile
// of its own, a watchdog, "ok: <step>" lines, and the chat page's parts.
//
// Environment: CHROMIUM (default /usr/bin/chromium).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
const STEP_TIMEOUT_MS = 10_000;
const RUN_TIMEOUT_MS = 120_000;

const pageErrors = [];
export const ok = (step) => console.log(`ok: ${step}`);

// Runs `run(context)` in a fresh Chromium, then prints "done"; on the first
// failure (or after RUN_TIMEOUT_MS) prints "FAIL: ..." and exits 1.
export function drive(run) {
  const watchdog = setTimeout(() => {
    console.error(`FAIL: the run took over ${RUN_TIMEOUT_MS / 1000} s`);
    process.exit(1);
  }, RUN_TIMEOUT_MS);
  launch(run).then(
    () => {
      clearTimeout(watchdog);
      console.log('done');
    },
    (error) => {
      clearTimeout(watchdog);
      console.error(`FAIL: ${error?.stack ?? error}`);
      process.exitCode = 1;
    },
  );
}

async function launch(run) {
  const profile = mkdtempSync(join(tmpdir(), 'wsgate-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      viewport: { width: 960, height: 600 },
      timeout: 30_000,
    });
    context.setDefaultTimeout(STEP_TIMEOUT_MS);
    await run(context);
  } finally {
    await context?.close();
    rmSync(profile, { recursive: true, force: true });
  }
  if (pageErrors.length) throw new Error(`errors in the page: ${pageErrors.join('; ')}`);
}

// A new page at `query`, relative to `base`; errors in it fail the run.
export async function open(context, base, query) {
  const page = await context.newPage();
  page.on('pageerror', (error) => pageErrors.push(error.message));
  await page.goto(new URL(query, base).href);
  return page;
}

export const notice = (page, text, options) =>
  page.locator('#messages .notice', { hasText: text }).last().waitFor(options);
export const message = (page, nick, text) =>
  page.locator('#messages .message', { hasText: text }).filter({ hasText: nick }).last().waitFor();
export const online = (page, nick) =>
  page.locator('#users .user .name', { hasText: new RegExp(`^${nick}$`) });
export const connected = (page) => page.locator('#status[data-state="connected"]').waitFor();

export async function say(page, text) {
  const input = page.locator('#message-input');
  await input.pressSequentially(text);
  await input.press('Enter');
  await page.waitForFunction(() => document.getElementById('message-input').value === '');
}
