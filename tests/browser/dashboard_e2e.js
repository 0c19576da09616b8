'use strict';
/* The dashboard against a real `fleetup serve` during a running fleetsim rollout (started
 * by tests/integration/dashboard_e2e.sh): the counts change live, a filter and the search
 * narrow the node table, a failed node shows its reason, pause stops new starts (checked
 * against the API too), resume runs on, abort ends it. Screenshots go to
 * $FLEETUP_ARTIFACTS. env: FLEETUP_URL (https://127.0.0.1:PORT), FLEETUP_TOKEN,
 * FLEETUP_ROLLOUT (the rollout's id). */
const L = require('./lib');

const URL_ = process.env.FLEETUP_URL;
const TOKEN = process.env.FLEETUP_TOKEN;
const ID = Number(process.env.FLEETUP_ROLLOUT);

async function api(h, method, path) {
  const res = await h.context.request.fetch(URL_ + '/api/v1' + path, {
    method, headers: { Authorization: 'Bearer ' + TOKEN },
  });
  L.check(res.ok(), method + ' ' + path + ': HTTP ' + res.status() + ' ' + (await res.text()));
  return res.json();
}

function startedOf(r) {
  return r.nodes - r.counts.pending;
}

L.runTest('dashboard_e2e', URL_, 150000, async (h, page) => {
  // 1. The dashboard opens on the rollout, signed in through the URL fragment.
  await L.openDashboard(page, { token: TOKEN, rollout: ID });
  await page.waitForSelector('#app:not([hidden])', { timeout: 10000 });
  await L.waitForText(page, '#run-state', /^(running|awaiting-promote)$/, 15000);
  await L.waitFor(async () => (await page.$$('#rollouts [data-rollout-id="' + ID + '"]')).length === 1,
    'rollout ' + ID + ' in the rollouts list');
  h.assertClean('open');

  // 2. Counts change live (the stream, no reload).
  const c1 = await L.readCounts(page);
  L.log('counts at open', JSON.stringify(c1));
  await L.waitFor(async () => {
    const c = await L.readCounts(page);
    return c.done + c.skipped + c.failed + c.unreachable > c1.done + c1.skipped + c1.failed + c1.unreachable + 5 && c;
  }, 'the ended count to grow live', { timeout: 40000 });
  const total = (await L.nodesCount(page))[1];
  L.check(total === 200, 'the table holds 200 nodes, not ' + total);
  await L.screenshot(page, 'e2e-1-running');

  // 3. A filter: state = done shows done nodes only; the search narrows to one node.
  await page.selectOption('#filter-state', 'done');
  /* The table redraws on the next frame: wait for it (a filter that does not work
   * times out here, naming the states it shows). */
  let seen = [];
  const rows = await L.waitFor(async () => {
    const r = await L.visibleRows(page);
    seen = [...new Set(r.map((x) => x.state))];
    return r.length > 0 && r.every((x) => x.state === 'done') && r;
  }, 'the filter state=done to show done rows only', { timeout: 5000 }).catch((e) => {
    L.fail(e.message + '; states shown: ' + JSON.stringify(seen));
  });
  const [shown, all] = await L.nodesCount(page);
  L.check(shown > 0 && shown < all, 'filtered count ' + shown + ' of ' + all);
  await L.screenshot(page, 'e2e-2-filter-done');
  const one = rows[0].name;
  await page.fill('#search', one);
  await L.waitFor(async () => {
    const r = await L.visibleRows(page);
    return r.length >= 1 && r.every((x) => x.name.includes(one)) && r;
  }, 'the search to narrow to ' + one);
  await page.fill('#search', '');
  await page.selectOption('#filter-state', '');

  // 4. Pause (button, confirmation): the run state says so and no node starts.
  const text = await L.operate(page, 'pause');
  L.check(/pause/i.test(text) && text.includes(String(ID)), 'the confirmation names the command and rollout: ' + text);
  await L.waitForText(page, '#run-state', 'paused');
  const p1 = await api(h, 'GET', '/rollouts/' + ID);
  L.check(p1.state === 'paused', 'the API says paused, not ' + p1.state);
  const d1 = await L.readCounts(page);
  await L.sleep(4000);
  const p2 = await api(h, 'GET', '/rollouts/' + ID);
  const d2 = await L.readCounts(page);
  L.check(startedOf(p2) === startedOf(p1), 'no node started while paused (API: ' + startedOf(p1) +
    ' then ' + startedOf(p2) + ')');
  L.check(d2.pending === d1.pending && d2.pending === p2.counts.pending,
    'the dashboard\'s pending count holds while paused: ' + d1.pending + ' then ' + d2.pending +
    ' (API ' + p2.counts.pending + ')');
  L.check(p2.counts.pending > 0, 'nodes were left pending to prove the pause');
  await L.screenshot(page, 'e2e-3-paused');

  // 5. Resume: nodes start again.
  await L.operate(page, 'resume');
  await L.waitForText(page, '#run-state', /^(running|awaiting-promote)$/);
  await L.waitFor(async () => startedOf(await api(h, 'GET', '/rollouts/' + ID)) > startedOf(p2),
    'a node to start after resume', { timeout: 15000 });
  await L.waitFor(async () => (await L.readCounts(page)).pending < d2.pending,
    'the dashboard to show it', { timeout: 5000 });

  // 6. Failed nodes are listed with their reason; one opens with its detail.
  const failedItem = await L.waitFor(async () => (await page.$$('#failed [data-node]'))[0],
    'a failed node in #failed', { timeout: 60000 });
  const reason = await failedItem.textContent();
  L.check(/Flash failed: write error/.test(reason), 'the failed node shows its reason: ' + reason);
  await failedItem.click();
  await page.waitForSelector('#node-detail:not([hidden])', { timeout: 5000 });
  await L.waitForText(page, '#node-detail', /Flash failed: write error/);
  await L.screenshot(page, 'e2e-4-failed-node');
  const closeBtn = await page.$('#node-detail-close');
  if (closeBtn) await closeBtn.click();

  // 7. Abort, confirmed: the rollout ends; the page follows.
  await L.operate(page, 'abort');
  await L.waitForText(page, '#run-state', /^(aborting|finished)$/, 10000);
  await L.waitForText(page, '#run-state', 'finished', 60000);
  const end = await api(h, 'GET', '/rollouts/' + ID);
  L.check(end.counts.cancelled > 0, 'abort cancelled the nodes not started');
  await L.screenshot(page, 'e2e-5-aborted');
  h.assertClean('end');
  L.log('dashboard_e2e: passed');
});
