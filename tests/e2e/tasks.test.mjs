// The toy tasks in the page, on the CPU path: the picker lists every task the engine defines
// (the CLI's `tinygpt tasks`), picking one takes its recipe, and `induction` with its recipe forms
// an induction head the Heads view names (with its previous-token partner), while the scrubber's
// circuit chart follows the snapshots.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { startServer, launch, openPage, ready, shot, canvasHash, errorText, BIN, trainTask, inductionHead } from './helpers.mjs';

let srv, browser, page, problems;
const TASKS = JSON.parse(execFileSync(BIN, ['tasks', '--json'], { encoding: 'utf8' }));

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

test('the picker lists every task the engine defines, and a task brings its recipe', async () => {
  const options = await page.$$eval('[data-testid=task-picker] option', (os) => os.map((o) => o.value));
  assert.deepEqual(options, TASKS.map((t) => t.name));
  assert.ok(options.length >= 12, `${options.length} tasks`);
  const modadd = TASKS.find((t) => t.name === 'modadd');
  await page.selectOption('[data-testid=task-picker]', 'modadd');
  assert.equal(await page.isChecked('input[name=corpus][value=toy]'), true, 'picking a task picks the toy corpus');
  assert.equal(Number(await page.inputValue('[data-testid=train-wd]')), modadd.train.weight_decay);
  assert.equal(Number(await page.inputValue('#steps')), modadd.train.steps);
  assert.equal(Number(await page.inputValue('#nlayer')), modadd.model.n_layer);
  assert.match(await page.textContent('#corpusinfo'), /grokking/);
});

test('induction forms an induction head: the Heads view names it and its partner, the scrubber moves the circuit chart', async () => {
  const ind = TASKS.find((t) => t.name === 'induction');
  await page.selectOption('[data-testid=task-picker]', 'induction');
  assert.equal(Number(await page.inputValue('#nhead')), ind.model.n_head);
  // a head of layer 1 or later scoring 0.5 or more as an induction head, in the Heads view,
  // while training
  const seconds = await trainTask(page, 'induction', inductionHead, { timeout: 600_000 });
  console.log(`# induction head >= 0.5 in the Heads view ${seconds.toFixed(1)} s after Start`);
  const named = await page.$eval('[data-testid=head-scores] li[data-kind=induction]', (li) => ({ head: li.dataset.head, partner: li.dataset.partner || '', text: li.textContent }));
  assert.notEqual(named.head, '', named.text);
  const layer = Number(named.head.split('.')[0]);
  assert.ok(layer >= 1, `an induction head reads an earlier layer: ${named.head}`);
  // the named head's own cell says what the name says
  const cell = await page.$eval(`[data-testid=head-scores] td[data-head="${named.head}"]`, (td) => ({ ind: Number(td.dataset.induction), prev: Number(td.dataset.prev), first: Number(td.dataset.first) }));
  assert.ok(cell.ind >= 0.5 && cell.prev >= 0 && cell.first >= 0, JSON.stringify(cell));

  await page.waitForFunction(() => document.body.dataset.training === '0', null, { timeout: 600_000 });
  assert.equal(await errorText(page), '');
  // the partner is named once the run is over (the last snapshot's scores, then the probe's)
  const after = await page.$eval('[data-testid=head-scores] li[data-kind=induction]', (li) => ({ head: li.dataset.head, partner: li.dataset.partner || '' }));
  assert.notEqual(after.partner, '', 'a previous-token partner in an earlier layer');
  assert.ok(Number(after.partner.split('.')[0]) < Number(after.head.split('.')[0]));
  // held-out exact match, from the last evaluation
  const exact = Number(await page.getAttribute('#toyscore', 'data-val-exact'));
  assert.ok(exact >= 0.9, `held-out exact match ${exact}`);
  await shot(page, 'task-induction', { fullPage: true });

  // the scrubber: an early snapshot moves the circuit chart's marker and the Heads view
  const live = await canvasHash(page, '#circuits');
  const n = Number(await page.getAttribute('[data-testid=scrubber]', 'max'));
  assert.ok(n >= 3, `${n} snapshots`);
  await page.focus('[data-testid=scrubber]');
  await page.keyboard.press('Home');
  await page.waitForFunction(() => document.querySelector('[data-testid=head-scores]').dataset.step !== 'live');
  assert.notEqual(await canvasHash(page, '#circuits'), live, 'the circuit chart marks the snapshot');
  const early = await page.$$eval('[data-testid=head-scores] td[data-induction]', (tds) => Math.max(...tds.map((td) => Number(td.dataset.induction))));
  assert.ok(early < 0.5, `the first snapshot has no induction head yet (${early})`);
  await shot(page, 'task-induction-scrubbed', { fullPage: true });
  assert.deepEqual(problems, []);
});
