// Training in two workers (data parallel, the CPU path): each worker computes half of every
// batch and they exchange gradients. The same run in one worker (?workers=1) gives the same
// losses (within the rounding of the gradient sums) and the same model, with dropout on: each
// worker draws its rows of the whole batch's masks.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launch, openPage, ready, shot, generate, errorText } from './helpers.mjs';

let srv, browser;
before(async () => {
  srv = await startServer();
  browser = await launch({ webgpu: false });
});
after(async () => {
  await browser?.close();
  srv?.stop();
});

const STEPS = 40;

// A toy run of STEPS steps: the losses shown at each step, the final greedy answer, the Device
// panel's line on workers and the page's own step time.
async function run(query) {
  const { page, problems } = await openPage(browser, `${srv.url}?${query}`);
  await ready(page);
  await page.check('input[name=corpus][value=toy]');
  await page.selectOption('#toytask', 'reverse');
  await page.selectOption('#sizepreset', 'tiny');
  await page.fill('#batch', '16');
  await page.fill('#steps', String(STEPS));
  await page.fill('[data-testid=train-dropout]', '0.1');
  // every step's loss as it is drawn
  await page.evaluate(() => {
    window.__losses = [];
    new MutationObserver(() => window.__losses.push(document.querySelector('[data-testid=train-loss]').textContent))
      .observe(document.querySelector('[data-testid=train-loss]'), { childList: true, characterData: true, subtree: true });
  });
  await page.click('[data-testid=train-start]');
  await page.waitForFunction((n) => document.querySelector('[data-testid=train-step]').textContent === String(n) && document.body.dataset.training === '0', STEPS, { timeout: 300_000 });
  const out = {
    losses: await page.evaluate(() => window.__losses.map(Number)),
    answer: await generate(page, 'abcd=', { maxTokens: 6, temperature: 0, seed: 1 }),
    workers: await page.textContent('[data-testid=device-workers]'),
    error: await errorText(page),
    problems,
    page,
  };
  return out;
}

test('two workers train as one does: the same losses and the same model', async () => {
  const two = await run('cpu');
  const one = await run('cpu&workers=1');
  assert.match(two.workers, /2 workers \(data parallel\)/);
  assert.match(one.workers, /one worker: \?workers=1/);
  assert.equal(two.error, '');
  assert.equal(one.error, '');
  assert.ok(two.losses.length >= 3, `${two.losses.length} losses seen`);
  // the losses shown (4 decimals) differ by rounding of the sums at most
  const last = (xs) => xs[xs.length - 1];
  assert.ok(Math.abs(last(two.losses) - last(one.losses)) <= 2e-4, `${last(two.losses)} vs ${last(one.losses)}`);
  assert.ok(last(two.losses) < two.losses[0], 'it learned');
  assert.equal(two.answer, one.answer, 'the same greedy answer');
  await shot(two.page, 'parallel-two-workers', { fullPage: true });
  assert.deepEqual(two.problems, []);
  assert.deepEqual(one.problems, []);
});
