// Without WebGPU (Chromium without --enable-unsafe-webgpu): the CPU (WebAssembly) fallback
// is announced and generation and training still work.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { startServer, launch, openPage, ready, shot, cliGenerate, generate, errorText, MODEL, ROOT } from './helpers.mjs';

let srv, browser, page, problems;

before(async () => {
  srv = await startServer();
  browser = await launch({ webgpu: false });
  ({ page, problems } = await openPage(browser, srv.url, { width: 390, height: 844 }));
  await ready(page);
});
after(async () => {
  await browser?.close();
  srv?.stop();
});

test('the badge shows the CPU fallback and why', async () => {
  // once the probe has found no adapter (the page starts on the CPU either way)
  await page.waitForFunction(() => document.querySelector('#devchoice').dataset.state === 'done', null, { timeout: 60_000 });
  assert.match(await page.textContent('#devchoice'), /no WebGPU adapter/i);
  assert.equal(await page.textContent('[data-testid=backend-badge]'), 'CPU (WebAssembly) fallback');
  assert.equal(await page.getAttribute('[data-testid=backend-badge]', 'data-backend'), 'cpu');
  assert.match(await page.textContent('#devinfo'), /Why/);
  await shot(page, 'fallback-390');
  await shot(page, 'fallback-390-full', { fullPage: true });
});

test('generation on the CPU equals the CLI', async () => {
  const s = { maxTokens: 40, temperature: 0.8, topK: 0, topP: 1, seed: 7 };
  assert.equal(await generate(page, 'KING:', s), cliGenerate(MODEL, 'KING:', s));
});

test('Stop ends a long generation early', async () => {
  await page.fill('[data-testid=prompt]', 'ROMEO:');
  await page.fill('#maxtokens', '5000');
  await page.click('[data-testid=generate]');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=output] .tok').length >= 5);
  await page.click('#stop');
  await page.waitForFunction(() => document.body.dataset.generating === '0', null, { timeout: 10_000 });
  const n = await page.$$eval('[data-testid=output] .tok', (s) => s.length);
  assert.ok(n < 5000, `${n} tokens`);
});

test('a GPT-2 folder opens and generates on the CPU too', async () => {
  const hf = path.join(ROOT, 'tests/fixtures/hf_tiny');
  await page.setInputFiles('[data-testid=hf-upload]', readdirSync(hf).map((f) => path.join(hf, f)));
  await page.waitForFunction(() => document.body.dataset.loading === '0', null, { timeout: 60_000 });
  assert.equal(await errorText(page), '');
  assert.match(await page.textContent('[data-testid=model-info]'), /GPT-2 \(Hugging Face\): 2 layers × 4 heads/);
  assert.match(await page.textContent('#status'), /runs on the CPU \(WebAssembly\)/);
  assert.equal(await page.isVisible('[data-testid=prompt-templates]'), true);
  const s = { maxTokens: 20, temperature: 0.8, topK: 0, topP: 1, seed: 7 };
  assert.equal(await generate(page, 'Hello wörld 🦀', s), cliGenerate(hf, 'Hello wörld 🦀', s));
  await shot(page, 'fallback-hf-390', { fullPage: true });
});

test('training works on the CPU', async () => {
  await page.check('input[name=corpus][value=toy]');
  await page.selectOption('#toytask', 'sort');
  await page.selectOption('#sizepreset', 'tiny');
  await page.fill('#steps', '15');
  await page.selectOption('#pos', 'sinusoidal');
  await page.click('[data-testid=train-start]');
  await page.waitForFunction(() => document.querySelector('[data-testid=train-step]').textContent === '15' && document.body.dataset.training === '0', null, { timeout: 120_000 });
  const first = Number(await page.getAttribute('[data-testid=train-loss]', 'data-first'));
  const last = Number(await page.textContent('[data-testid=train-loss]'));
  assert.ok(last < first, `loss went from ${first} to ${last}`);
  assert.equal(await errorText(page), '');
  assert.match(await page.textContent('#pe-formula'), /PE\[pos, 2i\] = sin\(pos \/ 10000\^\(2i\/C\)\)/);
  assert.match(await page.textContent('#modelinfo'), /sinusoidal positions/);
  await shot(page, 'fallback-train-390', { fullPage: true });
  assert.deepEqual(problems, []);
});
