// lineage.js: the dashboard's lineage graph in a real headless Chromium, started by
// tests/e2e/96-lineage.t once its chain exists (environment):
//   URL      the server; TOKEN a member of the team that made the chain
//   VERSION  the version to open (clf@1); UP its upstream (corpus@1); DOWN_JOB a job that read it
//   MADE_BY  the job that made VERSION; OUT where the screenshot goes
// Each check prints PASS or FAIL (lib.js); the .t file turns them into TAP.
'use strict';
const { check, launch, newPage, shot, waitLoaded, text, done } = require('./lib.js');

const env = (k) => { if (!process.env[k]) throw new Error('missing ' + k); return process.env[k]; };
const URL = env('URL');

async function main() {
  const browser = await launch();
  try {
    const page = await newPage(browser);
    await page.goto(URL + '/', { waitUntil: 'load' });
    await page.waitForSelector('#token', { visible: true });
    await page.type('#token', env('TOKEN'));
    await page.click('#signin-form button[type=submit]');
    await waitLoaded(page, 'overview');

    // A job page links its artifacts to their lineage.
    await page.goto(URL + '/#/job/' + env('MADE_BY'), { waitUntil: 'load' });
    await waitLoaded(page, 'job');
    await check('the job that made ' + env('VERSION') + ' lists its input and output versions', async () => {
      const rows = await page.$$eval('#artifacts tbody tr', (rs) => rs.map((r) => r.textContent));
      const all = rows.join(' | ');
      return (all.includes(env('UP')) && all.includes(env('VERSION'))) || 'rows: ' + all;
    });
    await page.click('#artifacts tr[data-output] a');
    await waitLoaded(page, 'lineage');
    await check('following its output opens the lineage page of ' + env('VERSION'), async () => {
      const h = await text(page, '#view h1');
      return h === 'Lineage of ' + env('VERSION') || 'heading: ' + h;
    });
    await check('the graph draws the version, its upstream and the job that read it', async () => {
      const refs = await page.$$eval('#lineage-graph .lnode', (gs) => gs.map((g) => g.getAttribute('data-ref')));
      const want = [env('VERSION'), env('UP'), 'job ' + env('DOWN_JOB')];
      const missing = want.filter((w) => !refs.includes(w));
      return !missing.length || 'missing ' + missing.join(', ') + ' among ' + refs.join(', ');
    });
    await check('an arrow goes from ' + env('UP') + ' to ' + env('VERSION') + ', and from it to job ' + env('DOWN_JOB'), async () => {
      const edges = await page.$$eval('#lineage-graph line.edge', (ls) => ls.map((l) => l.getAttribute('data-from') + '>' + l.getAttribute('data-to')));
      const want = [env('UP') + '>' + env('VERSION'), env('VERSION') + '>job ' + env('DOWN_JOB')];
      const missing = want.filter((w) => !edges.includes(w));
      return !missing.length || 'edges: ' + edges.join(', ');
    });
    await check('upstream lies left of the version, downstream right of it', async () => {
      const xs = await page.$$eval('#lineage-graph .lnode', (gs) => Object.fromEntries(gs.map((g) =>
        [g.getAttribute('data-ref'), Number(g.querySelector('rect').getAttribute('x'))])));
      const u = xs[env('UP')], r = xs[env('VERSION')], d = xs['job ' + env('DOWN_JOB')];
      return (u < r && r < d) || 'x: ' + JSON.stringify(xs);
    });
    await check('"made by" names the job, its user and command', async () => {
      const t = await text(page, '#made-by');
      return (t.includes(env('MADE_BY')) && /alice/.test(t)) || 'made by: ' + t;
    });
    await shot(page, process.env.OUT, 'lineage');
    await page.click('#lineage-graph .lnode[data-ref="' + env('UP') + '"]');
    await page.waitForFunction((h) => document.querySelector('#view h1') && document.querySelector('#view h1').textContent === h, { timeout: 10000 },
      'Lineage of ' + env('UP'));
    await check('clicking the upstream version opens its own lineage', async () => true);
    await check('no console error, failed request or CSP violation', async () =>
      !page.problems.length || page.problems.join('\n'));
  } finally {
    await browser.close();
  }
  done();
}
main().catch((e) => { console.log('FAIL the browser test: ' + (e.stack || e)); done(); process.exitCode = 1; });
