// The first run in minutes: every size preset's time per step and ETA shown before Start, a
// time budget whose run fixes its step count and ends done at it, the settings in a link (and a
// malformed link's fields ignored with a notice), and the backend probe paused by an immediate
// Start and finished afterwards.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launch, openPage, ready, shot, errorText } from './helpers.mjs';

let srv, browser;
before(async () => {
  srv = await startServer();
  browser = await launch({ webgpu: false });
});
after(async () => {
  await browser?.close();
  srv?.stop();
});

const planned = (page) => page.waitForFunction(() => document.querySelectorAll('#etas tbody tr[data-preset]').length > 0, null, { timeout: 60_000 });
// the plan line says `text` (the engine's plan arrives a moment after a change)
const planSays = (page, text) => page.waitForFunction((t) => document.querySelector('[data-testid=budget-plan]').textContent.includes(t), text, { timeout: 30_000 });
const stateIs = (page, s, timeout = 240_000) => page.waitForFunction((w) => document.querySelector('[data-testid=train-state]').dataset.state === w, s, { timeout });

test('every preset shows its time per step and ETA before Start; the default is a 3-minute budget of the planned shape', async () => {
  const { page, problems } = await openPage(browser, `${srv.url}?testhooks`);
  await ready(page);
  const d = await page.evaluate(() => window.tinygptTest.defaults());
  await planned(page);
  const rows = await page.$$eval('#etas tbody tr', (rs) => rs.map((r) => ({ name: r.dataset.preset, ms: Number(r.dataset.msPerStep), eta: Number(r.dataset.etaMs), steps: Number(r.dataset.budgetSteps), text: r.textContent })));
  assert.deepEqual(rows.map((r) => r.name), d.presets.map((p) => p.name));
  for (const r of rows) {
    assert.ok(r.ms > 0 && r.eta > 0 && r.steps > 0, JSON.stringify(r));
    assert.match(r.text, /steps ≈ [\d.]+ (s|min)/, r.text);
  }
  // bigger shapes cost more a step
  const ms = Object.fromEntries(rows.map((r) => [r.name, r.ms]));
  assert.ok(ms.tiny < ms.baby && ms.baby < ms.page && ms.page < ms.small, JSON.stringify(ms));
  assert.equal(await page.inputValue('[data-testid=train-budget]'), String(d.budget));
  // the form follows the plan: the picked shape, and the steps that fit the time
  const pick = await page.$eval('#etas tr.picked', (r) => ({ name: r.dataset.preset, steps: Number(r.dataset.budgetSteps) }));
  assert.equal(await page.inputValue('#sizepreset'), pick.name);
  assert.equal(Number(await page.inputValue('#steps')), pick.steps);
  assert.match(await page.textContent('[data-testid=budget-plan]'), /steps of \d+ ms fit 3 min here/);
  // the page's own recipe is one click away, with its whole ETA
  await page.click('#etas tr[data-preset=page] [data-testid=use-preset]');
  const pagePreset = d.presets.find((p) => p.name === 'page');
  assert.equal(await page.inputValue('[data-testid=train-budget]'), 'all');
  assert.equal(await page.inputValue('#sizepreset'), 'page');
  assert.equal(Number(await page.inputValue('#steps')), pagePreset.train.steps);
  await planSays(page, `${pagePreset.train.steps.toLocaleString('en-US')} steps of about`);
  assert.match(await page.textContent('[data-testid=budget-plan]'), new RegExp(`${pagePreset.train.steps.toLocaleString('en-US')} steps of about \\d+ ms: about [\\d.]+ (s|min) here`));
  // typing a step count chooses all of the recipe's steps
  await page.selectOption('[data-testid=train-budget]', '10');
  await planSays(page, 'fit 10 min here');
  assert.notEqual(Number(await page.inputValue('#steps')), pagePreset.train.steps);
  await page.fill('#steps', '123');
  assert.equal(await page.inputValue('[data-testid=train-budget]'), 'all');
  assert.equal(await page.getAttribute('[data-testid=train-state]', 'data-state'), 'idle');
  await shot(page, 'budget-etas', { fullPage: true });
  assert.deepEqual(problems, []);
  await page.close();
});

test('a 1-minute budget on Shakespeare plans its steps from its first ones and ends done at exactly them', async () => {
  const { page, problems } = await openPage(browser, srv.url);
  await ready(page);
  await planned(page);
  await page.selectOption('[data-testid=train-budget]', '1');
  await planSays(page, 'fit 1 min here');
  const estimate = Number(await page.inputValue('#steps'));
  assert.ok(estimate > 10, `${estimate} steps estimated`);
  const t0 = Date.now();
  await page.click('[data-testid=train-start]');
  await stateIs(page, 'running', 30_000);
  await stateIs(page, 'done', 240_000);
  const secs = (Date.now() - t0) / 1000;
  const plan = Number(await page.getAttribute('[data-testid=train-state]', 'data-planned'));
  const step = Number(await page.textContent('[data-testid=train-step]'));
  assert.ok(plan > 10, `planned ${plan}`);
  assert.equal(step, plan, 'the run ends at the step count it planned');
  assert.match(await page.textContent('[data-testid=budget-plan]'), new RegExp(`This run: ${plan.toLocaleString('en-US')} steps in 1 min`));
  assert.ok(Number(await page.textContent('[data-testid=val-loss]')) > 0);
  console.log(`1-minute budget: estimated ${estimate} steps, planned ${plan}, done ${secs.toFixed(1)} s after Start`);
  assert.equal(await errorText(page), '');
  assert.deepEqual(problems, []);
  await page.close();
});

test('a copied link opens the page with its settings; a malformed one is ignored field by field, with a notice', async () => {
  const { page, problems } = await openPage(browser, srv.url);
  await ready(page);
  await page.selectOption('[data-testid=task-picker]', 'sort');
  await page.fill('#nlayer', '3');
  await page.fill('#lr', '0.005');
  await page.selectOption('[data-testid=train-budget]', '10');
  await page.fill('#temperature', '0.7');
  await page.fill('#topk', '7');
  await page.click('[data-testid=copy-link]');
  const link = await page.inputValue('[data-testid=share-link]');
  assert.match(link, /#.*task=sort/);
  await page.close();

  const b = await openPage(browser, link);
  await ready(b.page);
  const v = (sel) => b.page.inputValue(sel);
  assert.equal(await b.page.isChecked('input[name=corpus][value=toy]'), true);
  assert.equal(await v('[data-testid=task-picker]'), 'sort');
  assert.equal(await v('#nlayer'), '3');
  assert.equal(Number(await v('#lr')), 0.005);
  assert.equal(await v('[data-testid=train-budget]'), '10');
  assert.equal(Number(await v('#temperature')), 0.7);
  assert.equal(await v('#topk'), '7');
  assert.equal(await b.page.isHidden('[data-testid=link-notice]'), true);
  assert.deepEqual([...problems, ...b.problems], []);
  await b.page.close();

  const c = await openPage(browser, `${srv.url}#layers=abc&lr=2&colour=red&time=7&temperature=0.5&task=nosuch`);
  await ready(c.page);
  const notice = await c.page.textContent('[data-testid=link-notice]');
  assert.equal(await c.page.isVisible('[data-testid=link-notice]'), true);
  for (const f of ['layers=“abc”', 'lr=“2”', '“colour”', 'time=“7”', 'task=“nosuch”']) assert.ok(notice.includes(f), `${f} in: ${notice}`);
  assert.equal(Number(await c.page.inputValue('#temperature')), 0.5, 'the good field still applies');
  assert.equal(await errorText(c.page), '');
  assert.deepEqual(c.problems, []);
  await c.page.close();
});

test('an immediate Start with WebGPU on pauses the backend probe, which finishes after the run', async () => {
  const gpu = await launch({ webgpu: true });
  try {
    const { page, problems } = await openPage(gpu, srv.url);
    await ready(page);
    // the probe is timing on the same two cores
    assert.equal(await page.getAttribute('#devchoice', 'data-state'), 'measuring');
    await page.check('input[name=corpus][value=toy]');
    await page.selectOption('[data-testid=task-picker]', 'induction');
    await page.fill('#steps', '30');
    await page.click('[data-testid=train-start]');
    await page.waitForFunction(() => document.querySelector('#devchoice').dataset.state === 'paused', null, { timeout: 30_000 });
    assert.match(await page.textContent('#devchoice'), /paused while training runs/);
    await stateIs(page, 'done', 180_000);
    assert.equal(await page.getAttribute('[data-testid=backend-badge]', 'data-backend'), 'cpu', 'the run stayed on the CPU');
    await page.waitForFunction(() => document.querySelector('#devchoice').dataset.state === 'done', null, { timeout: 180_000 });
    // both backends were timed (a software GPU slower by 3x at its first step is not timed further)
    assert.match(await page.textContent('#devchoice'), /CPU \(WebAssembly\)[\d.]+ ms/);
    assert.match(await page.textContent('#devchoice'), /GPU \(WebGPU\)/);
    assert.equal(await errorText(page), '');
    assert.deepEqual(problems, []);
    await page.close();
  } finally {
    await gpu.close();
  }
});
