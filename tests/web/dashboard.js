// dashboard.js: the dashboard in a real headless Chromium against a running cluster, started
// by tests/e2e/94-dashboard.t, which passes it (environment):
//   URL       the server (http://127.0.0.1:PORT)
//   ADMIN     an admin token; MEMBER_A a member of team research; MEMBER_B of team product
//   GPUS      the cluster's GPUs in all (as the agents declared them)
//   OUT       where screenshots go (one PNG per page)
// Each check prints PASS or FAIL (lib.js); the .t file turns them into TAP.
'use strict';
const { check, launch, newPage, shot, chartDrew, waitLoaded, text, done } = require('./lib.js');

const env = (k) => { if (!process.env[k]) throw new Error('missing ' + k); return process.env[k]; };
const URL = env('URL'), OUT = process.env.OUT;

async function signIn(page, token) {
  await page.goto(URL + '/', { waitUntil: 'load' });
  await page.waitForSelector('#token', { visible: true });
  await page.type('#token', token);
  await page.click('#signin-form button[type=submit]');
}

async function main() {
  const browser = await launch();
  try {
    const page = await newPage(browser);

    // ---- sign-in ----
    await signIn(page, 'gt_not-a-token');
    await check('a wrong token is refused on the sign-in page, with the server\'s reason', async () => {
      await page.waitForFunction(() => document.getElementById('signin-error').textContent.length > 0, { timeout: 10000 });
      const t = await text(page, '#signin-error');
      return /unknown/.test(t) || 'the message was: ' + t;
    });
    page.bytes = 0;
    await signIn(page, env('ADMIN'));
    await waitLoaded(page, 'overview');
    await check('the admin signs in: the header names the user and role', async () => {
      const t = await text(page, '#who');
      return /admin \(admin\)/.test(t) || 'header says: ' + t;
    });

    // ---- overview ----
    await check('overview: the summary shows the cluster\'s GPUs (' + env('GPUS') + ')', async () => {
      const v = await page.$eval('[data-k="GPUs"] .v', (e) => e.textContent);
      return v === env('GPUS') || 'GPUs card says ' + v;
    });
    await check('overview: allocated GPUs are those the running jobs hold (' + env('ALLOCATED') + ')', async () => {
      const v = await page.$eval('[data-k="allocated"] .v', (e) => e.textContent);
      return v === env('ALLOCATED') || 'allocated card says ' + v;
    });
    await check('overview: the teams table lists research and product with their quotas', async () => {
      const rows = await page.$$eval('#teams tbody tr', (rs) => rs.map((r) => Array.from(r.cells).map((c) => c.textContent)));
      const r = rows.find((x) => x[0] === 'research'), p = rows.find((x) => x[0] === 'product');
      if (!r || !p) return 'rows: ' + JSON.stringify(rows);
      return (r[1] === '8' && p[1] === '4') || 'rows: ' + JSON.stringify(rows);
    });
    await check('overview: the research row shows its allocated GPUs (' + env('ALLOCATED_A') + ')', async () => {
      const a = await page.$eval('#teams tr[data-team="research"]', (r) => r.cells[3].textContent);
      return a === env('ALLOCATED_A') || 'research allocated ' + a;
    });
    for (const c of ['gpus', 'pending', 'teams'])
      await check('overview: the ' + c + ' chart drew', () => chartDrew(page, c));
    await check('overview: the pending chart has a series for the reason the pending job waits (' + env('PENDING_REASON') + ')', async () => {
      const labels = await page.$$eval('[data-chart="pending"] .u-legend .u-label', (ls) => ls.map((l) => l.textContent));
      return labels.includes(env('PENDING_REASON')) || 'legend: ' + JSON.stringify(labels);
    });
    await shot(page, OUT, 'overview');
    // A first visit: a new browser context (nothing cached), the sign-in page, then the overview.
    const ctx = await browser.createBrowserContext();
    const first = await newPage(ctx);
    await signIn(first, env('ADMIN'));
    await waitLoaded(first, 'overview');
    await check('the first page load (sign-in page, then the overview with its data) transferred under 500 KB', () => {
      return first.bytes < 500 * 1024 || 'transferred ' + first.bytes + ' bytes';
    });
    console.log('# first page load: ' + first.bytes + ' bytes in ' + first.requests.length + ' requests');
    await ctx.close();
    await check('every request went to the server itself (no CDN)', () => {
      const other = page.requests.filter((u) => !u.startsWith(URL) && !u.startsWith('data:'));
      return other.length === 0 || 'other origins: ' + other.join(' ');
    });

    // ---- nodes: the GPU map ----
    await page.goto(URL + '/#/nodes');
    await waitLoaded(page, 'nodes');
    await check('nodes: both nodes are on the map with their GPUs (8 and 4)', async () => {
      const n = await page.$$eval('#nodes .node', (ns) => ns.map((x) => x.getAttribute('data-node') + ':' + x.querySelectorAll('.gpu').length));
      return JSON.stringify(n.sort()) === JSON.stringify(['n1:8', 'n2:4']) || 'nodes: ' + JSON.stringify(n);
    });
    await check('nodes: the 6 GPUs the running jobs hold are marked with their job (admin sees all)', async () => {
      const held = await page.$$eval('#nodes .gpu.held a', (as) => as.map((a) => a.getAttribute('href')));
      const want = held.filter((h) => h === '#/job/' + env('RUN_A')).length === 4 && held.filter((h) => h === '#/job/' + env('TICK_B')).length === 2;
      return (held.length === 6 && want) || 'held GPUs link to ' + JSON.stringify(held);
    });
    await check('nodes: n2\'s GPUs show the utilization and memory NVML reports (GPU 3: 30%)', async () => {
      const t = await page.$eval('[data-gpu="n2/3"]', (e) => e.textContent);
      return /30% util/.test(t) || 'GPU n2/3 says: ' + t;
    });
    await shot(page, OUT, 'nodes');

    // ---- queue ----
    await page.goto(URL + '/#/queue');
    await waitLoaded(page, 'queue');
    await check('queue: the held job is pending with its reason (held)', async () => {
      const r = await page.$eval('#pending tr[data-job="' + env('HELD_A') + '"]', (tr) => Array.from(tr.cells).map((c) => c.textContent));
      return r[6] === 'held' || 'row: ' + JSON.stringify(r);
    });
    await check('queue: both running jobs are listed with their elapsed time', async () => {
      const rows = await page.$$eval('#running tbody tr', (rs) => rs.map((r) => [r.getAttribute('data-job'), r.cells[8].textContent]));
      const ids = rows.map((r) => r[0]).sort();
      const okIds = JSON.stringify(ids) === JSON.stringify([env('RUN_A'), env('TICK_B')].sort());
      return (okIds && rows.every((r) => /^\d\d:\d\d:\d\d$/.test(r[1]))) || 'rows: ' + JSON.stringify(rows);
    });
    await page.select('#f-team', 'product');
    await page.waitForFunction(() => document.querySelector('#f-team') && document.querySelector('#f-team').value === 'product' &&
      document.querySelectorAll('#running tbody tr').length === 1, { timeout: 10000 });
    await check('queue: the team filter (product) leaves only product\'s job', async () => {
      const ids = await page.$$eval('#view tr[data-job]', (rs) => rs.map((r) => r.getAttribute('data-job')));
      return JSON.stringify(ids) === JSON.stringify([env('TICK_B')]) || 'jobs: ' + JSON.stringify(ids);
    });
    await page.select('#f-team', '');
    await page.waitForFunction(() => document.querySelectorAll('#running tbody tr').length === 2, { timeout: 10000 });
    await shot(page, OUT, 'queue');

    // ---- a job: spec, placement, GPU history, events, live logs ----
    await page.goto(URL + '/#/job/' + env('TICK_B'));
    await waitLoaded(page, 'job');
    await check('job: the spec shows its command and team', async () => {
      const t = await text(page, '#spec');
      return (/while :; do echo tick/.test(t) && /product/.test(t)) || 'spec: ' + t;
    });
    await check('job: its placement names its node and GPUs', async () => {
      const rows = await page.$$eval('#placement tbody tr', (rs) => rs.map((r) => r.cells[2].textContent.split(', ').length));
      return (rows.length === 1 && rows[0] === 2) || 'placement rows: ' + JSON.stringify(rows);
    });
    await check('job: its logs stream live (new lines arrive while the page is open)', async () => {
      await page.waitForFunction(() => /tick \d+/.test(document.getElementById('logs').textContent), { timeout: 20000 });
      const last = () => page.$eval('#logs', (e) => { const m = e.textContent.match(/tick (\d+)/g); return m ? +m[m.length - 1].slice(5) : -1; });
      const first = await last();
      await page.waitForFunction((n) => { const m = document.getElementById('logs').textContent.match(/tick (\d+)/g); return m && +m[m.length - 1].slice(5) >= n + 3; },
        { timeout: 20000 }, first);
      const later = await last();
      return later >= first + 3 || 'tick ' + first + ' then ' + later;
    });
    if (env('EVENTS_API') === '1') {
      await check('job: its events timeline lists when it was submitted and started', async () => {
        const types = await page.$$eval('#events tr[data-event]', (rs) => rs.map((r) => r.getAttribute('data-event')));
        return (types.includes('submitted') && types.includes('started')) || 'events: ' + JSON.stringify(types);
      });
    } else {
      await check('job: events (not on this server yet) say "not available yet", no made-up rows', async () =>
        (await page.$('[data-na^="job events"]')) !== null && (await page.$('#events')) === null);
    }
    await shot(page, OUT, 'job');
    await page.goto(URL + '/#/job/' + env('RUN_A'));
    await page.waitForFunction((id) => document.getElementById('view').getAttribute('data-loaded') === 'job' &&
      /Job /.test(document.querySelector('#view h1').textContent) && document.querySelector('#view h1').textContent.indexOf('Job ' + id) === 0,
      { timeout: 20000 }, env('RUN_A'));
    await check('job: a job on the NVML node charts its GPUs\' utilization over its life', async () => {
      await page.waitForFunction(() => document.querySelector('[data-chart="job-gpu"]'), { timeout: 30000 }).catch(() => {});
      return chartDrew(page, 'job-gpu');
    });
    await check('job: its GPU use (mean and peak utilization, memory) from the server: mean 15%', async () => {
      const t = await text(page, '#gpu-use');
      return /utilization mean15%/.test(t.replace(/\s+/g, '')) || /utilization mean\s*15%/.test(t) || 'GPU use: ' + t;
    });
    await shot(page, OUT, 'job-gpu');

    // ---- teams and usage ----
    await page.goto(URL + '/#/usage');
    await waitLoaded(page, 'usage');
    await check('usage: GPU-hours by team for both teams that ran jobs', async () => {
      const rows = await page.$$eval('#usage tbody tr', (rs) => rs.map((r) => [r.cells[0].textContent, parseFloat(r.cells[1].textContent)]));
      const names = rows.map((r) => r[0]).sort();
      return (JSON.stringify(names) === '["product","research"]' && rows.every((r) => r[1] > 0)) || 'rows: ' + JSON.stringify(rows);
    });
    await check('usage: research\'s quota against use over time drew', () => chartDrew(page, 'team-research'));
    await check('usage: the CSV download holds the rows, as gantry usage -o csv prints them', async () => {
      // The browser saves the file (as a person's click does) into OUT/downloads.
      const dir = require('path').join(OUT || require('os').tmpdir(), 'downloads');
      const fs = require('fs');
      fs.mkdirSync(dir, { recursive: true });
      const cdp = await page.target().createCDPSession();
      await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: dir });
      const file = require('path').join(dir, 'gantry-usage-team.csv');
      if (fs.existsSync(file)) fs.unlinkSync(file);
      await page.click('#u-csv');
      for (let i = 0; i < 200 && !fs.existsSync(file); i++) await new Promise((r) => setTimeout(r, 50));
      if (!fs.existsSync(file)) return 'no file downloaded into ' + dir;
      const csv = fs.readFileSync(file, 'utf8');
      const lines = csv.trim().split(/\r\n/);
      const teams = lines.slice(1).map((l) => l.split(',')[0]).sort();
      return (/^team,gpu_hours,(idle_gpu_hours,)?jobs$/.test(lines[0]) && JSON.stringify(teams) === '["product","research"]' &&
        lines.slice(1).every((l) => /^\w+,\d+\.\d{6},/.test(l))) || 'csv: ' + JSON.stringify(csv);
    });
    await page.select('#u-by', 'class');
    await page.waitForFunction(() => document.querySelector('[data-na^="usage by class"]') ||
      (document.querySelector('#usage thead th') && document.querySelector('#usage thead th').textContent === 'class'), { timeout: 10000 });
    if (env('USAGE_BY_CLASS') === '1') {
      await check('usage: by class, the jobs\' class (normal) with its GPU-hours', async () => {
        const rows = await page.$$eval('#usage tbody tr', (rs) => rs.map((r) => r.cells[0].textContent));
        return JSON.stringify(rows) === '["normal"]' || 'rows: ' + JSON.stringify(rows);
      });
    } else {
      await check('usage: by class (not on this server yet) says "not available yet"', async () =>
        (await page.$('[data-na^="usage by class"]')) !== null && (await page.$('#usage')) === null);
    }
    await shot(page, OUT, 'usage');

    // ---- idle allocations ----
    await page.goto(URL + '/#/idle');
    await waitLoaded(page, 'idle');
    await check('idle: research\'s job on the NVML node is listed, with its team and idle time', async () => {
      const r = await page.$eval('#idle tr[data-job="' + env('RUN_A') + '"]', (tr) => Array.from(tr.cells).map((c) => c.textContent));
      return (r[2] === 'research' && r[3] === 'alice' && /^\d\d:\d\d:\d\d$/.test(r[7])) || 'row: ' + JSON.stringify(r);
    });
    await shot(page, OUT, 'idle');
    // 401 (the wrong token), 404 (an API not on this server), 400 (by=class before the server has it)
    const expected = env('USAGE_BY_CLASS') === '1' ? /status of 40[14]/ : /status of 40[014]/;
    await check('no console error, failed request or CSP violation on the admin\'s pages', () =>
      page.problems.filter((p) => !expected.test(p)).length === 0 || page.problems.join('\n'));
    await page.close();

    // ---- a member sees their team's jobs only ----
    const mctx = await browser.createBrowserContext();
    const m = await newPage(mctx);
    await signIn(m, env('MEMBER_B'));
    await waitLoaded(m, 'overview');
    await check('a member (bob, product) signs in and sees the overview', async () => {
      const t = await text(m, '#who');
      return /bob \(member, team product\)/.test(t) || 'header: ' + t;
    });
    await m.goto(URL + '/#/queue');
    await waitLoaded(m, 'queue');
    await check('member: the queue lists product\'s job and none of research\'s', async () => {
      const ids = await m.$$eval('#view tr[data-job]', (rs) => rs.map((r) => r.getAttribute('data-job')));
      return JSON.stringify(ids) === JSON.stringify([env('TICK_B')]) || 'jobs: ' + JSON.stringify(ids);
    });
    await shot(m, OUT, 'member-queue');
    await m.goto(URL + '/#/job/' + env('RUN_A'));
    await waitLoaded(m, 'job');
    await check('member: another team\'s job page answers as a job that does not exist', async () => {
      const t = await text(m, '#view');
      return /does not exist/.test(t) && !/sleep/.test(t) || 'page: ' + t.slice(0, 300);
    });
    await m.goto(URL + '/#/nodes');
    await waitLoaded(m, 'nodes');
    await check('member: the GPU map links only product\'s GPUs; research\'s 4 show as another team\'s job, without it', async () => {
      const held = await m.$$eval('#nodes .gpu.held a', (as) => as.map((a) => a.getAttribute('href')));
      const t = await text(m, '#nodes');
      const other = await m.$$eval('#nodes .gpu.unknown', (gs) => gs.length);
      return (held.length === 2 && held.every((h) => h === '#/job/' + env('TICK_B')) && !t.includes('alice') &&
        !t.includes('job ' + env('RUN_A')) && other === 4) ||
        'links: ' + JSON.stringify(held) + ', GPUs of another team\'s job: ' + other;
    });
    await shot(m, OUT, 'member-nodes');
    await m.goto(URL + '/#/idle');
    await waitLoaded(m, 'idle');
    await check('member: the idle allocations page does not list research\'s idle job', async () => {
      const ids = await m.$$eval('#idle tr[data-job]', (rs) => rs.map((r) => r.getAttribute('data-job')));
      return ids.length === 0 || 'jobs: ' + JSON.stringify(ids);
    });
    await check('no console error, failed request or CSP violation on the member\'s pages', () =>
      m.problems.filter((p) => !/status of 40[14]/.test(p)).length === 0 || m.problems.join('\n'));
    await mctx.close();
  } finally {
    await browser.close();
  }
}

main().then(done, (e) => { console.log('FAIL the browser test ran to its end'); console.log('# ' + (e.stack || e)); done(); process.exitCode = 1; });
