// Shared set-up for the page tests: a `tinygpt serve` on a free port, Debian's Chromium driven
// by playwright-core, console-error capture and screenshots under target/e2e/.
import { spawn, execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdirSync, existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = path.join(ROOT, 'target/release/tinygpt');
export const SHOTS = path.join(ROOT, 'target/e2e');
export const MODEL = path.join(ROOT, 'www/models/shakespeare.safetensors');
// The default model's shape, from its safetensors header (so the tests follow a retrained model):
// {n_layer, n_head, n_embd, block_size, ...} and `info`, the Model panel's "L layers × H heads, width C".
export const MODEL_CONFIG = (() => {
  const b = readFileSync(MODEL);
  const n = Number(b.readBigUInt64LE(0));
  const c = JSON.parse(JSON.parse(b.subarray(8, 8 + n).toString('utf8')).__metadata__.config);
  return { ...c, info: `${c.n_layer} layers × ${c.n_head} heads, width ${c.n_embd}` };
})();
mkdirSync(SHOTS, { recursive: true });

export function checkBuilt() {
  for (const f of [BIN, path.join(ROOT, 'www/pkg/tinygpt_bg.wasm'), path.join(ROOT, 'www/data/shakespeare.txt'), MODEL]) {
    if (!existsSync(f)) throw new Error(`${path.relative(ROOT, f)} is missing: run ./build.sh web first`);
  }
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// Starts `tinygpt serve --dir www` (or another built page tree) on a free port; resolves once it
// answers.
export async function startServer(dir = path.join(ROOT, 'www')) {
  checkBuilt();
  const port = await freePort();
  const proc = spawn(BIN, ['serve', '--dir', dir, '--addr', `127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stdout.on('data', (d) => { log += d; });
  proc.stderr.on('data', (d) => { log += d; });
  const url = `http://127.0.0.1:${port}/`;
  for (let i = 0; i < 100; i++) {
    if (proc.exitCode !== null) throw new Error(`tinygpt serve exited: ${log}`);
    try {
      const r = await fetch(url);
      if (r.ok) return { url, stop: () => proc.kill(), log: () => log };
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  proc.kill();
  throw new Error(`tinygpt serve did not answer at ${url}: ${log}`);
}

// Launches headless Chromium; `webgpu: false` leaves WebGPU off (requestAdapter() gives null).
export async function launch({ webgpu = true } = {}) {
  const args = ['--headless=new', '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--no-first-run'];
  if (webgpu) args.push('--enable-unsafe-webgpu');
  return chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args });
}

// A page that records console errors, page errors and any request to another origin.
export async function openPage(browser, url, { width = 1280, height = 800, context = null } = {}) {
  const ctx = context || (await browser.newContext({ viewport: { width, height }, acceptDownloads: true }));
  const page = await ctx.newPage();
  const problems = [];
  const origin = new URL(url).origin;
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(origin) && !u.startsWith('blob:') && !u.startsWith('data:')) problems.push(`foreign request: ${u}`);
  });
  await page.goto(url);
  return { page, ctx, problems };
}

// Waits until the page has a model and is ready to generate.
export async function ready(page, timeout = 120_000) {
  await page.waitForFunction(() => document.body.dataset.ready === '1', null, { timeout });
}

export async function shot(page, name, opts = {}) {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), ...opts });
}

// The CLI's continuation for the same checkpoint and settings (it prints prompt + continuation).
export function cliGenerate(model, prompt, { maxTokens, temperature, topK = 0, topP = 1, seed }) {
  return execFileSync(BIN, ['generate', '--model', model, '--prompt', prompt, '--max-tokens', String(maxTokens),
    '--temperature', String(temperature), '--top-k', String(topK), '--top-p', String(topP), '--seed', String(seed)],
    { encoding: 'utf8', env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR || '/tmp' }, stdio: ['ignore', 'pipe', 'ignore'] })
    .replace(/\n$/, ''); // the CLI ends its output with a newline
}

export const errorText = (page) => page.$eval('[data-testid=error]', (e) => (e.hidden ? '' : e.textContent));

// Fills the generation settings, generates, and returns the output panel's text.
export async function generate(page, prompt, { maxTokens = 40, temperature = 0.8, topK = 0, topP = 1, seed = 1337 } = {}) {
  await page.fill('[data-testid=prompt]', prompt);
  await page.fill('#maxtokens', String(maxTokens));
  await page.fill('#temperature', String(temperature));
  await page.fill('#topk', String(topK));
  await page.fill('#topp', String(topP));
  await page.fill('#seed', String(seed));
  await page.click('[data-testid=generate]');
  await page.waitForFunction(() => document.body.dataset.generating === '0' && document.querySelector('[data-testid=output]').dataset.done === '1', null, { timeout: 120_000 });
  return page.textContent('[data-testid=output]');
}

// Fraction of a canvas's pixels that differ from its first pixel (0 = blank).
export async function canvasInk(page, selector) {
  return page.$eval(selector, (c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    const distinct = new Set();
    for (let i = 0; i < d.length; i += 4) {
      if (d[i + 3] > 0) n++;
      if (distinct.size < 64) distinct.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
    }
    return { opaque: n / (d.length / 4), colours: distinct.size };
  });
}

export async function canvasHash(page, selector) {
  return page.$eval(selector, (c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let h = 0;
    for (let i = 0; i < d.length; i++) h = (Math.imul(h, 31) + d[i]) | 0;
    return h;
  });
}

// The speed records' recipe (bench.mjs, compare.mjs): once the backend choice is made, the
// `baby` preset on the Shakespeare corpus with batch 12 and 2,000 steps, as the native CLI's
// `train --preset baby` runs it.
export async function babyRecipe(page) {
  await page.waitForFunction(() => ['done', 'forced', 'failed'].includes(document.querySelector('#devchoice').dataset.state), null, { timeout: 300_000 });
  await page.check('input[name=corpus][value=shakespeare]');
  await page.selectOption('#sizepreset', 'baby');
  await page.fill('#batch', '12');
  await page.fill('#steps', '2000');
}

// Picks toy task `name` (its recipe comes with it) and presses Start; resolves with the
// seconds from Start until `until(page)` (a waitForFunction predicate run in the page) holds.
export async function trainTask(page, name, until, { timeout = 900_000 } = {}) {
  await page.selectOption('[data-testid=task-picker]', name);
  const t0 = Date.now();
  await page.click('[data-testid=train-start]');
  await page.waitForFunction(until, null, { timeout, polling: 100 });
  return (Date.now() - t0) / 1000;
}

// In the page: the Heads view shows a head of layer 1 or later scoring 0.5 as an induction head.
export const inductionHead = () => [...document.querySelectorAll('[data-testid=head-scores] td[data-induction]')]
  .some((td) => Number(td.dataset.head.split('.')[0]) >= 1 && Number(td.dataset.induction) >= 0.5);
// In the page: the last evaluation's held-out exact match is 0.95 or more.
export const grokked = () => Number(document.querySelector('#toyscore').dataset.valExact) >= 0.95;
