// The review pages in headless Chromium at phone size (390×844), driven by playwright-core:
// the queue and a draft page fit the screen (no horizontal overflow), every form field has a
// label; a CRM update after a call is approved with one change unticked and exactly the ticked
// changes reach the CRM; a drafted proposal opens as a printable page with its sections; a body
// is edited and approved, and the outbox holds exactly the edited message; an expired link shows
// a page whose button emails a fresh link to the link's own approver.
// Screenshots go to target/screenshots/. Run by scripts/test.sh:
//   node tests/browser/review.mjs <path to the draftgate binary>
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';

const require = createRequire(import.meta.url);
const root = resolve(new URL('../..', import.meta.url).pathname);
const { chromium } = require(join(root, '.tools/playwright/node_modules/playwright-core'));

const bin = process.argv[2] ?? join(root, 'target/debug/draftgate');
const shots = join(root, 'target/screenshots');
mkdirSync(shots, { recursive: true });
let checks = 0;
function check(ok, what) {
  if (!ok) throw new Error(`browser check failed: ${what}`);
  checks += 1;
  console.log(`ok - ${what}`);
}

const data = mkdtempSync(join(tmpdir(), 'draftgate-browser-'));
// A port the system has free (a random one can collide with a client's ephemeral port).
const port = await new Promise((done, failed) => {
  const probe = createServer();
  probe.once('error', failed);
  probe.listen(0, '127.0.0.1', () => {
    const { port: free } = probe.address();
    probe.close(() => done(free));
  });
});
const env = { ...process.env, RUST_LOG: 'warn', DRAFTGATE_SIGNING_KEY: 'browser-test-key' };
delete env.PUBLIC_BASE_URL;
const runner = spawn(bin, ['serve', '--addr', `127.0.0.1:${port}`, '--data', data], {
  env, cwd: root, stdio: ['ignore', 'pipe', 'inherit'],
});
const queueUrl = await new Promise((ok, fail) => {
  let out = '';
  const timer = setTimeout(() => fail(new Error(`the runner did not start:\n${out}`)), 30000);
  runner.stdout.on('data', (b) => {
    out += b;
    const m = out.match(/review queue: (\S+)/);
    if (m) { clearTimeout(timer); ok(m[1]); }
  });
  runner.on('exit', (code) => fail(new Error(`the runner exited (${code}):\n${out}`)));
});
const base = `http://127.0.0.1:${port}`;

const browser = await chromium.launch({
  executablePath: process.env.DRAFTGATE_CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  const page = await context.newPage();
  const external = [];
  page.on('request', (r) => { if (!r.url().startsWith(base)) external.push(r.url()); });
  const fits = async (what) => {
    const { scroll, width } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, width: window.innerWidth }));
    check(scroll <= width, `${what}: no horizontal overflow (${scroll} <= ${width} px)`);
  };
  const labelled = async (what) => {
    const unlabelled = await page.evaluate(() => [...document.querySelectorAll('input:not([type=hidden]), textarea, select')]
      .filter((el) => el.labels.length === 0).map((el) => el.name));
    check(unlabelled.length === 0, `${what}: every field has a label (${unlabelled.join(', ') || 'none missing'})`);
  };

  await page.goto(queueUrl);
  await page.screenshot({ path: join(shots, 'queue.png'), fullPage: true });
  const cards = page.locator('a.card');
  const pending = (await (await fetch(queueUrl, { headers: { accept: 'application/json' } })).json()).pending;
  check(pending.length >= 3 && await cards.count() === pending.length, `the queue shows the sample pipeline's ${pending.length} waiting drafts as cards`);
  const firstText = await cards.first().innerText();
  check(/ago|yesterday/.test(firstText) && !/\d{4}-\d\d-\d\dT/.test(firstText), `times read in words, never raw timestamps ("${firstText.replace(/\n/g, ' | ')}")`);
  await fits('queue');

  // The CRM update after a call: a diff with a checkbox per change, applied only on approval.
  await cards.filter({ hasText: 'CRM update' }).first().click();
  await page.waitForSelector('#crm');
  await page.screenshot({ path: join(shots, 'crm-update.png'), fullPage: true });
  await fits('CRM update page');
  await labelled('CRM update page');
  const boxes = await page.locator('#crm input[type=checkbox]').count();
  check(boxes >= 2, `the CRM update shows ${boxes} proposed changes, each with its checkbox`);
  // (The sample's meeting brief was already logged as a note; no deal field was written.)
  const earlier = await (await fetch(`${base}/dev/crm-requests`)).json();
  check(!earlier.some((w) => w.method === 'PATCH'), 'no deal field is written to the CRM before approval');
  await page.uncheck('#apply_next_step_date');
  await page.click('#approve');
  await page.waitForSelector('#title');
  check((await page.innerText('#title')) === 'APPROVED', 'approving a CRM update answers APPROVED');
  const writes = (await (await fetch(`${base}/dev/crm-requests`)).json()).slice(earlier.length);
  const patch = writes.find((w) => w.method === 'PATCH');
  check(writes.length === 2 && patch && patch.body.properties.hs_next_step && !writes.some((w) => w.path.endsWith('/tasks')),
    `exactly the ticked changes reached the CRM (${writes.map((w) => `${w.method} ${w.path}`).join(', ')})`);

  // A proposal drafted on entering the proposal stage, with its printable page.
  await page.goto(queueUrl);
  await cards.filter({ hasText: 'proposal stage' }).first().click();
  await page.waitForSelector('#document');
  await page.screenshot({ path: join(shots, 'proposal-draft.png'), fullPage: true });
  await page.click('#document');
  await page.waitForSelector('main h2');
  await page.screenshot({ path: join(shots, 'proposal.png'), fullPage: true });
  const sections = await page.locator('main h2').allInnerTexts();
  check(['Service', 'Deliverables', 'Timeline', 'Pricing', 'Terms'].every((s) => sections.includes(s)), `the printable proposal has its sections (${sections.join(', ')})`);
  await fits('printable proposal');

  await page.goto(queueUrl);
  await cards.filter({ hasText: 'no reply' }).first().click();
  await page.waitForSelector('#body');
  await page.screenshot({ path: join(shots, 'draft.png'), fullPage: true });
  await fits('draft page');
  await labelled('draft page');
  const facts = await page.locator('#facts .fact').count();
  check(facts > 0, `the draft page lists the ${facts} facts it used, each with its source`);

  const edit = 'PS: I can also do a 15-minute call on Thursday.';
  const body = await page.inputValue('#body');
  await page.fill('#body', `${body.trimEnd()}\n\n${edit}\n`);
  const posted = page.waitForRequest((r) => r.method() === 'POST' && r.url().includes('/review/'));
  await page.click('#approve');
  const origin = (await posted).headers()['origin'];
  check(origin === base, `the page's own decision carries its origin (${origin}), which the service accepts`);
  await page.waitForSelector('#title');
  await page.screenshot({ path: join(shots, 'approved.png'), fullPage: true });
  check((await page.innerText('#title')) === 'SENT', 'approving answers with a page saying it was sent');

  const outbox = await (await fetch(`${base}/dev/outbox`)).json();
  const sent = outbox.filter((m) => m.kind === 'prospect');
  check(sent.length === 1, 'exactly one message reached a prospect');
  check(sent[0].body.includes(edit), 'the message sent is the edited text');

  // The weekly pipeline summary as a page, on a phone.
  await page.goto(queueUrl.replace('/review?', '/summary?'));
  await page.screenshot({ path: join(shots, 'summary.png'), fullPage: true });
  check((await page.innerText('h1')).startsWith('Your pipeline, week'), 'the weekly summary opens as a page');
  await fits('summary page');

  // A week and a day later the other draft's link has expired.
  const other = outbox.find((m) => m.kind === 'founder' && m.draft_id && m.draft_id !== sent[0].draft_id);
  await fetch(`${base}/dev/clock`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ advance_secs: 8 * 24 * 3600 }) });
  const before = (await (await fetch(`${base}/dev/outbox`)).json()).length;
  const expired = await page.goto(other.review_url);
  check(expired.status() === 401, 'an expired link answers 401 with a page, not an error dump');
  await page.screenshot({ path: join(shots, 'expired.png'), fullPage: true });
  await fits('expired-link page');
  check((await page.innerText('#title')) === 'This link has expired', 'the expired-link page says what happened');
  await page.click('#relink');
  await page.waitForSelector('#title');
  check((await page.innerText('#title')) === 'Check your inbox', 'its button sends a fresh link');
  const after = await (await fetch(`${base}/dev/outbox`)).json();
  const fresh = after.slice(before);
  check(fresh.length === 1 && fresh[0].to === 'alex@northwind.example' && fresh[0].review_url.includes(other.draft_id),
    'the fresh link went to the approver\'s own inbox, for that draft');
  const reopened = await page.goto(fresh[0].review_url);
  check(reopened.status() === 200, 'the fresh link opens the draft');

  check(external.length === 0, `no request left the runner (${external.length} external)`);
  console.log(`browser: ${checks} checks passed; screenshots in target/screenshots/`);
} finally {
  await browser.close();
  runner.kill();
}
