// lib.js: what the dashboard's browser tests share: a headless Chromium (Debian's, through
// puppeteer-core from build/web-deps), checks printed as PASS/FAIL lines that
// tests/e2e/94-dashboard.t turns into TAP, screenshots, and console/CSP error collection.
'use strict';
const path = require('path');
const fs = require('fs');
const puppeteer = require('puppeteer-core');

const CHROMIUM = process.env.CHROMIUM || ['/usr/bin/chromium', '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome'].find((p) => fs.existsSync(p));

let failures = 0;
function pass(desc) { console.log('PASS ' + desc); }
function fail(desc, detail) {
  failures++;
  console.log('FAIL ' + desc);
  if (detail) String(detail).split('\n').forEach((l) => console.log('# ' + l));
}
// check(desc, fn): fn returns (or resolves to) true, or a string saying what was wrong.
async function check(desc, fn) {
  try {
    const r = await fn();
    if (r === true) pass(desc); else fail(desc, r === false ? 'false' : r);
    return r === true;
  } catch (e) {
    fail(desc, e && e.stack ? e.stack : e);
    return false;
  }
}

async function launch() {
  if (!CHROMIUM) throw new Error('no Chromium found (scripts/deps installs Debian\'s chromium)');
  return puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run',
      '--disable-extensions', '--window-size=1400,1000'],
    defaultViewport: { width: 1400, height: 1000 },
  });
}

// A page that records console errors, failed requests and CSP violations, and the bytes it
// transferred (CDP's encodedDataLength: what crossed the wire, headers included).
async function newPage(browser) {
  const page = await browser.newPage();
  page.problems = [];
  page.bytes = 0;
  page.requests = [];
  page.on('console', (m) => { if (m.type() === 'error') page.problems.push('console: ' + m.text()); });
  page.on('pageerror', (e) => page.problems.push('page error: ' + e.message));
  page.on('requestfailed', (r) => {
    const why = r.failure() ? r.failure().errorText : '';
    if (!/ERR_ABORTED/.test(why)) page.problems.push('request failed: ' + r.url() + ' ' + why);
  });
  const cdp = await page.target().createCDPSession();
  await cdp.send('Network.enable');
  cdp.on('Network.loadingFinished', (e) => { page.bytes += e.encodedDataLength; });
  cdp.on('Network.requestWillBeSent', (e) => page.requests.push(e.request.url));
  return page;
}

async function shot(page, dir, name) {
  if (!dir) return;
  fs.mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: path.join(dir, name + '.png'), fullPage: true });
}

// Whether a chart drew: its uPlot canvas holds pixels of more than one colour.
async function chartDrew(page, name) {
  return page.evaluate((name) => {
    const box = document.querySelector('[data-chart="' + name + '"]');
    if (!box) return 'no chart ' + name + ' on the page';
    if (!box.getAttribute('data-drawn')) return 'chart ' + name + ' did not draw (data-points=' + box.getAttribute('data-points') + ')';
    const c = box.querySelector('canvas');
    if (!c) return 'chart ' + name + ' has no canvas';
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const colours = new Set();
    for (let i = 0; i < d.length; i += 4 * 7) {
      if (d[i + 3]) colours.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
      if (colours.size > 2) return true;
    }
    return 'chart ' + name + '\'s canvas holds ' + colours.size + ' colour(s): nothing drawn';
  }, name);
}

async function waitLoaded(page, name, timeout) {
  await page.waitForFunction((n) => document.getElementById('view').getAttribute('data-loaded') === n,
    { timeout: timeout || 20000 }, name);
}

async function text(page, sel) {
  return page.$eval(sel, (e) => e.textContent);
}

function done() {
  console.log(failures ? 'FAILED ' + failures : 'DONE');
  process.exitCode = failures ? 1 : 0;
}

module.exports = { check, pass, fail, launch, newPage, shot, chartDrew, waitLoaded, text, done };
