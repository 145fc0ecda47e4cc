// The page switches on the kind of an error and reads its fields, never its text: an unknown
// character is said in the page's own words from `ch` and `pos` (counted in characters, not
// UTF-16 units), a NaN step (kind "numeric") offers to halve the learning rate, and the
// controls start from the engine's defaults() (the page copies none). CPU backend.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launch, openPage, ready, shot, errorText } from './helpers.mjs';

let srv, browser, page, problems;
before(async () => {
  srv = await startServer();
  browser = await launch({ webgpu: false });
  ({ page, problems } = await openPage(browser, `${srv.url}?cpu&testhooks`));
  await ready(page);
});
after(async () => {
  await browser?.close();
  srv?.stop();
});

const errorIs = (want) => page.waitForFunction((w) => document.querySelector('[data-testid=error]').textContent === w, want, { timeout: 30_000 });
// the loaded model's vocabulary size, as the Model panel states it
let vocab;
const unknown = (ch, code, at) => `The text has “${ch}” (U+${code}, character ${at}), which this model never saw: it knows only the ${vocab} characters of its training text. Remove it, or train a model on text that has it.`;
const step = () => page.textContent('[data-testid=train-step]').then(Number);
const atStep = (n) => page.waitForFunction((k) => Number(document.querySelector('[data-testid=train-step]').textContent) >= k, n, { timeout: 120_000 });
const idle = () => page.waitForFunction(() => document.body.dataset.training === '0', null, { timeout: 120_000 });

test('the controls, size presets and tokenizers come from the engine', async () => {
  const d = await page.evaluate(() => window.tinygptTest.defaults());
  const options = (sel) => page.$$eval(`${sel} option`, (o) => o.map((e) => e.value));
  assert.deepEqual(await options('#sizepreset'), [...d.presets.map((p) => p.name), 'custom']);
  assert.ok(d.presets.some((p) => p.name === 'tiny') && d.presets.some((p) => p.name === 'baby'));
  assert.deepEqual(await options('[data-testid=train-tokenizer]'), d.tokenizers);
  for (const [id, k] of [['maxtokens', 'max_tokens'], ['temperature', 'temperature'], ['topk', 'top_k'], ['topp', 'top_p'], ['seed', 'seed']]) {
    assert.equal(Number(await page.inputValue(`#${id}`)), d.sample[k], id);
  }
  // a new run defaults to the time budget's plan (budget.test.mjs); the `page` preset's whole
  // recipe, the default model's, is one click away in the table of times
  await page.waitForSelector('#etas tr[data-preset=page] [data-testid=use-preset]', { timeout: 60_000 });
  await page.click('#etas tr[data-preset=page] [data-testid=use-preset]');
  const def = d.presets.find((p) => p.name === 'page');
  assert.equal(await page.inputValue('#sizepreset'), 'page');
  for (const [id, k] of [['nlayer', 'n_layer'], ['nhead', 'n_head'], ['nembd', 'n_embd'], ['blocksize', 'block_size']]) {
    assert.equal(Number(await page.inputValue(`#${id}`)), def.model[k], id);
  }
  for (const [id, k] of [['batch', 'batch_size'], ['lr', 'lr'], ['steps', 'steps'], ['dropout', 'dropout']]) {
    // the f32 settings are shown as their shortest decimals (0.002, not 0.0020000000949949026)
    const shown = await page.inputValue(`#${id}`);
    assert.equal(Math.fround(Number(shown)), Math.fround(def.train[k]), id);
    assert.ok(shown.length <= 6, `#${id} shows ${shown}`);
  }
  // a preset picked from the engine's list sets its shape
  const tiny = d.presets.find((p) => p.name === 'tiny');
  await page.selectOption('#sizepreset', 'tiny');
  assert.equal(Number(await page.inputValue('#nembd')), tiny.model.n_embd);
  await page.selectOption('#sizepreset', 'baby');
});

test("an unknown character is said in the page's words, from the error's ch and pos", async () => {
  vocab = Number((await page.textContent('[data-testid=model-info]')).match(/vocabulary (\d+)/)[1]);
  assert.ok(vocab > 60, `the default model's vocabulary: ${vocab}`);
  await page.fill('[data-testid=prompt]', 'ROMEO: ☃');
  // the attention panel asks first, then generation: both say it the same way
  await errorIs(`Attention: ${unknown('☃', '2603', 8)}`);
  await page.click('[data-testid=generate]');
  await errorIs(unknown('☃', '2603', 8));
  // a character outside the BMP is one character (two UTF-16 units)
  await page.fill('[data-testid=prompt]', 'a🦀b');
  await page.click('[data-testid=generate]');
  await errorIs(unknown('🦀', '1F980', 2));
  await shot(page, 'error-unknown-char');
  await page.fill('[data-testid=prompt]', 'ROMEO:');
  await page.click('[data-testid=generate]');
  await page.waitForFunction(() => document.querySelector('[data-testid=output]').dataset.done === '1' && document.body.dataset.generating === '0');
  assert.equal(await errorText(page), '');
});

test('a NaN step (kind "numeric") stops training and offers to halve the learning rate', async () => {
  await page.check('input[name=corpus][value=toy]');
  await page.selectOption('#toytask', 'reverse');
  await page.selectOption('#sizepreset', 'tiny');
  await page.fill('#batch', '8');
  await page.fill('#lr', '0.004');
  await page.fill('#steps', '200');
  await page.click('[data-testid=train-start]');
  await atStep(3);
  await page.click('[data-testid=train-pause]');
  await idle();
  const paused = await step();
  await page.evaluate(() => window.tinygptTest.fault('nan'));
  await page.click('[data-testid=train-start]');
  await page.waitForSelector('[data-testid=recover-lr]', { state: 'visible', timeout: 60_000 });
  await idle();
  assert.match(await errorText(page), /^The update became NaN .* Training stopped\.$/s);
  assert.equal(await step(), paused, 'the failed step is not counted');
  assert.ok(await page.isHidden('[data-testid=recover-gpu]'));
  assert.ok(await page.isHidden('[data-testid=recover-cpu]'));
  await page.click('[data-testid=recover-lr]');
  await atStep(paused + 3);
  assert.equal(Number(await page.inputValue('#lr')), 0.002);
  await page.click('[data-testid=train-pause]');
  await idle();
  assert.equal(await errorText(page), '');
  assert.deepEqual(problems, []);
});
