// The page of `charlm serve` in Debian's headless chromium (driven by playwright-core): generates
// with a fixed seed and compares the bytes with `charlm generate`'s, the same for 五绝 acrostics, presses Stop mid-stream and
// checks that the server stopped, reads the training chart's data points against the --metrics
// file, and saves screenshots of both tabs. Run by run.sh; any failure exits 1 with a message.
// usage: node page_test.mjs MODEL METRICS OUT_DIR
import { spawn, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';

const [model, metrics, outDir] = process.argv.slice(2);
const charlm = process.env.CHARLM_BINARY;
let failures = 0;
const check = (ok, what) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures += 1;
};

// The server on a free port (it prints the one it took).
const server = spawn(charlm, ['serve', '--port', '0', '--model', model, '--metrics', metrics, '--max-length', '1000000',
  '--temperature', '0.9'], { stdio: ['ignore', 'pipe', 'inherit'] });
const port = await new Promise((resolve, reject) => {
  let out = '';
  server.stdout.on('data', (d) => {
    out += d;
    const m = out.match(/http:\/\/127\.0\.0\.1:(\d+)\//);
    if (m) resolve(Number(m[1]));
  });
  server.on('exit', (code) => reject(new Error(`charlm serve exited with ${code} before listening: ${out}`)));
  setTimeout(() => reject(new Error('charlm serve did not print its port within 20 s')), 20000);
});
const base = `http://127.0.0.1:${port}`;

const browser = await chromium.launch({
  executablePath: process.env.CHARLM_CHROMIUM,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(base + '/');
  await page.waitForFunction(() => document.getElementById('model').options.length > 0);

  // The page starts from the server's defaults (here the command line's --temperature 0.9).
  check(await page.inputValue('#temperature') === '0.9', 'the temperature slider shows the server default 0.9');

  // 1. Generate with a fixed seed: the bytes equal the CLI's.
  await page.fill('#prefix', '春眠');
  await page.fill('#seed', '7');
  await page.fill('#length', '120');
  await page.fill('#num_samples', '2');
  await page.click('#generate');
  await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('done'), null, { timeout: 30000 });
  const texts = await page.$$eval('.sample', (boxes) => boxes.map((b) => b.dataset.text));
  const shown = await page.$$eval('.sample pre', (pres) => pres.map((p) => p.textContent));
  const cli = execFileSync(charlm, ['generate', '--model', model, '--prefix', '春眠', '--seed', '7', '--length', '120',
    '--num-samples', '2', '--temperature', '0.9']).toString('utf8');
  const cliRows = cli.replace(/\n$/, '').split('\n\n');
  check(texts.length === 2, 'two samples side by side');
  // Samples are printed with a blank line between; compare the whole output.
  check(texts.join('\n\n') === cli.replace(/\n$/, ''), `the page's samples equal charlm generate's bytes (${cliRows.length} rows)`);
  check(shown.join('\n\n') === texts.join('\n\n'), 'the streamed characters on the page add up to the final text');
  check((await page.textContent('#rate')).match(/^\d+ char\/s$/) !== null, 'the char/s figure is shown');

  // Hover over a generated character: the alternatives the model weighed.
  await page.hover('.sample .tok >> nth=3');
  const tip = await page.$eval('#tooltip', (t) => ({ hidden: t.hidden, rows: t.querySelectorAll('tr').length }));
  check(!tip.hidden && tip.rows === 5, `hovering shows 5 alternatives (${tip.rows})`);
  await page.screenshot({ path: `${outDir}/generate.png`, fullPage: true });

  // 2. A 五绝 acrostic: whole poems, the CLI's bytes, in the form.
  await page.mouse.move(0, 0);
  await page.fill('#prefix', '');
  await page.fill('#form', '五绝');
  await page.fill('#acrostic', '春眠不觉');
  await page.click('#generate');
  await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('done'), null, { timeout: 60000 });
  const poems = await page.$$eval('.sample', (boxes) => boxes.map((b) => b.dataset.text));
  const poemsShown = await page.$$eval('.sample pre', (pres) => pres.map((p) => p.textContent));
  const cliPoems = execFileSync(charlm, ['generate', '--model', model, '--form', '五绝', '--acrostic', '春眠不觉',
    '--seed', '7', '--num-samples', '2', '--temperature', '0.9'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString('utf8');
  check(poems.join('\n\n') === cliPoems.replace(/\n$/, ''), 'the page\'s 五绝 acrostics equal charlm generate --form 五绝 --acrostic\'s bytes');
  check(poemsShown.join('\n\n') === poems.join('\n\n'), 'the poems shown are the final poems');
  const poemMarks = await page.$$eval('.sample pre .tok', (spans) => spans.length);
  check(poemMarks >= 40, `a poem's characters carry their probabilities (${poemMarks} marked spans)`);
  const shape = /^春[\p{Script=Han}]{4}，眠[\p{Script=Han}]{4}。\n不[\p{Script=Han}]{4}，觉[\p{Script=Han}]{4}。$/u;
  check(poems.length === 2 && poems.every((p) => shape.test(p)), `both poems are 五绝 with the heads 春眠不觉: ${JSON.stringify(poems)}`);
  await page.screenshot({ path: `${outDir}/poem.png`, fullPage: true });

  // 2b. The 简/繁 switch on a simplified model: heads typed in traditional characters are read in the
  // model's (said in the status), and the poems come back in traditional ones, as the CLI's --script.
  await page.fill('#acrostic', '春眠不覺');
  await page.selectOption('#script', 'traditional');
  await page.click('#generate');
  await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('done'), null, { timeout: 60000 });
  const tradPoems = await page.$$eval('.sample', (boxes) => boxes.map((b) => b.dataset.text));
  const cliTrad = execFileSync(charlm, ['generate', '--model', model, '--form', '五绝', '--acrostic', '春眠不覺',
    '--seed', '7', '--num-samples', '2', '--temperature', '0.9', '--script', 'traditional'],
  { stdio: ['ignore', 'pipe', 'ignore'] }).toString('utf8');
  check(tradPoems.join('\n\n') === cliTrad.replace(/\n$/, ''), 'with 繁 the page\'s poems equal charlm generate --script traditional\'s bytes');
  check(tradPoems.every((p) => p.startsWith('春') && p.includes('覺')), `the poems are in traditional characters: ${JSON.stringify(tradPoems)}`);
  const status = await page.textContent('#status');
  check(status.includes('acrostic 春眠不覺 read as 春眠不觉'), `the status says how the heads were read: ${status}`);
  await page.screenshot({ path: `${outDir}/script.png`, fullPage: true });
  await page.selectOption('#script', 'model');

  // 2c. Best of 4 (issue 27): the CLI's --best-of poems, best first, each with its candidate and score.
  await page.fill('#acrostic', '');
  await page.fill('#keywords', '春,月');
  await page.fill('#best_of', '4');
  await page.click('#generate');
  await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('done'), null, { timeout: 60000 });
  const bestPoems = await page.$$eval('.sample', (boxes) => boxes.map((b) => b.dataset.text));
  const bestHeads = await page.$$eval('.sample .reason', (spans) => spans.map((s) => s.textContent));
  const cliBest = execFileSync(charlm, ['generate', '--model', model, '--form', '五绝', '--keywords', '春,月', '--best-of', '4',
    '--seed', '7', '--num-samples', '2', '--temperature', '0.9'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString('utf8');
  check(bestPoems.join('\n\n') === cliBest.replace(/\n$/, ''), 'the page\'s best-of poems equal charlm generate --best-of\'s bytes');
  const scores = bestHeads.map((h) => Number((h.match(/score ([0-9.]+) =/) || [])[1]));
  check(scores.length === 2 && scores.every((x) => x > 0) && scores[0] <= scores[1],
    `each poem shows its candidate and score, the chosen one first: ${JSON.stringify(bestHeads)}`);
  await page.screenshot({ path: `${outDir}/best-of.png`, fullPage: true });
  await page.fill('#keywords', '');
  await page.fill('#best_of', '0');
  await page.fill('#form', '');

  // 2c. Lyrics (issue 29): a scheme and a line length make whole songs, the CLI's bytes.
  await page.fill('#rhyme_scheme', 'AABB');
  await page.fill('#line_length', '5-7');
  await page.click('#generate');
  await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('done'), null, { timeout: 60000 });
  const songs = await page.$$eval('.sample', (boxes) => boxes.map((b) => b.dataset.text));
  const cliSongs = execFileSync(charlm, ['generate', '--model', model, '--rhyme-scheme', 'AABB', '--line-length', '5-7',
    '--seed', '7', '--num-samples', '2', '--temperature', '0.9'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString('utf8');
  check(songs.join('\n') === cliSongs, 'the page\'s AABB lyrics equal charlm generate --rhyme-scheme AABB\'s bytes');
  check(songs.length === 2 && songs.every((t) => t.split('\n').filter((l) => l).length === 4), `two songs of 4 lines: ${JSON.stringify(songs)}`);
  const lyricReason = await page.textContent('.sample .reason');
  check(lyricReason.includes('lyric'), `the stop reason is lyric: ${lyricReason}`);
  await page.fill('#rhyme_scheme', '');
  await page.fill('#line_length', '');

  // 3. Stop mid-stream: the page stops, and so does the server.
  await page.fill('#length', '1000000');
  await page.fill('#num_samples', '1');
  await page.click('#generate');
  await page.waitForFunction(() => document.querySelectorAll('.sample .tok').length >= 50, null, { timeout: 30000 });
  await page.click('#stop-button');
  await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('stopped'), null, { timeout: 10000 });
  let health = null;
  for (let i = 0; i < 100; ++i) {
    health = await (await fetch(base + '/health')).json();
    if (health.streams === 0) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  check(health.streams === 0 && health.streams_cancelled === 1,
    `Stop ended the generation on the server (streams ${health.streams}, cancelled ${health.streams_cancelled}, ` +
    `${health.tokens_generated} tokens in all)`);
  check(health.tokens_generated < 1000000 + 240, 'the stopped stream did not run to its length');

  // 4. The training tab charts the metrics file: its data points are the file's.
  await page.click('#tab-training');
  const lines = readFileSync(metrics, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const want = lines.filter((p) => p.train_ppl !== null).map((p) => [p.step, p.train_ppl]);
  const wantValid = lines.filter((p) => p.valid_ppl !== null).map((p) => [p.elapsed_s, p.valid_ppl]);
  await page.waitForFunction((n) => window.charlm.charts.step.data.datasets[0].data.length === n, want.length,
    { timeout: 10000 });
  const got = await page.evaluate(() => window.charlm.charts.step.data.datasets[0].data.map((p) => [p.x, p.y]));
  const gotValid = await page.evaluate(() => window.charlm.charts.time.data.datasets[1].data.map((p) => [p.x, p.y]));
  check(JSON.stringify(got) === JSON.stringify(want), `train perplexity against step: ${got.length} points as in the file`);
  check(wantValid.length > 0 && JSON.stringify(gotValid) === JSON.stringify(wantValid),
    `valid perplexity against time: ${gotValid.length} points as in the file`);
  const last = lines[lines.length - 1];
  const bestValid = Math.min(...lines.filter((p) => p.valid_ppl !== null).map((p) => p.valid_ppl));
  const words = `tiny: step ${last.step} · best validation perplexity ${bestValid.toFixed(3)} · ended (${last.stop})`;
  await page.waitForFunction(() => document.querySelectorAll('#run-summary li').length > 0, null, { timeout: 10000 });
  const summary = await page.textContent('#run-summary li');
  check(summary === words, `the training tab says in words: ${summary} (want: ${words})`);
  await page.waitForTimeout(300);
  await page.screenshot({ path: `${outDir}/training.png`, fullPage: true });
  check(errors.length === 0, `no JavaScript errors on the page ${errors.join('; ')}`);

  // 5. A server with --api-key: the page says the key is needed, takes it in its field, keeps it
  // in localStorage and sends it; a wrong key is named as wrong.
  const keyed = spawn(charlm, ['serve', '--port', '0', '--model', model, '--api-key', 'k3y=ok'],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const keyedPort = await new Promise((resolve, reject) => {
      let out = '';
      keyed.stdout.on('data', (d) => {
        out += d;
        const m = out.match(/http:\/\/127\.0\.0\.1:(\d+)\//);
        if (m) resolve(Number(m[1]));
      });
      setTimeout(() => reject(new Error('charlm serve --api-key did not print its port within 20 s')), 20000);
    });
    const kp = await browser.newPage({ viewport: { width: 1200, height: 800 } });
    kp.on('pageerror', (e) => errors.push(e.message));
    await kp.goto(`http://127.0.0.1:${keyedPort}/`);
    await kp.waitForFunction(() => !document.getElementById('error').hidden, null, { timeout: 10000 });
    const missing = await kp.textContent('#error');
    check(/needs an API key/.test(missing) && /API key field/.test(missing), `without a key the page says so: ${missing}`);
    check(await kp.evaluate(() => document.activeElement.id) === 'api-key', 'the key field has the focus');
    await kp.fill('#api-key', 'wrong');
    await kp.dispatchEvent('#api-key', 'change');
    await kp.waitForFunction(() => /wrong/.test(document.getElementById('error').textContent), null, { timeout: 10000 });
    check(true, 'a wrong key is named as wrong');
    await kp.fill('#api-key', 'k3y=ok');
    await kp.dispatchEvent('#api-key', 'change');
    await kp.waitForFunction(() => document.getElementById('model').options.length > 0, null, { timeout: 10000 });
    check(await kp.isHidden('#error'), 'with the key the settings load and the error is gone');
    await kp.fill('#length', '20');
    await kp.click('#generate');
    await kp.waitForFunction(() => document.getElementById('status').textContent.startsWith('done'), null, { timeout: 30000 });
    check(true, 'the page generates with the key');
    // An error clears the run before it: no boxes, no rate.
    await kp.fill('#prefix', '\u{1F600}');  // not in the model's vocabulary: 400
    await kp.click('#generate');
    await kp.waitForFunction(() => !document.getElementById('error').hidden, null, { timeout: 10000 });
    const after = await kp.evaluate(() => ({
      boxes: document.querySelectorAll('.sample').length, rate: document.getElementById('rate').textContent,
      error: document.getElementById('error').textContent }));
    check(after.boxes === 0 && after.rate === '–' && /never saw/.test(after.error),
      `an error leaves no boxes and no rate of the run before (${JSON.stringify(after)})`);
    check(/set Unknown characters to skip/.test(after.error) && !/"unknown"/.test(after.error),
      `the advice names the page's control, not the API field (${after.error})`);
    await kp.screenshot({ path: `${outDir}/error.png`, fullPage: true });
    await kp.fill('#prefix', '');
    await kp.reload();
    await kp.waitForFunction(() => document.getElementById('model').options.length > 0, null, { timeout: 10000 });
    check(await kp.inputValue('#api-key') === 'k3y=ok', 'the key is kept in the browser (localStorage) across a reload');
    await kp.screenshot({ path: `${outDir}/key.png`, fullPage: true });
    check(errors.length === 0, `no JavaScript errors on the keyed page ${errors.join('; ')}`);
  } finally {
    keyed.kill('SIGTERM');
  }
} finally {
  await browser.close();
  server.kill('SIGTERM');
}
const code = await new Promise((r) => (server.exitCode !== null ? r(server.exitCode) : server.on('exit', r)));
check(code === 0, `charlm serve exited with 0 on SIGTERM (${code})`);
console.log(`screenshots: ${outDir}/generate.png ${outDir}/poem.png ${outDir}/script.png ${outDir}/best-of.png ${outDir}/training.png ${outDir}/key.png ${outDir}/error.png`);
process.exit(failures === 0 ? 0 : 1);
