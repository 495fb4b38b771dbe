#!/usr/bin/env node
/*
 * run.js -- end-to-end tests of the nwsserver web interface in headless
 * Chromium (Debian's /usr/bin/chromium, driven by playwright-core).
 *
 *   node tests/browser/run.js --port N --web-port M [--out DIR] [--chromium PATH]
 *                             [--journal off|DIR [--journal-failing]]
 *                             [--restarted SLEIGH] [--detached SESSION-ID]
 *
 * It talks to an already running server (tests/check_web_browser.c starts
 * one): data goes in through the NWS protocol (nws.js), and the checks are
 * made on what the browser shows.  With --journal, only the overview's
 * journal card is checked: "off", or the journal of a server started with
 * --journal DIR (the directory shown exactly, as text).  With --restarted,
 * only what the pages say of a sleigh that lived through a restart: the
 * SLEIGH workspace's batch "before" was rebuilt from the journal, "after"
 * was made since.  With --detached, only the sessions card (the session
 * SESSION-ID waits to be resumed) and the sleigh browser_sessions, whose
 * worker 0 is that session's, detached.  The whole run is
 * bounded: a hung browser
 * or page fails it.  Screenshots of the main pages go to --out.
 */
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const {Conn} = require('./nws.js');

const RUN_LIMIT_MS = 50000;
const XSS = '<script>alert(1)</script>';
const XSS_IMG = '<img src=x onerror=alert(2)>';

function option(name, def) {
  const i = process.argv.indexOf('--' + name);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}
const PORT = parseInt(option('port', '0'), 10);
const WEB = parseInt(option('web-port', '0'), 10);
const OUT = option('out', path.join(__dirname, '..', 'out'));
const CHROMIUM = option('chromium', '/usr/bin/chromium');
const BASE = 'http://127.0.0.1:' + WEB;
const JOURNAL = option('journal', null);
const JOURNAL_FAILING = process.argv.includes('--journal-failing');
const RESTARTED = option('restarted', null);
const DETACHED = option('detached', null);

let passed = 0, failed = 0;
function ok(what) { passed++; console.log('ok - ' + what); }
function check(cond, what) {
  if (!cond) throw new Error('check failed: ' + what);
  ok(what);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  if (!PORT || !WEB) throw new Error('usage: run.js --port N --web-port M');
  fs.mkdirSync(OUT, {recursive: true});
  const {chromium} = require('playwright-core');
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'nws-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    timeout: 20000,
    viewport: {width: 1280, height: 860},
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
      '--disable-quic', '--disable-background-networking', '--disable-component-update',
      '--disable-sync'],
  });
  const dialogs = [], pageErrors = [], consoleErrors = [];
  try {
    const page = ctx.pages()[0] || await ctx.newPage();
    page.setDefaultTimeout(10000);
    page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss().catch(() => {}); });
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
    if (JOURNAL !== null) {
      await journal(page, dialogs);
    } else if (RESTARTED !== null) {
      await restarted(page);
    } else if (DETACHED !== null) {
      await detached(page);
    } else {
      await browse(page);
      await xss(page, dialogs);
      await sleighProgress(page);
      await spooled(page);
    }
    check(dialogs.length === 0, 'no dialog opened during the run (' + dialogs.join(', ') + ')');
    check(pageErrors.length === 0, 'no script error in the pages (' + pageErrors.join('; ') + ')');
    const csp = consoleErrors.filter((t) => /Content Security Policy/i.test(t));
    check(csp.length === 0, 'no Content-Security-Policy violation (' + csp.join('; ') + ')');
  } finally {
    await ctx.close().catch(() => {});
    fs.rmSync(profile, {recursive: true, force: true});
  }
}

/* Overview -> Workspaces -> a workspace -> a variable, and its value. */
async function browse(page) {
  const c = await Conn.open(PORT);
  await c.openWs('browser_ws', true);   /* outlives this connection */
  await c.store('browser_ws', 'greeting', 'Hello from the browser test');
  await c.store('browser_ws', 'config', '{"tasks": 8, "names": ["a", "b"], "ok": true}');
  await c.store('browser_ws', 'blob', Buffer.from([0, 1, 2, 0xfe, 0xff, 0x41]), {}, 3);
  await c.store('browser_ws', XSS_IMG, XSS_IMG);

  await page.goto(BASE + '/');
  const version = page.locator('.card[data-k="version"] .value');
  await version.waitFor();
  check(/^\d+\.\d+\.\d+$/.test(await version.textContent()), 'overview shows the version');
  await page.locator('.card[data-k="workspaces"] .value').waitFor();
  check(Number(await page.locator('.card[data-k="workspaces"] .value').textContent()) >= 2,
    'overview counts the workspaces');
  await page.screenshot({path: path.join(OUT, 'overview.png'), fullPage: true});

  await page.click('header nav a[data-nav="workspaces"]');
  const wsLink = page.locator('a.name', {hasText: 'browser_ws'});
  await wsLink.waitFor();
  check(true, 'the workspace list shows browser_ws');
  await page.screenshot({path: path.join(OUT, 'workspaces.png'), fullPage: true});
  await page.locator('input.filter').fill('no such name');
  await page.locator('td.empty').waitFor();
  check(await page.locator('a.name').count() === 0, 'the filter box filters the list');
  await page.locator('input.filter').fill('');
  await wsLink.waitFor();
  await page.locator('th.sortable', {hasText: 'Name'}).click();
  await page.locator('th.sortable.desc').waitFor();
  check(await page.locator('a.name').first().textContent() === 'browser_ws',
    'a click on a column header sorts by it');
  await wsLink.click();
  await page.waitForURL(/\/ws\?ws=browser_ws$/);
  const varLink = page.locator('a.name', {hasText: 'greeting'});
  await varLink.waitFor();
  check(await page.locator('h1 .name').textContent() === 'browser_ws', 'workspace page title');
  const imgLink = page.locator('a.name', {hasText: XSS_IMG});
  await imgLink.waitFor();
  check(await page.locator('main img').count() === 0,
    'a variable named like an <img> tag is listed as text');
  await page.screenshot({path: path.join(OUT, 'workspace.png'), fullPage: true});
  await varLink.click();
  await page.waitForURL(/\/var\?ws=browser_ws&var=greeting$/);
  const body = page.locator('li.value .body').first();
  await body.waitFor();
  check(await body.textContent() === 'Hello from the browser test', 'the stored value is shown');
  check((await page.locator('li.value .desc').first().textContent()).startsWith('string'),
    'its descriptor is decoded as a string');
  await page.screenshot({path: path.join(OUT, 'variable.png'), fullPage: true});

  await page.goto(BASE + '/var?ws=browser_ws&var=config');
  const json = page.locator('li.value[data-render="json"] .body');
  await json.waitFor();
  check((await json.textContent()).includes('\n  "tasks": 8'), 'a JSON value is pretty-printed');
  await page.goto(BASE + '/var?ws=browser_ws&var=blob');
  const hex = page.locator('li.value[data-render="binary"] .body');
  await hex.waitFor();
  check((await hex.textContent()).includes('00 01 02 fe ff 41'), 'a binary value is shown as hex');

  /* Actions: fetchTry empties blob; a two-step delete removes config. */
  await page.locator('button', {hasText: 'Remove one value'}).click();
  await page.locator('p.empty', {hasText: 'No values.'}).waitFor();
  check(true, 'fetchTry from the page takes the value out');
  await page.goto(BASE + '/var?ws=browser_ws&var=config');
  await page.locator('li.value').waitFor();
  const del = page.locator('button', {hasText: 'Delete variable'});
  await del.click();
  await page.locator('button.armed').waitFor();
  await page.locator('button.armed').click();
  await page.waitForURL(/\/ws\?ws=browser_ws$/);
  await page.locator('a.name', {hasText: 'greeting'}).waitFor();
  check(await page.locator('a.name', {hasText: 'config'}).count() === 0,
    'a variable deleted from the page is gone');
  c.close();
}

/* Store a value named <script>alert(1)</script> from the page: shown as text. */
async function xss(page, dialogs) {
  await page.goto(BASE + '/ws?ws=browser_ws');
  await page.locator('form.store input[name="var"]').fill(XSS);
  await page.locator('form.store textarea[name="value"]').fill(XSS);
  await page.locator('form.store button[type="submit"]').click();
  await page.waitForURL(/\/var\?ws=browser_ws&var=%3Cscript%3E/);
  const body = page.locator('li.value .body').first();
  await body.waitFor();
  check(await body.textContent() === XSS, 'the stored <script> value is rendered as text');
  check(await page.locator('h1 .name').textContent() === XSS, 'the <script> name is the title text');
  check(await page.locator('main script, #app script').count() === 0, 'no script element was made');
  await sleep(300);
  check(dialogs.length === 0, 'no alert ran');
  await page.goto(BASE + '/ws?ws=browser_ws');
  await page.locator('a.name', {hasText: XSS}).waitFor();
  await sleep(300);
  check(dialogs.length === 0 && await page.locator('main img').count() === 0,
    'the workspace page lists both hostile names as text, no alert');
}

/*
 * A sleigh driven by raw protocol: a master makes the workspace and queues
 * tasks in one batch, a fake worker registers and works through them slowly;
 * the page's progress bar must go from partial to done.
 */
async function sleighProgress(page) {
  const TASKS = 10;
  const master = await Conn.open(PORT);
  const name = await master.mktemp('browser_sleigh_%d', {wstype: 'sleigh'});
  await master.openWs(name);
  const worker = await Conn.open(PORT);
  await worker.useWs(name);
  await worker.store(name, 'worker_ids', '0', {pid: '4242', host: 'browser-node'});
  await worker.store(name, 'output@0', 'worker 0 started on ' + os.hostname());
  for (let i = 0; i < TASKS; i++) await master.store(name, 'task', 'task ' + i, {batchId: 'batch-1'});
  /* Queued after batch-1's tasks, so the worker below never takes it. */
  await master.store(name, 'task', JSON.stringify({kind: 'call', module: 'stats', function: 'mean',
    first: 0, args: [[1]]}), {batchId: 'batch-2'});

  await page.goto(BASE + '/sleigh?ws=' + encodeURIComponent(name));
  const bar = page.locator('tr[data-key="batch-1"] .bar');
  await bar.waitFor();
  check(await bar.getAttribute('aria-valuenow') === '0', 'the batch starts at 0%');

  const work = (async () => {
    for (let i = 0; i < TASKS; i++) {
      await worker.fetch(name, 'task');
      await sleep(400);
      await worker.store(name, 'result', 'result ' + i, {});
      await worker.store(name, 'output@0', 'finished task ' + i);
    }
  })();
  const seen = [];
  let shot = false;
  const until = Date.now() + 25000;
  for (;;) {
    const v = Number(await bar.getAttribute('aria-valuenow'));
    if (seen[seen.length - 1] !== v) seen.push(v);
    if (!shot && v >= 30 && v < 100) {
      await page.screenshot({path: path.join(OUT, 'sleigh.png'), fullPage: true});
      shot = true;
    }
    if (v === 100 || Date.now() > until) break;
    await sleep(100);
  }
  await work;
  check(seen[seen.length - 1] === 100, 'the progress bar reaches 100% (seen ' + seen.join(',') + ')');
  check(seen.some((v) => v > 0 && v < 100), 'it showed partial progress on the way');
  check(seen.every((v, i) => i === 0 || v >= seen[i - 1]), 'it never went back');
  const row = page.locator('tr[data-rank="0"]');
  await page.waitForFunction((n) => {
    const r = document.querySelector('tr[data-rank="0"]');
    return r && r.children[4].textContent === String(n);
  }, TASKS);
  check((await row.textContent()).includes('finished task'), 'the worker row shows its output');
  check(await page.locator('tr[data-key="batch-1"] td').last().textContent() === 'done',
    'the batch ETA says done');
  const b2 = page.locator('tr[data-key="batch-2"]');
  await b2.locator('code.what').waitFor();
  check(await b2.locator('code.what').textContent() === 'stats.mean',
    'a batch shows the function it runs');
  check((await b2.locator('.started').textContent()).length > 0, 'and when it started');
  check(await row.locator('td').nth(2).textContent() === '4242',
    'the Pid column shows the pid a worker registered with');
  if (!shot) await page.screenshot({path: path.join(OUT, 'sleigh.png'), fullPage: true});
  master.close();
  worker.close();
}

/*
 * A value past --spool-threshold (4096 here): the overview's memory card
 * counts it apart, its page offers the whole value as a download, and
 * fetchTry shows the value it took (with its download) instead of losing it.
 */
async function spooled(page) {
  const SIZE = 10000;
  const c = await Conn.open(PORT);
  await c.openWs('browser_spool', true);
  await c.store('browser_spool', 'big', 'x'.repeat(SIZE));
  await page.goto(BASE + '/');
  const sp = page.locator('.card[data-k="memory"] .spooled');
  await sp.waitFor();
  check((await sp.textContent()).includes('in 1 spooled value'),
    'the memory card shows spooled bytes apart (' + await sp.textContent() + ')');
  const get = (href) => page.evaluate(async (u) => {
    const r = await fetch(u);
    return {status: r.status, disp: r.headers.get('content-disposition'),
      text: await r.text()};
  }, href);
  await page.goto(BASE + '/var?ws=browser_spool&var=big');
  const dl = page.locator('li.value[data-render="spooled"] a.download');
  await dl.waitFor();
  let r = await get(await dl.getAttribute('href'));
  check(r.status === 200 && /^attachment; filename="big-0.bin"$/.test(r.disp) &&
    r.text === 'x'.repeat(SIZE), 'a spooled value downloads whole, as an attachment');
  await page.locator('button', {hasText: 'Remove one value'}).click();
  const taken = page.locator('.taken li.value[data-render="spooled"] a.download');
  await taken.waitFor();
  r = await get(await taken.getAttribute('href'));
  check(r.status === 200 && r.text === 'x'.repeat(SIZE),
    'fetchTry of a spooled value shows it with its download');
  await page.locator('p.empty', {hasText: 'No values.'}).waitFor();
  c.close();
}

/*
 * A sleigh that lived through a restart (issue 15): the overview's row and
 * the sleigh view's batch "before" carry the "restarted" badge, the batch
 * "after" (made since the restart) does not.
 */
async function restarted(page) {
  await page.goto(BASE + '/');
  const row = page.locator('tr', {has: page.locator('a', {hasText: RESTARTED})});
  await row.locator('.badge.restarted').waitFor();
  check(true, 'the overview marks the sleigh that lived through a restart');
  await page.screenshot({path: path.join(OUT, 'restarted-overview.png'), fullPage: true});
  await row.locator('a', {hasText: RESTARTED}).click();
  const before = page.locator('tr[data-key="before"]');
  await before.locator('.badge.restarted').waitFor();
  check(true, 'the sleigh view marks the batch rebuilt from the journal');
  const after = page.locator('tr[data-key="after"]');
  await after.waitFor();
  check(await after.locator('.badge.restarted').count() === 0,
    'a batch made after the restart is not marked');
  const title = await before.locator('.badge.restarted').getAttribute('title');
  check(/1 duplicate task or result dropped/.test(title),
    'the badge says how many duplicates were dropped (' + title + ')');
  await page.screenshot({path: path.join(OUT, 'restarted-sleigh.png'), fullPage: true});
}

/*
 * A session waiting to be resumed (issue 15): the overview's sessions card
 * lists it, and the sleigh view shows its worker as detached.
 */
async function detached(page) {
  await page.goto(BASE + '/');
  const card = page.locator('.card[data-k="sessions"]');
  const w = card.locator('.waiting[data-session="' + DETACHED + '"]');
  await w.waitFor();
  check((await w.textContent()).startsWith(DETACHED.slice(0, 8)),
    'the sessions card lists the session waiting to be resumed (' + await w.textContent() + ')');
  check(/\d+(\.\d)? s left|min .* left/.test(await w.textContent()), 'with the time it may still wait');
  check(/1 waiting to be resumed/.test(await card.locator('.detached').textContent()),
    'and counts the sessions waiting');
  await page.screenshot({path: path.join(OUT, 'sessions-overview.png'), fullPage: true});
  await page.goto(BASE + '/sleigh?ws=browser_sessions');
  const st = page.locator('tr[data-rank="0"] .state');
  await st.waitFor();
  check(await st.textContent() === 'detached, session waits',
    'the sleigh view shows the worker of a detached session as detached');
  const row = page.locator('tr', {has: page.locator('a', {hasText: 'browser_sessions'})});
  await page.goto(BASE + '/');
  await row.waitFor();
  check(/1 detached/.test(await row.textContent()), 'the overview counts detached workers');
  await page.screenshot({path: path.join(OUT, 'sessions-sleigh.png'), fullPage: true});
}

/*
 * The overview's journal card: "off" without --journal; with it, its size,
 * policy, last fsync, snapshot state and directory, the directory (a name
 * with quotes, <b> and &amp;) shown as the exact text and no element.
 */
async function journal(page, dialogs) {
  await page.goto(BASE + '/');
  const card = page.locator('.card[data-k="journal"]');
  await card.waitFor();
  const value = await card.locator('.value').textContent();
  if (JOURNAL === 'off') {
    check(value === 'off', 'the journal card says off (' + value + ')');
    await page.screenshot({path: path.join(OUT, 'journal-off.png'), fullPage: true});
    return;
  }
  if (JOURNAL_FAILING) {
    const f = card.locator('.failing');
    await f.waitFor();
    check(/^writes refused: .*No space left on device/.test(await f.textContent()),
      'a full disk shows on the journal card (' + await f.textContent() + ')');
    const o = await page.evaluate(async () => (await fetch('/api/overview')).json());
    check(o.journal.failing === true && /No space left/.test(o.journal.error),
      '/api/overview says the journal fails, and why');
    await page.screenshot({path: path.join(OUT, 'journal-failing.png'), fullPage: true});
    return;
  }
  const c = await Conn.open(PORT);
  await c.openWs('browser_journal', true);
  await c.store('browser_journal', 'x', 'kept across a restart');
  c.close();
  await page.waitForFunction(() => {
    const f = document.querySelector('.card[data-k="journal"] .fsync');
    return f && /ago$/.test(f.textContent);
  });
  check(/^\d+(\.\d)? (B|KiB|MiB|GiB)$/.test(await card.locator('.value').textContent()),
    'the journal card shows its size (' + await card.locator('.value').textContent() + ')');
  check(await card.locator('.policy').textContent() === 'fsync always', 'and the fsync policy');
  check(/^last fsync .* ago$/.test(await card.locator('.fsync').textContent()),
    'and the last fsync (' + await card.locator('.fsync').textContent() + ')');
  check(await card.locator('.snapshot').textContent() === 'no snapshot yet', 'and no snapshot yet');
  check(await card.locator('.dir').textContent() === JOURNAL,
    'the directory is shown exactly, as text (' + await card.locator('.dir').textContent() + ')');
  check(await card.locator('b').count() === 0, 'its <b> made no element');
  check(await card.locator('.failing').count() === 0, 'and nothing says writes are refused');
  const o = await page.evaluate(async () => (await fetch('/api/overview')).json());
  check(o.journal.active === true && o.journal.dir === JOURNAL && o.journal.policy === 'always',
    '/api/overview has the same journal');
  await sleep(300);
  check(dialogs.length === 0, 'no alert ran');
  await page.screenshot({path: path.join(OUT, 'journal.png'), fullPage: true});
}

const limit = setTimeout(() => {
  console.error('not ok - the browser run took longer than ' + RUN_LIMIT_MS / 1000 + ' s');
  process.exit(1);
}, RUN_LIMIT_MS);

main().then(() => {
  clearTimeout(limit);
  console.log('browser tests: ' + passed + ' ok, ' + failed + ' not ok');
  process.exit(0);
}, (e) => {
  clearTimeout(limit);
  failed++;
  console.error('not ok - ' + (e && e.stack ? e.stack : e));
  console.log('browser tests: ' + passed + ' ok, ' + failed + ' not ok');
  process.exit(1);
});
