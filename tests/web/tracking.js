// tracking.js: the dashboard's metric plots (docs/tracking.md) in a real headless Chromium,
// started by tests/e2e/97-track-dashboard.t, which passes (environment):
//   URL     the server;  ADMIN  an admin token
//   JOB     a finished job that logged loss and acc over 5 steps, with params, 1 invalid line
//   ARRAY   an array of 3 tasks that each logged loss over 4 steps
//   OUT     where screenshots go
// Each check prints PASS or FAIL (lib.js); the .t file turns them into TAP.
'use strict';
const { check, launch, newPage, shot, chartDrew, waitLoaded, text, done } = require('./lib.js');

const env = (k) => { if (!process.env[k]) throw new Error('missing ' + k); return process.env[k]; };
const URL = env('URL'), OUT = process.env.OUT;

async function main() {
  const browser = await launch();
  try {
    const page = await newPage(browser);
    await page.goto(URL + '/', { waitUntil: 'load' });
    await page.waitForSelector('#token', { visible: true });
    await page.type('#token', env('ADMIN'));
    await page.click('#signin-form button[type=submit]');
    await waitLoaded(page, 'overview');

    await page.goto(URL + '/#/job/' + env('JOB'));
    await waitLoaded(page, 'job');
    await page.waitForSelector('#metrics', { timeout: 20000 });
    await check('job: a Metrics section with each metric\'s final and best value', async () => {
      const rows = await page.$$eval('#metrics-summary tbody tr', (rs) => rs.map((r) =>
        [r.getAttribute('data-metric'), r.cells[1].textContent, r.cells[2].textContent, r.cells[3].textContent].join('|')));
      const want = ['loss|5.5|5.5 (min)|5', 'acc|0.75|0.9 (max)|2'];
      return JSON.stringify(rows.sort()) === JSON.stringify(want.sort()) || 'rows: ' + JSON.stringify(rows);
    });
    await check('job: its params', async () => {
      const t = await text(page, '#params');
      return (/lr/.test(t) && /0\.001/.test(t) && /small/.test(t)) || 'params: ' + t;
    });
    await check('job: the invalid line is counted', async () => {
      const t = await text(page, '#metrics-invalid');
      return /^1 invalid line skipped/.test(t) || 'says: ' + t;
    });
    await check('job: the loss is plotted over its steps', async () => chartDrew(page, 'metric-loss'));
    await check('job: the loss chart holds its 5 steps', async () =>
      (await page.$eval('[data-chart="metric-loss"]', (b) => b.getAttribute('data-points'))) === '5' || 'not 5 points');
    await check('job: acc has a chart of its own', async () => chartDrew(page, 'metric-acc'));
    await shot(page, OUT, 'job-metrics');

    await page.goto(URL + '/#/job/' + env('ARRAY'));
    await page.waitForFunction((id) => document.getElementById('view').getAttribute('data-loaded') === 'job' &&
      document.querySelector('#view h1').textContent.indexOf('Job ' + id + ' ') === 0, { timeout: 20000 }, env('ARRAY'));
    await page.waitForSelector('[data-chart="sweep-loss"]', { timeout: 20000 });
    await check('sweep: the array\'s 3 tasks are fetched', async () =>
      (await page.$eval('#sweep', (b) => b.getAttribute('data-runs'))) === '3' || 'data-runs is not 3');
    await check('sweep: their loss is overlaid in one chart', async () => chartDrew(page, 'sweep-loss'));
    await check('sweep: one line (legend entry) per task', async () => {
      const names = await page.$$eval('[data-chart="sweep-loss"] .u-legend .u-series th', (ts) => ts.map((t) => t.textContent.trim()));
      const a = env('ARRAY');
      const want = [a + '_0', a + '_1', a + '_2'];
      return want.every((w) => names.includes(w)) || 'legend: ' + JSON.stringify(names);
    });
    await shot(page, OUT, 'sweep');
    await check('no console errors, failed requests or CSP violations', async () =>
      page.problems.length === 0 || page.problems.join('\n'));
  } finally {
    await browser.close();
  }
  done();
}
main().catch((e) => { console.log('FAIL the browser test crashed'); console.log('# ' + (e.stack || e)); process.exitCode = 1; });
