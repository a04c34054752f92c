// The browser test of tortrace serve: Debian's chromium (/usr/bin/chromium) driven by
// puppeteer-core (tests/serve/package.json; `npm ci` with PUPPETEER_SKIP_DOWNLOAD=1, so
// nothing is downloaded at run time). It starts a real server on 127.0.0.1, drops a
// capture with Tor onto the page (a DataTransfer drop event on the drop zone), waits for
// the verdict, checks the hosts and flows the page shows against the job's report.json,
// opens the history and the dashboard, fails on any console error, and saves screenshots.
//
// usage: [TT_SCREENSHOTS=DIR] node browser_test.mjs TORTRACE SAMPLE_DIR CORPUS_DIR SCREENSHOT_DIR
// exit: 0 passed, 1 failed, 77 skipped (no chromium or no node modules: says why)
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';

const [tortrace, sampleDir, corpusDir, shotArg] = process.argv.slice(2);
// TT_SCREENSHOTS=DIR saves the screenshots there instead (docs/ to refresh the README's).
const shotDir = process.env.TT_SCREENSHOTS || shotArg;
fs.mkdirSync(shotDir, { recursive: true });
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
let passed = 0, failed = 0;

function skip(why) {
  console.log(`SKIP: ${why}`);
  console.log('0 passed, 0 failed, 1 skipped');
  process.exit(77);
}

function check(cond, what) {
  if (cond) { passed++; console.log(`ok - ${what}`); } else { failed++; console.log(`not ok - ${what}`); }
}

if (!fs.existsSync(CHROMIUM)) skip(`${CHROMIUM} is missing (apt-get install chromium)`);
let puppeteer;
try {
  puppeteer = (await import('puppeteer-core')).default;
} catch (e) {
  skip('puppeteer-core is not installed: run `PUPPETEER_SKIP_DOWNLOAD=1 npm ci` in tests/serve');
}

// A capture with Tor: from the corpus when it is there, else the bundled sample.
let capture = path.join(corpusDir, 'tornet', 'default-s1', 'client.pcap');
let relays = path.join(corpusDir, 'tornet', 'default-s1', 'consensus');
if (!fs.existsSync(capture)) {
  console.log(`note: ${capture} is missing (../shared/corpus): using the bundled sample`);
  capture = path.join(sampleDir, 'tornet-client.pcap');
  relays = path.join(sampleDir, 'consensus');
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tt-serve-browser-'));
const logPath = path.join(tmp, 'server.log');
const log = fs.openSync(logPath, 'w');
const server = spawn(tortrace, ['serve', '--listen', '127.0.0.1:0', '--data', path.join(tmp, 'data'),
  '--relays', relays], { stdio: ['ignore', log, log] });
let browser;

function getJSON(port, p) {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: p }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => { try { resolve(JSON.parse(body)); } catch (e) { reject(e); } });
    }).on('error', reject);
  });
}

async function main() {
  let port = null;
  for (let i = 0; i < 200 && !port; i++) {
    const m = /listening on http:\/\/127\.0\.0\.1:(\d+)\//.exec(fs.readFileSync(logPath, 'utf8'));
    if (m) port = Number(m[1]);
    else await new Promise((r) => setTimeout(r, 50));
  }
  if (!port) throw new Error('the server did not start: ' + fs.readFileSync(logPath, 'utf8'));
  const base = `http://127.0.0.1:${port}`;
  browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
  });
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  // An event stream the page closes once its job is done ends as an aborted request.
  page.on('requestfailed', (r) => {
    if (!(r.url().endsWith('/events') && r.failure() && r.failure().errorText === 'net::ERR_ABORTED')) {
      errors.push('request failed: ' + r.url() + ' ' + (r.failure() || {}).errorText);
    }
  });
  await page.goto(base + '/', { waitUntil: 'networkidle0' });
  check(await page.$('#drop') !== null, 'the page shows the drop zone');

  // The drop: a File from a scratch input (the browser reads the path; no bytes cross
  // the protocol), put in a DataTransfer and dropped on #drop as a user's drop would be.
  await page.evaluate(() => {
    const i = document.createElement('input');
    i.type = 'file';
    i.id = 'test-source';
    i.hidden = true;
    document.body.append(i);
  });
  await (await page.$('#test-source')).uploadFile(capture);
  await page.evaluate(() => {
    const src = document.querySelector('#test-source');
    const dt = new DataTransfer();
    dt.items.add(src.files[0]);
    src.remove();
    const drop = document.querySelector('#drop');
    for (const type of ['dragenter', 'dragover', 'drop']) {
      drop.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: dt }));
    }
  });
  await page.waitForSelector('#jobs tbody tr[data-state="running"], #jobs tbody tr[data-state="done"]',
    { timeout: 120000 });
  await page.screenshot({ path: path.join(shotDir, 'serve-upload.png') });
  await page.waitForSelector('#jobs tbody tr[data-state="done"]', { timeout: 180000 });
  const jobId = Number(await page.$eval('#jobs tbody tr[data-state="done"]', (tr) => tr.dataset.id));
  check(jobId >= 1, `the job list shows job ${jobId} done`);
  const rep = await getJSON(port, `/api/jobs/${jobId}/report.json`);
  check(rep.tor_flows_total > 0, `report.json has Tor (${rep.tor_flows_total} flows)`);

  // The verdict, hosts and flows shown, against report.json.
  await page.click(`#jobs tbody tr[data-id="${jobId}"]`);
  await page.waitForSelector('#verdict[data-tor-flows]', { timeout: 30000 });
  const verdict = await page.$eval('#verdict', (e) => ({ text: e.textContent, n: Number(e.dataset.torFlows) }));
  check(verdict.n === rep.tor_flows_total && verdict.text.startsWith('Tor found'),
    `the verdict says "${verdict.text}"`);
  const hosts = await page.$$eval('#hosts-table tbody tr', (rows) => rows.map((r) => r.dataset.host));
  check(JSON.stringify(hosts) === JSON.stringify(rep.hosts.map((h) => h.address)),
    `the hosts shown are report.json's (${hosts.join(', ')})`);
  await page.waitForFunction(() => document.querySelector('#page-info').dataset.total !== undefined);
  const total = Number(await page.$eval('#page-info', (e) => e.dataset.total));
  check(total === rep.tor_flows_total, `the flow list counts ${total} Tor flows`);
  const shown = await page.$$eval('#flows-table tbody tr', (rows) => rows.map((r) => r.dataset.flow));
  const want = new Set(rep.tor_flows.map((f) => `${f.src_ip}:${f.src_port}-${f.dst_ip}:${f.dst_port}`));
  check(shown.length === Math.min(25, rep.tor_flows_total) && shown.every((k) => want.has(k)),
    `the ${shown.length} flows on the first page are Tor flows of report.json`);
  // filter by the first host, server-side
  const h0 = rep.hosts[0];
  await page.click(`#hosts-table tbody tr[data-host="${h0.address}"] a`);
  await page.waitForFunction((a) => document.querySelector('#f-host').value === a &&
    [...document.querySelectorAll('#flows-table tbody tr')].every((r) => r.dataset.flow.includes(a)),
  { timeout: 10000 }, h0.address);
  const hostTotal = Number(await page.$eval('#page-info', (e) => e.dataset.total));
  check(hostTotal === h0.tor_flows, `filtering by ${h0.address} shows its ${h0.tor_flows} Tor flows`);
  check(await page.$('#graph svg line') !== null, 'the host-relay map is drawn');
  await page.waitForFunction(() => {
    const f = document.querySelector('#report-frame');
    return f && f.src.endsWith('/report.html');
  });
  await new Promise((r) => setTimeout(r, 500));
  await page.screenshot({ path: path.join(shotDir, 'serve-results.png'), fullPage: false });
  await page.evaluate(() => document.querySelector('#results').scrollIntoView());
  await page.screenshot({ path: path.join(shotDir, 'serve-results.png') });

  // A second capture through the file picker, so history and dashboard have two.
  await (await page.$('#file')).uploadFile(path.join(sampleDir, 'tornet-client.pcap'));
  await page.waitForFunction(() =>
    document.querySelectorAll('#jobs tbody tr[data-state="done"]').length === 2, { timeout: 120000 });
  check(true, 'a capture chosen with the file picker is analysed too');

  // History and dashboard.
  await page.click('#tab-history');
  await page.waitForFunction(() => document.querySelectorAll('#history-table tbody tr[data-id]').length === 2,
    { timeout: 10000 });
  const hist = await page.$$eval('#history-table tbody tr[data-id]', (rows) =>
    rows.map((r) => [...r.children].map((c) => c.textContent)));
  check(hist.some((r) => r[2] === path.basename(capture) && Number(r[5]) === rep.tor_flows_total),
    `the history shows the analysis of ${path.basename(capture)} with ${rep.tor_flows_total} Tor flows`);
  await page.click('#tab-dashboard');
  await page.waitForSelector('#dash-chart svg rect', { timeout: 10000 });
  await page.waitForSelector('#dash-graph svg line', { timeout: 10000 });
  check(true, 'the dashboard draws the trend and the host-relay map');
  // relay data replaced from the page (POST /api/relays with a path on the server)
  await page.waitForFunction(() => /load 1\)/.test(document.querySelector('#relay-info').textContent));
  await page.type('#relay-path', path.resolve(relays));
  await page.click('#relay-form button');
  await page.waitForFunction(() => /load 2\)/.test(document.querySelector('#relay-info').textContent),
    { timeout: 20000 });
  check(true, 'relay data reloaded from the page');
  await page.screenshot({ path: path.join(shotDir, 'serve-dashboard.png'), fullPage: true });
  check(errors.length === 0, 'no console errors' + (errors.length ? ': ' + errors.join(' | ') : ''));
}

try {
  await main();
} catch (e) {
  failed++;
  console.log(`not ok - ${e.stack || e}`);
} finally {
  if (browser) await browser.close();
  server.kill('SIGTERM');
  await new Promise((r) => server.on('exit', r));
  fs.rmSync(tmp, { recursive: true, force: true });
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
