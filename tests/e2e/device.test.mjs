// The Device panel and the backend choice by measurement: made-up timings pick the faster
// backend for each job (and the model moves between them, its training going on); the real
// timing and the kernel self-check on the browser's WebGPU adapter (SwiftShader here) show
// their figures; ?gpu forces the GPU and still self-checks it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launch, openPage, ready, shot, generate, errorText } from './helpers.mjs';

let srv, browser;
before(async () => {
  srv = await startServer();
  browser = await launch({ webgpu: true });
});
after(async () => {
  await browser?.close();
  srv?.stop();
});

const badge = (page) => page.getAttribute('[data-testid=backend-badge]', 'data-backend');
const choice = (page) => page.$eval('#devchoice table', (t) => [t.dataset.train, t.dataset.generate]);
const measured = (page, timeout = 60_000) => page.waitForFunction(() => document.querySelector('#devchoice').dataset.state === 'done', null, { timeout });
const idle = (page) => page.waitForFunction(() => document.body.dataset.training === '0', null, { timeout: 180_000 });

test('made-up timings: the faster backend for each job is chosen, shown, and the model moves to it', async () => {
  // the GPU trains 5x faster, the CPU generates faster
  const { page, problems } = await openPage(browser, `${srv.url}?testhooks&fakecal=100,5,20,9`);
  await ready(page);
  await measured(page);
  assert.deepEqual(await choice(page), ['gpu', 'cpu']);
  const text = await page.textContent('#devchoice');
  for (const figure of ['100.0 ms', '20.0 ms', '5.00 ms', '9.00 ms']) assert.ok(text.includes(figure), `${figure} in: ${text}`);
  assert.equal(await badge(page), 'cpu', 'generation is faster on the CPU: the model stays there');
  const before = await generate(page, 'ROMEO:', { maxTokens: 12, temperature: 0, seed: 1 });
  assert.equal(await badge(page), 'cpu');

  // training moves the model to the GPU; generating afterwards moves it back, weights and all
  await page.check('input[name=corpus][value=toy]');
  await page.selectOption('#toytask', 'reverse');
  await page.selectOption('#sizepreset', 'tiny');
  await page.fill('#steps', '6');
  await page.click('[data-testid=train-start]');
  await page.waitForFunction(() => document.querySelector('[data-testid=train-step]').textContent === '6', null, { timeout: 180_000 });
  await idle(page);
  assert.equal(await badge(page), 'webgpu', 'training ran on the GPU');
  assert.match(await page.textContent('#devchoice'), /Training runs on the GPU/);
  assert.match(await page.textContent('#devinfo'), /\d+ pipelines compiled ahead when the model moved here/);
  const trained = await generate(page, 'abc=', { maxTokens: 6, temperature: 0, seed: 1 });
  assert.equal(await badge(page), 'cpu', 'and generation on the CPU');
  assert.ok(trained.startsWith('abc='), trained);
  assert.notEqual(trained, before);
  assert.equal(await errorText(page), '');
  await shot(page, 'device-fake-choice', { fullPage: true });
  assert.deepEqual(problems, []);
  await page.close();
});

test('made-up timings where the GPU is slower at both: the CPU for both', async () => {
  const { page } = await openPage(browser, `${srv.url}?testhooks&fakecal=50,2,900,30`);
  await ready(page);
  await measured(page);
  assert.deepEqual(await choice(page), ['cpu', 'cpu']);
  assert.equal(await badge(page), 'cpu');
  await page.close();
});

test('the real timing and the kernel self-check on this adapter appear in the Device panel', async () => {
  const { page, problems } = await openPage(browser, srv.url);
  await ready(page);
  await measured(page, 240_000);
  const text = await page.textContent('#devchoice');
  assert.match(text, /CPU \(WebAssembly\)\s*\d+\.\d ms/, text);
  assert.match(text, /Workload: \d+ layers x \d+ heads/, text);
  assert.match(text, /Why: /);
  const [train, gen] = await choice(page);
  assert.ok(['cpu', 'gpu'].includes(train) && ['cpu', 'gpu'].includes(gen));
  await page.waitForSelector('#devcheck table', { timeout: 240_000 });
  const rows = await page.$$eval('#devcheck tr[data-op]', (r) => r.map((x) => [x.dataset.op, x.dataset.shape, Number(x.cells[2].textContent)]));
  for (const [op, shape, err] of rows) assert.ok(err < 1e-3, `${op} at ${shape}: ${err}`);
  // every op at the small odd shape and at the training shape of the workload timed above
  // (attention at T = the context: the batched products and multi-tile grids a step runs)
  const [, layers, heads, width, context, batch] = text.match(/Workload: (\d+) layers x (\d+) heads, (\d+) wide, context (\d+), batch (\d+)/);
  assert.ok(layers > 0);
  const training = `${batch},${context},${width},${heads}`;
  const at = (shape) => rows.filter((r) => r[1] === shape).map((r) => r[0]);
  assert.ok(at('2,7,24,3').length >= 15, rows.map((r) => r.join(' ')).join('; '));
  assert.deepEqual(at(training), at('2,7,24,3'), `the same ops at ${training}`);
  assert.ok(at(training).some((op) => /matmul/.test(op)) && at(training).some((op) => /attention/.test(op)), at(training).join(', '));
  await shot(page, 'device-measured', { fullPage: true });
  assert.deepEqual(problems, []);
  await page.close();
});

test('?gpu forces the GPU: nothing is timed, the self-check still runs', async () => {
  const { page } = await openPage(browser, `${srv.url}?gpu`);
  await ready(page);
  assert.equal(await badge(page), 'webgpu');
  assert.match(await page.textContent('#devchoice'), /Forced by \?gpu/);
  await page.waitForSelector('#devcheck table', { timeout: 240_000 });
  await page.close();
});

test('the relaxed-SIMD build where the browser has it, the plain one with ?norelaxed: the same numbers, each SIMD matmul checked against the plain loops', async () => {
  // the probe's surprisal map, drawn at ready, as each build computes it
  const look = async (query) => {
    const { page, problems } = await openPage(browser, `${srv.url}?${query}`);
    await ready(page);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=surprisal] .stok').length > 20, null, { timeout: 60_000 });
    const out = {
      build: await page.getAttribute('#devinfo', 'data-simd'),
      text: await page.textContent('#devinfo'),
      s: await page.$$eval('[data-testid=surprisal] .stok', (x) => x.map((e) => Number(e.dataset.surprisal || 0))),
      // the Device panel's CPU kernel check (Engine::cpu_check) of this build's matmul
      cpuCheck: await page.waitForSelector('#devcpucheck[data-worst]').then((e) => e.evaluate((p) => ({ worst: Number(p.dataset.worst), text: p.textContent }))),
      problems,
    };
    await page.close();
    return out;
  };
  const relaxed = await look('cpu');
  const plain = await look('cpu&norelaxed');
  assert.equal(relaxed.build, 'relaxed', 'Chromium has relaxed SIMD');
  assert.match(relaxed.text, /SIMD \+ relaxed SIMD: this browser has relaxed SIMD/);
  assert.equal(plain.build, 'simd128');
  assert.match(plain.text, /plain SIMD, as \?norelaxed asks/);
  assert.equal(relaxed.s.length, plain.s.length);
  // fused multiply-adds round differently, by float rounding only
  const worst = Math.max(...relaxed.s.map((x, i) => Math.abs(x - plain.s[i])));
  assert.ok(worst <= 1e-3, `largest surprisal difference ${worst}`);
  for (const { cpuCheck } of [relaxed, plain]) {
    assert.ok(cpuCheck.worst < 1e-4, cpuCheck.text);
    assert.match(cpuCheck.text, /matmul_forward .*matmul_backward dinp .*matmul_backward dw .*all within 1e-4/);
  }
  assert.deepEqual(relaxed.problems, []);
  assert.deepEqual(plain.problems, []);
});
