// leaderboard.spec.mjs: SegArena's leaderboard in real headless Chromium (Debian's
// /usr/bin/chromium, driven by playwright-core). A plain Node script, no test runner:
// run by run_browser_test.py against a server it prepared, configured by the
// environment (SEGARENA_URL, SEGARENA_CHALLENGE, SEGARENA_PHASE, SEGARENA_USER,
// SEGARENA_PASSWORD, SEGARENA_TEAM, SEGARENA_IMAGE, SEGARENA_ARTEFACTS,
// SEGARENA_CHROMIUM, SEGARENA_RANKED_TEAMS).
//
// 1. the phase's leaderboard: the ranked teams' rows carry ranks 1, 2, ...; each SVG
//    plot is visible with a non-zero size; no Content-Security-Policy violation;
//    screenshot leaderboard.png;
// 2. the login form, as the challenger;
// 3. the phase page's upload form: the example image for the challenger's team,
//    landing on the submission page, then its run page, reloaded until the run is
//    done (120 s at most); screenshot run.png;
// 4. the leaderboard again: the challenger's team has a row with a rank;
//    screenshot leaderboard-after.png.
// Prints "ok: ..." / "FAILED: ..." lines (ASCII) and "spec: N passed, M failed".
import { chromium } from 'playwright-core';
import path from 'node:path';

const env = (name, fallback) => process.env[name] ?? fallback;
const base = env('SEGARENA_URL');
const challenge = env('SEGARENA_CHALLENGE');
const phase = env('SEGARENA_PHASE');
const user = env('SEGARENA_USER');
const password = env('SEGARENA_PASSWORD');
const team = env('SEGARENA_TEAM');
const image = env('SEGARENA_IMAGE');
const artefacts = env('SEGARENA_ARTEFACTS', '.');
const rankedTeams = env('SEGARENA_RANKED_TEAMS', '').split(',').filter(Boolean);
const phasePath = `/challenges/${challenge}/phases/${phase}`;
const RUN_WAIT_MS = 120_000;

let passed = 0;
let failed = 0;
const ascii = (s) => String(s).replace(/[^\x20-\x7e\n\t]/g, '?');
const say = (s) => console.log(ascii(s));
function check(cond, what) {
  if (cond) passed++;
  else failed++;
  say(`${cond ? 'ok' : 'FAILED'}: ${what}`);
  return cond;
}

// The rows of the leaderboard table (not the human reference rows): {rank, team}.
async function boardRows(page) {
  return page.$$eval('table.board tbody tr', (trs) =>
    trs
      .filter((tr) => !tr.classList.contains('human') && !tr.classList.contains('human-heading'))
      .filter((tr) => tr.cells.length > 2)
      .map((tr) => ({
        rank: tr.cells[0].textContent.trim(),
        team: (tr.querySelector('td.team') || tr.cells[1]).textContent.trim(),
      })),
  );
}

// Every SVG plot of the page: visible, with a non-zero bounding box and something drawn.
async function checkPlots(page, when) {
  const plots = page.locator('figure svg');
  const n = await plots.count();
  check(n >= 2, `${when}: the page has its SVG plots (${n})`);
  for (let i = 0; i < n; i++) {
    const svg = plots.nth(i);
    await svg.scrollIntoViewIfNeeded();
    const box = await svg.boundingBox();
    const marks = await svg.locator('circle, rect, line, path, polyline').count();
    check(
      (await svg.isVisible()) && box !== null && box.width > 0 && box.height > 0 && marks > 0,
      `${when}: plot ${i + 1} rendered (${box ? `${Math.round(box.width)}x${Math.round(box.height)} px` : 'no box'}, ${marks} marks)`,
    );
  }
}

async function shot(page, name) {
  const file = path.join(artefacts, name);
  await page.screenshot({ path: file, fullPage: true });
  say(`screenshot: ${file}`);
  return file;
}

// The form of the page holding `selector`, and its submit control.
async function submitOf(form) {
  const button = form.locator('button[type="submit"], input[type="submit"], button:not([type])').first();
  return button;
}

const browser = await chromium.launch({
  executablePath: env('SEGARENA_CHROMIUM', '/usr/bin/chromium'),
  args: ['--no-sandbox'],
  headless: true,
});
const cspViolations = [];
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  page.on('console', (msg) => {
    if (/Content Security Policy/i.test(msg.text())) cspViolations.push(msg.text());
  });
  page.on('pageerror', (err) => cspViolations.push(`page error: ${err.message}`));

  // ---- 1. the public leaderboard ----
  let resp = await page.goto(base + phasePath);
  check(resp && resp.status() === 200, `GET ${phasePath} -> ${resp && resp.status()}`);
  check(await page.locator('table.board').isVisible(), 'the leaderboard table is visible');
  const rows = await boardRows(page);
  say(`  rows: ${rows.map((r) => `${r.rank} ${r.team}`).join('; ')}`);
  rankedTeams.forEach((t, i) => {
    const row = rows.find((r) => r.team === t);
    check(row && row.rank === String(i + 1), `team ${t} is ranked ${i + 1} (${row ? row.rank : 'no row'})`);
  });
  check(rows.length === rankedTeams.length, `${rankedTeams.length} ranked rows (${rows.length})`);
  check((await page.locator('table.board tr.human').count()) > 0, 'the human reference rows are shown');
  await checkPlots(page, 'leaderboard');
  await shot(page, 'leaderboard.png');

  // ---- 2. logging in through the login form ----
  resp = await page.goto(base + '/login');
  check(resp && resp.status() === 200, `GET /login -> ${resp && resp.status()}`);
  const loginForm = page.locator('form:has(input[type="password"])').first();
  if (check((await loginForm.count()) > 0, 'the login page has a login form')) {
    const nameInput = loginForm
      .locator('input[name="name"], input[name="user"], input[name="username"], input[type="text"]')
      .first();
    await nameInput.fill(user);
    await loginForm.locator('input[type="password"]').fill(password);
    await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), (await submitOf(loginForm)).click()]);
  } else {
    // No form: log in through the API (same cookie jar) so that the rest still runs.
    const r = await page.request.post(base + '/api/v1/login', { data: { name: user, password } });
    say(`  (logged in through POST /api/v1/login instead: ${r.status()})`);
    await page.goto(base + '/');
  }
  const cookies = await context.cookies(base);
  const session = cookies.find((c) => c.name === 'segarena_session');
  check(session && session.httpOnly && session.sameSite === 'Strict',
    `logged in as ${user}: an HttpOnly SameSite=Strict session cookie`);
  check(
    !(await page.locator('form:has(input[type="password"])').count()) || page.url() !== base + '/login',
    `the login form was left (${page.url().replace(base, '')})`,
  );
  check((await page.locator('body').innerText()).includes(user), `the page names ${user}`);

  // ---- 3. uploading the example image through the phase page ----
  resp = await page.goto(base + phasePath);
  const uploadForm = page.locator('form:has(input[type="file"])').first();
  check(await uploadForm.isVisible(), 'the phase page shows the upload form to a team member');
  const teamSelect = uploadForm.locator('select[name="team"]');
  if (await teamSelect.count()) await teamSelect.selectOption(team);
  await uploadForm.locator('input[type="file"]').setInputFiles(image);
  const started = Date.now();
  await Promise.all([
    page.waitForURL(/\/submissions\/\d+/, { timeout: 120_000 }),
    (await submitOf(uploadForm)).click(),
  ]);
  const submissionUrl = page.url();
  check(/\/submissions\/\d+$/.test(new URL(submissionUrl).pathname),
    `the upload lands on the submission page ${new URL(submissionUrl).pathname} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  const submissionText = await page.locator('body').innerText();
  const intake = page.locator('dd.intake');
  const intakeText = (await intake.count()) ? (await intake.first().innerText()).trim() : '';
  check(intakeText === 'ready', `the submission page says the image passed intake (${intakeText || 'no intake field'})`);
  check(submissionText.includes(team), `the submission page names team ${team}`);
  await shot(page, 'submission.png');

  // Done: the run's status field says so.
  const runStatus = async () => {
    const field = page.locator('dd.run-status');
    return (await field.count()) ? (await field.first().innerText()).trim() : '';
  };
  const isDone = async () => (await runStatus()) === 'done';
  const runLink = page.locator('a[href*="/runs/"]').first();
  check((await runLink.count()) > 0, 'the submission page links to its run');
  const runHref = await runLink.getAttribute('href');
  resp = await page.goto(new URL(runHref, base).href);
  check(resp && resp.status() === 200, `GET ${runHref} -> ${resp && resp.status()}`);
  const firstStatus = await runStatus();
  check((await page.locator('meta[http-equiv="refresh" i]').count()) > 0 || firstStatus === 'done',
    `the run page refreshes itself while the run is not over (status ${firstStatus || '?'})`);
  const deadline = Date.now() + RUN_WAIT_MS;
  let done = await isDone();
  while (!done && Date.now() < deadline) {
    await page.waitForTimeout(2000);
    try {
      await page.reload({ waitUntil: 'load' });
    } catch (e) {
      // a meta refresh may have navigated at the same time; look again
    }
    done = await isDone();
  }
  const runText = await page.locator('body').innerText();
  check(done, `the run page's status says done within ${RUN_WAIT_MS / 1000} s (${((Date.now() - started) / 1000).toFixed(1)} s after the upload)`);
  if (!done) say(`  run page text: ${runText.slice(0, 600)}`);
  check(/dice/i.test(runText), 'the run page shows the aggregate scores (a published phase)');
  const boardLink = page.locator(`a[href="${phasePath}"]`);
  check((await boardLink.count()) > 0, 'the finished run links to the leaderboard');
  await shot(page, 'run.png');

  // ---- 4. the new row ----
  resp = await page.goto(base + phasePath);
  check(resp && resp.status() === 200, `GET ${phasePath} again -> ${resp && resp.status()}`);
  const after = await boardRows(page);
  say(`  rows: ${after.map((r) => `${r.rank} ${r.team}`).join('; ')}`);
  const mine = after.find((r) => r.team === team);
  check(mine && /^\d+$/.test(mine.rank), `team ${team} has a row with a rank (${mine ? mine.rank : 'no row'})`);
  check(after.length === rankedTeams.length + 1, `${rankedTeams.length + 1} ranked rows now (${after.length})`);
  await checkPlots(page, 'leaderboard after the upload');
  await shot(page, 'leaderboard-after.png');
  check(cspViolations.length === 0, `no Content-Security-Policy violation or page error (${cspViolations.length})`);
  cspViolations.slice(0, 5).forEach((v) => say(`  ${v}`));
} catch (e) {
  check(false, `the spec stopped: ${e && e.message ? e.message.split('\n')[0] : e}`);
  try {
    const pages = browser.contexts().flatMap((c) => c.pages());
    if (pages.length) {
      const p = pages[pages.length - 1];
      say(`  at ${p.url()}`);
      await shot(p, 'failure.png');
    }
  } catch (e2) {
    // nothing more to keep
  }
} finally {
  await browser.close();
}
say(`spec: ${passed} passed, ${failed} failed`);
process.exit(failed || !passed ? 1 : 0);
