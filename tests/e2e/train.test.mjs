// Training in the page: a toy task lowers the loss, pause/resume, and the IndexedDB autosave
// brings the trained model back after a reload.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launch, openPage, ready, shot, generate, errorText, MODEL_CONFIG } from './helpers.mjs';

let srv, browser, page, problems;
const STEPS = 30;

before(async () => {
  srv = await startServer();
  browser = await launch({ webgpu: true });
  ({ page, problems } = await openPage(browser, srv.url));
  await ready(page);
});
after(async () => {
  await browser?.close();
  srv?.stop();
});

const step = async () => Number(await page.textContent('[data-testid=train-step]'));
const idle = () => page.waitForFunction(() => document.body.dataset.training === '0', null, { timeout: 180_000 });

export async function trainToy(p, steps) {
  await p.check('input[name=corpus][value=toy]');
  await p.selectOption('#toytask', 'reverse');
  await p.selectOption('#sizepreset', 'tiny');
  await p.fill('#batch', '16');
  await p.fill('#lr', '0.003');
  await p.fill('#steps', String(steps));
}

let sampleText = '';
test(`training ${STEPS} steps on a toy task lowers the loss (with a pause and resume)`, async () => {
  await trainToy(page, STEPS);
  await page.click('[data-testid=train-start]');
  await page.waitForFunction(() => Number(document.querySelector('[data-testid=train-step]').textContent) >= 5, null, { timeout: 60_000 });
  await page.click('[data-testid=train-pause]');
  await idle();
  const paused = await step();
  assert.ok(paused >= 5 && paused < STEPS, `paused at ${paused}`);
  assert.equal(await page.textContent('[data-testid=train-start]'), 'Resume');
  await page.waitForTimeout(500);
  assert.equal(await step(), paused, 'training went on after Pause');
  await page.click('[data-testid=train-start]');
  await page.waitForFunction((n) => Number(document.querySelector('[data-testid=train-step]').textContent) >= n, STEPS, { timeout: 120_000 });
  await idle();
  assert.equal(await step(), STEPS);
  const first = Number(await page.getAttribute('[data-testid=train-loss]', 'data-first'));
  const last = Number(await page.textContent('[data-testid=train-loss]'));
  assert.ok(last < first - 0.3, `loss went from ${first} to ${last}`);
  assert.ok(Number(await page.textContent('[data-testid=val-loss]')) > 0);
  assert.match(await page.textContent('#modelinfo'), new RegExp(`2 layers × 2 heads, width 64, context 32.*${STEPS} steps trained`));
  await page.waitForFunction(() => /Exact match at step/.test(document.querySelector('#toyscore').textContent), null, { timeout: 60_000 });
  await page.waitForFunction(() => /Autosaved at step 30/.test(document.querySelector('#savestate').textContent), null, { timeout: 30_000 });
  assert.equal(await errorText(page), '');
  await shot(page, 'train', { fullPage: true });
  sampleText = await generate(page, 'abcd=', { maxTokens: 12, temperature: 0.8, seed: 5 });
  assert.ok(sampleText.length > 'abcd='.length);
});

test('a reload restores the trained model from IndexedDB', async () => {
  await page.reload();
  await ready(page);
  assert.match(await page.textContent('#status'), /Restored your autosaved model/);
  assert.match(await page.textContent('#modelinfo'), new RegExp(`2 layers × 2 heads, width 64.*${STEPS} steps trained`));
  assert.equal(await page.textContent('[data-testid=train-start]'), 'Resume');
  assert.equal(await generate(page, 'abcd=', { maxTokens: 12, temperature: 0.8, seed: 5 }), sampleText);
  await shot(page, 'restored');
  // Reset forgets the autosave: the next load is the default model again
  await page.click('#trainreset');
  await page.waitForFunction(() => /Autosave cleared/.test(document.querySelector('#savestate').textContent));
  await page.reload();
  await ready(page);
  assert.ok((await page.textContent('#modelinfo')).includes(MODEL_CONFIG.info));
  assert.deepEqual(problems, []);
});
