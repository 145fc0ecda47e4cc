// Longer runs, on the CPU fallback (faster than SwiftShader here): a byte-level BPE learned in
// the page trains, and its download generates in the CLI what it generates in the page;
// generating 10,000 tokens and training 10,000 steps keep memory flat.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startServer, launch, openPage, ready, shot, generate, errorText, cliGenerate, SHOTS } from './helpers.mjs';

let srv, browser, page, problems, cdp;
before(async () => {
  srv = await startServer();
  browser = await launch({ webgpu: false });
  ({ page, problems } = await openPage(browser, `${srv.url}?cpu&testhooks`));
  await ready(page);
  cdp = await page.context().newCDPSession(page);
  await cdp.send('Performance.enable');
});
after(async () => {
  await browser?.close();
  srv?.stop();
});

const idle = () => page.waitForFunction(() => document.body.dataset.training === '0', null, { timeout: 600_000 });
const atStep = (n) => page.waitForFunction((k) => Number(document.querySelector('[data-testid=train-step]').textContent) >= k, n, { timeout: 600_000, polling: 500 });

// Wasm memory (bytes; it never shrinks) and the page's JS heap after a full GC.
async function memory() {
  await cdp.send('HeapProfiler.collectGarbage');
  const { metrics } = await cdp.send('Performance.getMetrics');
  const heap = metrics.find((m) => m.name === 'JSHeapUsedSize').value;
  return { wasm: await page.evaluate(() => window.tinygptTest.memory()), heap };
}
const MB = 1024 * 1024;

test('a BPE tokenizer learned in the page: trains, and its download generates as the CLI does', async () => {
  await page.check('input[name=corpus][value=shakespeare]');
  await page.selectOption('#sizepreset', 'tiny');
  await page.selectOption('[data-testid=train-tokenizer]', 'bpe:512');
  await page.fill('#batch', '4');
  await page.fill('#steps', '20');
  await page.click('[data-testid=train-start]');
  await atStep(20);
  await idle();
  assert.equal(await errorText(page), '');
  assert.match(await page.textContent('#modelinfo'), /vocabulary 512 \(byte-level BPE\).*20 steps trained/);
  const settings = { maxTokens: 30, temperature: 0.9, topK: 0, topP: 1, seed: 4 };
  const prompt = 'ROMEO: wherefore é 🦀';
  const text = await generate(page, prompt, settings);
  const [dl] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=model-download]')]);
  const file = path.join(SHOTS, 'page-bpe.safetensors');
  await dl.saveAs(file);
  assert.equal(text, cliGenerate(file, prompt, settings));
  await shot(page, 'bpe-trained');
});

test('generating 10,000 tokens keeps memory flat', async () => {
  await page.selectOption('[data-testid=train-tokenizer]', 'char');
  await generate(page, 'ROMEO:', { maxTokens: 1000, temperature: 0.8, seed: 1 });
  const m0 = await memory();
  const out = await generate(page, 'ROMEO:', { maxTokens: 10000, temperature: 0.8, seed: 2 });
  const m1 = await memory();
  assert.ok(out.length > 10000, `${out.length} characters`);
  console.log(`10k tokens: wasm ${m0.wasm} -> ${m1.wasm} bytes; JS heap ${(m0.heap / MB).toFixed(1)} -> ${(m1.heap / MB).toFixed(1)} MB`);
  // the engine's memory does not grow with the length (the window slides over a fixed cache)
  assert.ok(m1.wasm - m0.wasm <= 1 * MB, `wasm memory grew by ${m1.wasm - m0.wasm} bytes`);
  // the page keeps each shown token and its five alternatives (for hovering): small per token
  assert.ok(m1.heap - m0.heap < 24 * MB, `JS heap grew by ${((m1.heap - m0.heap) / MB).toFixed(1)} MB`);
});

test('training 10,000 steps keeps memory flat', async () => {
  await page.check('input[name=corpus][value=toy]');
  await page.selectOption('#toytask', 'reverse');
  await page.selectOption('#sizepreset', 'custom');
  for (const [id, v] of [['nlayer', 1], ['nhead', 1], ['nembd', 16], ['blocksize', 16], ['batch', 2], ['steps', 10000]]) await page.fill(`#${id}`, String(v));
  await page.click('[data-testid=train-start]');
  await atStep(1000);
  const m0 = await memory();
  await atStep(10000);
  await idle();
  const m1 = await memory();
  console.log(`10k steps: wasm ${m0.wasm} -> ${m1.wasm} bytes; JS heap ${(m0.heap / MB).toFixed(1)} -> ${(m1.heap / MB).toFixed(1)} MB`);
  assert.equal(await errorText(page), '');
  assert.equal(Number(await page.textContent('[data-testid=train-step]')), 10000);
  assert.ok(m1.wasm - m0.wasm <= 1 * MB, `wasm memory grew by ${m1.wasm - m0.wasm} bytes`);
  // the loss chart keeps a decimated history, not one point per step
  assert.ok(m1.heap - m0.heap < 8 * MB, `JS heap grew by ${((m1.heap - m0.heap) / MB).toFixed(1)} MB`);
  assert.deepEqual(problems, []);
});
