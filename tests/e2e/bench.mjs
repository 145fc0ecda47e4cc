// The page's own speed, for docs/benchmarks.md (a record, not a test: nothing is asserted).
// For WebGPU (SwiftShader here) and the CPU (WebAssembly) fallback, in headless Chromium:
// time from navigation to the first generated token, generation tokens/s with the default
// model, and training ms/step of the toy task's `tiny` model.
//   node tests/e2e/bench.mjs            (after ./build.sh web and cargo build --release)
import { startServer, launch, openPage, ready } from './helpers.mjs';

const GEN_TOKENS = 200;
const TRAIN_STEPS = 30;

async function measure(srv, webgpu) {
  const browser = await launch({ webgpu });
  try {
    const t0 = Date.now();
    const { page } = await openPage(browser, srv.url);
    await ready(page);
    const tReady = Date.now() - t0;
    const backend = await page.textContent('[data-testid=backend-badge]');
    await page.fill('[data-testid=prompt]', 'ROMEO:');
    await page.fill('#maxtokens', String(GEN_TOKENS));
    await page.fill('#temperature', '0.8');
    await page.fill('#seed', '1');
    await page.click('[data-testid=generate]');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=output] .tok').length >= 1, null, { timeout: 60_000, polling: 5 });
    const tFirst = Date.now() - t0;
    await page.waitForFunction(() => document.querySelector('[data-testid=output]').dataset.done === '1', null, { timeout: 300_000 });
    const tDone = Date.now() - t0;
    const n = await page.$$eval('[data-testid=output] .tok', (e) => e.length);

    await page.check('input[name=corpus][value=toy]');
    await page.selectOption('#toytask', 'reverse');
    await page.selectOption('#sizepreset', 'tiny');
    await page.fill('#batch', '16');
    await page.fill('#steps', String(TRAIN_STEPS));
    const s0 = Date.now();
    await page.click('[data-testid=train-start]');
    await page.waitForFunction((k) => Number(document.querySelector('[data-testid=train-step]').textContent) >= k, TRAIN_STEPS, { timeout: 600_000 });
    const trainMs = (Date.now() - s0) / TRAIN_STEPS;
    const pageMs = await page.textContent('#mms');
    return {
      mode: webgpu ? 'WebGPU' : 'CPU fallback',
      backend: backend.trim(),
      ready_ms: tReady,
      first_token_ms: tFirst,
      generate_tokens_per_s: +((n - 1) / ((tDone - tFirst) / 1000)).toFixed(1),
      tokens: n,
      train_ms_per_step_wall: Math.round(trainMs),
      train_ms_per_step_page: Number(pageMs),
    };
  } finally {
    await browser.close();
  }
}

const srv = await startServer();
try {
  const rows = [];
  for (const webgpu of [true, false]) rows.push(await measure(srv, webgpu));
  console.log(JSON.stringify({ date: new Date().toISOString(), gen_tokens: GEN_TOKENS, train_steps: TRAIN_STEPS, rows }, null, 1));
} finally {
  srv.stop();
}
