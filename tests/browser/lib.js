'use strict';
/* Shared helpers of the dashboard's browser tests: Debian's chromium (headless) driven by
 * playwright-core, a context that fails the test on any request leaving the dashboard's
 * own origin, on any console error and on any page error, plus small helpers to sign in,
 * wait, read the counts and take screenshots (into $FLEETUP_ARTIFACTS, default
 * ./artifacts). Used by dashboard_mock.js (against mock_api.py) and by the end-to-end
 * test against `fleetup serve`. */

const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const CHROMIUM = process.env.FLEETUP_CHROMIUM || '/usr/bin/chromium';
const STATES = ['pending', 'active', 'waiting', 'retry', 'done', 'skipped', 'failed',
  'unreachable', 'cancelled'];

class TestFailure extends Error {}

function fail(msg) {
  throw new TestFailure(msg);
}

function check(cond, msg) {
  if (!cond) fail(msg);
}

function artifactsDir() {
  const dir = path.resolve(process.env.FLEETUP_ARTIFACTS || 'artifacts');
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

function log(...a) {
  const t = new Date().toISOString().slice(11, 23);
  console.log('[' + t + ']', ...a);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/* Polls fn (sync or async) until it returns a truthy value; fails with what after
 * timeout ms, naming the last value seen. */
async function waitFor(fn, what, { timeout = 10000, interval = 100 } = {}) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      if (e instanceof TestFailure) throw e;
      last = 'error: ' + e.message;
    }
    if (Date.now() > end) fail('timed out after ' + timeout + ' ms waiting for ' + what + ' (last: ' + JSON.stringify(last) + ')');
    await sleep(interval);
  }
}

/* Launches chromium and opens a context bound to baseURL (http or https: with https the
 * certificate is not checked, the service's is self-signed). Every request must go to
 * baseURL's origin (data: URLs never reach the router); console errors and page errors
 * are collected in `problems`, except console messages matching an allowConsole regex
 * (a test that provokes a 401 or a 409 on purpose lists it: the browser logs failed
 * responses as console errors). */
async function launch(baseURL, { colorScheme = 'light', viewport = { width: 1400, height: 900 } } = {}) {
  if (!fs.existsSync(CHROMIUM)) fail('no chromium at ' + CHROMIUM);
  const base = new URL(baseURL);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--no-first-run',
      '--disable-background-networking', '--disable-component-update',
      '--disable-default-apps', '--disable-sync', '--metrics-recording-only',
      '--disable-features=Translate,OptimizationHints,MediaRouter'],
  });
  const h = {
    browser,
    base,
    problems: [],
    allowConsole: [],
    context: null,
    async newContext(opts = {}) {
      const context = await browser.newContext({
        baseURL: base.origin,
        viewport: opts.viewport || viewport,
        colorScheme: opts.colorScheme || colorScheme,
        ignoreHTTPSErrors: base.protocol === 'https:',
        serviceWorkers: 'block',
      });
      await context.route('**/*', (route) => {
        const u = new URL(route.request().url());
        if (u.origin !== base.origin) {
          h.problems.push('request to a foreign origin: ' + u.href);
          return route.abort('blockedbyclient');
        }
        return route.continue();
      });
      context.on('page', (page) => h.watch(page));
      return context;
    },
    watch(page) {
      page.on('console', (m) => {
        if (m.type() !== 'error') return;
        const text = m.text();
        if (h.allowConsole.some((re) => re.test(text))) return;
        const loc = m.location();
        h.problems.push('console error: ' + text + (loc && loc.url ? ' (' + loc.url + ':' + loc.lineNumber + ')' : ''));
      });
      page.on('pageerror', (e) => h.problems.push('page error: ' + (e.stack || e.message)));
      page.on('crash', () => h.problems.push('page crashed'));
    },
    async newPage(opts) {
      if (!h.context || opts) {
        const ctx = await h.newContext(opts);
        if (!h.context) h.context = ctx;
        return ctx.newPage();
      }
      return h.context.newPage();
    },
    /* Fails when anything went wrong since the last call. */
    assertClean(step) {
      if (h.problems.length) {
        const p = h.problems.splice(0);
        fail((step ? step + ': ' : '') + p.length + ' problem(s):\n  ' + p.join('\n  '));
      }
    },
    async close() {
      try { await browser.close(); } catch (e) { /* already gone */ }
    },
  };
  return h;
}

/* Opens the dashboard; with a token, through the URL hash (#token=...), the way
 * `fleetup serve` prints its dashboard link. */
async function openDashboard(page, { token, rollout } = {}) {
  const parts = [];
  if (token) parts.push('token=' + encodeURIComponent(token));
  if (rollout !== undefined && rollout !== null) parts.push('rollout=' + rollout);
  await page.goto('/' + (parts.length ? '#' + parts.join('&') : ''), { waitUntil: 'load' });
}

/* Signs in through the login form. */
async function login(page, token) {
  await page.waitForSelector('#login:not([hidden])', { timeout: 10000 });
  await page.fill('#token', token);
  await page.click('#login-ok');
  await page.waitForSelector('#app:not([hidden])', { timeout: 10000 });
}

async function text(page, selector) {
  return (await page.textContent(selector, { timeout: 5000 })) || '';
}

/* Waits until the element's text equals want (a string) or matches it (a RegExp). */
async function waitForText(page, selector, want, timeout = 10000) {
  return waitFor(async () => {
    const t = (await page.textContent(selector, { timeout: 2000 })) || '';
    const ok = want instanceof RegExp ? want.test(t) : t.trim() === want;
    return ok ? t : false;
  }, selector + ' to read ' + want, { timeout });
}

/* {pending: N, ..., in_flight: N} from the header. */
async function readCounts(page) {
  return page.evaluate((states) => {
    const out = {};
    for (const s of states) {
      const e = document.querySelector('[data-count="' + s + '"]');
      out[s] = e ? Number(e.textContent) : NaN;
    }
    const f = document.querySelector('#in-flight');
    out.in_flight = f ? Number(f.textContent) : NaN;
    return out;
  }, STATES);
}

/* Nodes that left pending (whatever their state now). */
function started(counts) {
  return STATES.filter((s) => s !== 'pending').reduce((a, s) => a + (counts[s] || 0), 0);
}

/* "N of M nodes" -> [N, M]. */
async function nodesCount(page) {
  const t = await text(page, '#nodes-count');
  const m = /^(\d+) of (\d+) nodes$/.exec(t.trim());
  if (!m) fail('#nodes-count reads "' + t + '", not "N of M nodes"');
  return [Number(m[1]), Number(m[2])];
}

/* The node rows drawn (in table order): [{name, state, phase, reason}]. */
async function visibleRows(page) {
  return page.$$eval('#nodes-rows .node-row:not([hidden])', (rows) => rows.sort((a, b) =>
    Number(a.getAttribute('aria-rowindex')) - Number(b.getAttribute('aria-rowindex'))).map((r) => ({
    name: r.dataset.node,
    state: r.dataset.state,
    phase: r.children[2].textContent,
    reason: r.children[7].textContent,
  })));
}

async function screenshot(page, name) {
  const file = path.join(artifactsDir(), name.replace(/[^A-Za-z0-9_.-]/g, '_') + '.png');
  await page.screenshot({ path: file });
  log('screenshot', file);
  return file;
}

/* Clicks an operator button and confirms (or cancels) in the #confirm dialog; returns
 * the dialog's text. */
async function operate(page, cmd, { confirm = true } = {}) {
  const btn = '#btn-' + cmd;
  await waitFor(() => page.isEnabled(btn), btn + ' enabled');
  await page.click(btn);
  await page.waitForSelector('#confirm[open]', { timeout: 5000 });
  const t = await text(page, '#confirm-text');
  await page.click(confirm ? '#confirm-ok' : '#confirm-cancel');
  await page.waitForSelector('#confirm:not([open])', { state: 'attached', timeout: 5000 });
  return t;
}

/* Measures frame pacing for ms: requestAnimationFrame deltas, optionally scrolling the
 * element `scroll` (a selector) by `px` pixels every frame, back to the top at the end.
 * Returns {frames, p50, p95, max, scrolls} (ms). */
async function frameTiming(page, ms, { scroll = null, px = 120 } = {}) {
  return page.evaluate(({ ms, scroll, px }) => new Promise((resolve) => {
    const el = scroll ? document.querySelector(scroll) : null;
    const maxTop = el ? el.scrollHeight - el.clientHeight : 0;  /* read once: no forced layout per frame */
    const deltas = [];
    let last = 0;
    let t0 = 0;
    let scrolls = 0;
    let top = el ? el.scrollTop : 0;
    function frame(now) {
      deltas.push(now - last);
      last = now;
      if (el) {
        top = top + px >= maxTop ? 0 : top + px;
        el.scrollTop = top;
        scrolls++;
      }
      if (now - t0 < ms) requestAnimationFrame(frame);
      else {
        const s = deltas.slice().sort((a, b) => a - b);
        const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
        resolve({ frames: s.length, p50: q(0.5), p95: q(0.95), max: s[s.length - 1], scrolls });
      }
    }
    requestAnimationFrame((now) => { last = now; t0 = now; requestAnimationFrame(frame); });
  }), { ms, scroll, px });
}

/* Runs body(h, page) on a fresh browser at url under an overall time limit, then exits the
 * process: 0, or 1 with FAIL and the reason (what the ctest wrappers read). */
function runTest(name, url, limitMs, body) {
  if (!url || !/^https?:/.test(url)) {
    console.error('FAIL: ' + name + ' needs FLEETUP_URL (and FLEETUP_TOKEN, FLEETUP_ROLLOUT)');
    process.exit(2);
  }
  const deadline = setTimeout(() => {
    console.error('FAIL: ' + name + ' took over ' + limitMs / 1000 + ' s');
    process.exit(1);
  }, limitMs);
  (async () => {
    const h = await launch(url);
    try {
      await body(h, await h.newPage());
    } finally {
      await h.close();
    }
  })().then(() => {
    clearTimeout(deadline);
    process.exit(0);
  }, (e) => {
    console.error('FAIL:', e instanceof TestFailure ? e.message : (e.stack || e));
    process.exit(1);
  });
}

module.exports = {
  STATES, TestFailure, fail, check, artifactsDir, log, sleep, waitFor, launch, openDashboard,
  login, text, waitForText, readCounts, started, nodesCount, visibleRows, screenshot,
  operate, frameTiming, runTest,
};
