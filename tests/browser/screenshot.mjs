// The README's picture of the page (docs/serve-poem.png): `charlm serve` with a model and its
// metrics, a 七绝 acrostic written at a fixed seed, one character's probability shown on hover.
// Not a test: run it by hand after the main job, beside the node_modules that browser_test's run.sh
// installs into the build folder (an ES module finds its packages from where it is):
//   cp tests/browser/screenshot.mjs build/browser/ && CHARLM_BINARY=build/charlm \
//     node build/browser/screenshot.mjs models/tang-lstm.safetensors.best models/tang-lstm.jsonl docs/serve-poem.png
import { spawn } from 'node:child_process';
import { chromium } from 'playwright-core';

const [model, metrics, out] = process.argv.slice(2);
const server = spawn(process.env.CHARLM_BINARY || 'charlm', ['serve', '--port', '0', '--model', model, '--metrics', metrics],
  { stdio: ['ignore', 'pipe', 'inherit'] });
const port = await new Promise((resolve, reject) => {
  let text = '';
  server.stdout.on('data', (d) => {
    text += d;
    const m = text.match(/http:\/\/127\.0\.0\.1:(\d+)\//);
    if (m) resolve(Number(m[1]));
  });
  server.on('exit', (code) => reject(new Error(`charlm serve exited with ${code}: ${text}`)));
});
const browser = await chromium.launch({
  executablePath: process.env.CHARLM_CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 720 } });
  await page.goto(`http://127.0.0.1:${port}/`);
  await page.waitForFunction(() => document.getElementById('model').options.length > 0);
  await page.fill('#form', '七绝');
  await page.fill('#acrostic', '春江花月');
  await page.selectOption('#rhyme', 'even');
  await page.selectOption('#tones', 'loose');
  await page.fill('#seed', '1');
  await page.fill('#num_samples', '2');
  await page.fill('#temperature', '0.8');
  await page.click('#generate');
  await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('done'));
  await page.hover('.sample .tok >> nth=9');
  await page.screenshot({ path: out });
} finally {
  await browser.close();
  server.kill('SIGTERM');
}
