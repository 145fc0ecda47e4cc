// The Runs panel: every training run is kept in this browser (IndexedDB `tinygpt-runs`), listed
// newest first, survives a reload, overlays the checked runs' loss curves, opens a run's model
// and deletes a run; www/js/runs.js keeps at most 20 models (the oldest runs' go first, their
// records stay) and 200 records.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launch, openPage, ready, shot, canvasInk, errorText } from './helpers.mjs';

let srv, browser;

before(async () => {
  srv = await startServer();
  browser = await launch({ webgpu: false });
});
after(async () => {
  await browser?.close();
  srv?.stop();
});

const ROWS = '[data-testid=runs] tbody tr[data-run-id]';
const rowIds = (page) => page.$$eval(ROWS, (trs) => trs.map((tr) => tr.dataset.runId));
const doneRows = (n) => document.querySelectorAll('[data-testid=runs] tbody tr[data-run-id][data-state=done]').length === n;

// A new run of the induction task for `steps` steps (its recipe otherwise), to its end.
async function trainRun(page, steps) {
  await page.selectOption('[data-testid=task-picker]', 'induction');
  if (await page.$('[data-testid=train-budget] option[value=all]')) await page.selectOption('[data-testid=train-budget]', 'all');
  await page.fill('#steps', String(steps));
  assert.equal(await page.textContent('[data-testid=train-start]'), 'Start');
  await page.click('[data-testid=train-start]');
  try {
    await page.waitForFunction((n) => document.body.dataset.training === '0' && Number(document.querySelector('#mstep').textContent) >= n
      && document.querySelector('[data-testid=train-start]').textContent === 'Start', steps, { timeout: 300_000, polling: 100 });
  } catch (e) {
    const where = await page.evaluate(() => ({ training: document.body.dataset.training, step: document.querySelector('#mstep').textContent, status: document.querySelector('#status').textContent, error: document.querySelector('#error').textContent }));
    throw new Error(`${e.message}: ${JSON.stringify(where)}`);
  }
}

test('two runs are kept, survive a reload, are compared, opened and deleted', async () => {
  const t0 = Date.now();
  const { page, problems } = await openPage(browser, `${srv.url}?cpu&testhooks`);
  await ready(page);
  assert.deepEqual(await rowIds(page), [], 'a fresh browser has no runs');

  await trainRun(page, 30);
  await page.waitForFunction(doneRows, 1, { timeout: 30_000 });
  await trainRun(page, 60);
  await page.waitForFunction(doneRows, 2, { timeout: 30_000 });
  const ids = await rowIds(page);
  assert.equal(ids.length, 2);
  const [newer, older] = ids; // newest first
  assert.equal(await page.$eval(`tr[data-run-id="${newer}"] [data-testid=run-state]`, (td) => td.textContent), 'done');
  assert.equal(await errorText(page), '');

  // after a reload both are still there, done, with their models
  await page.reload();
  await ready(page);
  await page.waitForFunction(doneRows, 2, { timeout: 30_000 });
  assert.deepEqual(await rowIds(page), ids);
  const rows = await page.$$eval(ROWS, (trs) => trs.map((tr) => ({ id: tr.dataset.runId, hasModel: tr.dataset.hasModel, cells: [...tr.cells].map((td) => td.textContent) })));
  for (const r of rows) {
    assert.equal(r.hasModel, '1', JSON.stringify(r));
    assert.ok(r.cells.includes('induction'), JSON.stringify(r.cells));
    assert.match(r.cells[8], /^\d+\.\d{3}$/, `best val loss: ${JSON.stringify(r.cells)}`);
    assert.match(r.cells[9], /^\d+(\.\d)?%$/, `best exact match: ${JSON.stringify(r.cells)}`);
  }
  assert.ok(rows[0].cells.includes('60') && rows[1].cells.includes('30'), JSON.stringify(rows));

  // a row's click shows its sample
  await page.click(`tr[data-run-id="${older}"] td.what`);
  assert.equal(await page.getAttribute('[data-testid=run-sample]', 'data-run-id'), older);
  assert.match(await page.textContent('[data-testid=run-sample]'), /step 30/);

  // both checked: both curves overlaid
  await page.check(`tr[data-run-id="${newer}"] [data-testid=run-compare]`);
  assert.equal(await page.getAttribute('[data-testid=runs-chart]', 'data-series'), '0', 'one run alone draws nothing');
  await page.check(`tr[data-run-id="${older}"] [data-testid=run-compare]`);
  assert.ok(Number(await page.getAttribute('[data-testid=runs-chart]', 'data-series')) >= 2);
  const drawn = (await page.getAttribute('[data-testid=runs-chart]', 'data-runs')).split(',');
  assert.deepEqual([...drawn].sort(), [...ids].sort());
  assert.ok((await canvasInk(page, '[data-testid=runs-chart]')).colours > 4, 'the chart has curves');
  await shot(page, 'runs', { fullPage: true });

  // Open loads the older run's model (30 steps; the autosave is the newer one's 60); a prompt
  // in the task's letters, which both models read (the page's prompt after a reload is not)
  await page.fill('[data-testid=prompt]', 'xynwspblkx');
  await page.waitForFunction(() => document.querySelector('[data-testid=error]').hidden, null, { timeout: 30_000 });
  assert.match(await page.textContent('[data-testid=model-info]'), /60 steps trained/);
  await page.click(`tr[data-run-id="${older}"] [data-testid=run-open]`);
  await page.waitForFunction(() => /\b30 steps trained/.test(document.querySelector('[data-testid=model-info]').textContent), null, { timeout: 30_000 });
  assert.equal(await errorText(page), '');

  // Delete removes a row, for good
  await page.click(`tr[data-run-id="${newer}"] [data-testid=run-delete]`);
  await page.waitForFunction((id) => !document.querySelector(`tr[data-run-id="${id}"]`), newer);
  assert.deepEqual(await rowIds(page), [older]);
  assert.equal(await page.getAttribute('[data-testid=runs-chart]', 'data-series'), '0');
  await page.reload();
  await ready(page);
  await page.waitForFunction(doneRows, 1, { timeout: 30_000 });
  assert.deepEqual(await rowIds(page), [older]);
  assert.deepEqual(problems, []);
  await page.context().close();
  console.log(`# two runs trained, reloaded, compared, opened and deleted in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
});

test('at most 20 runs keep their model, the oldest dropped first; at most 200 records', async () => {
  const { page, problems } = await openPage(browser, `${srv.url}?cpu&testhooks`, { width: 375, height: 800 });
  await page.waitForFunction(() => window.tinygptTest && document.querySelector('[data-testid=runs-chart]').dataset.series !== undefined);
  const r = await page.evaluate(async () => {
    const runs = await import('/js/runs.js');
    const ids = [];
    const t = Date.now();
    for (let i = 0; i < 22; i++) {
      const id = await runs.begin({ startedAt: t + i, source: { corpus: 'toy', task: 'fake', label: `fake <b>${i}</b>` }, settings: { n_layer: 1, n_head: 1, n_embd: 8, block_size: 8, batch_size: 1, lr: 0.001, steps: 10 }, budget: 'all', backend: 'cpu', workers: 1, step: i, curve: { loss: [[0, 2], [i + 1, 1]], val: [], trainExact: [], valExact: [] }, sample: '<img src=x onerror=alert(1)>' });
      ids.push(id);
      await runs.saveModel(id, new Uint8Array([i, 1, 2, 3]).buffer);
    }
    // a later save of the same run replaces its model and counts once
    await runs.saveModel(ids[21], new Uint8Array([99]).buffer);
    const list = await runs.list();
    const model = async (id) => { const b = await runs.model(id); return b ? [...new Uint8Array(b)] : null; };
    const out = {
      ids,
      order: list.map((x) => x.id),
      withModel: list.filter((x) => x.hasModel).map((x) => x.id),
      first: await model(ids[0]), second: await model(ids[1]), third: await model(ids[2]), last: await model(ids[21]),
      state: list[0].state,
    };
    await window.tinygptTest.runs.refresh();
    return out;
  });
  assert.deepEqual(r.order, [...r.ids].reverse(), 'newest first');
  assert.equal(r.withModel.length, 20);
  assert.ok(!r.withModel.includes(r.ids[0]) && !r.withModel.includes(r.ids[1]), 'the two oldest lost their models');
  assert.equal(r.first, null);
  assert.equal(r.second, null);
  assert.deepEqual(r.third, [2, 1, 2, 3]);
  assert.deepEqual(r.last, [99]);
  assert.equal(r.state, 'running');

  // the table: 22 rows, the two oldest without Open, labels as text
  assert.equal((await rowIds(page)).length, 22);
  const disabled = await page.$$eval(`${ROWS} [data-testid=run-open]:disabled`, (bs) => bs.map((b) => b.closest('tr').dataset.runId));
  assert.deepEqual(disabled.sort(), [String(r.ids[0]), String(r.ids[1])].sort());
  assert.equal(await page.$$eval('[data-testid=runs] b, [data-testid=runs] img, #runsample img', (x) => x.length), 0, 'labels stay text');
  await page.click(`tr[data-run-id="${r.ids[5]}"] td.what`);
  assert.match(await page.textContent('[data-testid=run-sample]'), /<img src=x/);
  // a narrow screen: the table scrolls inside its own box; the panel stays inside the page
  const narrow = await page.evaluate(() => {
    const s = document.querySelector('#runs'), w = s.querySelector('.runswrap');
    return { right: s.getBoundingClientRect().right, page: document.documentElement.clientWidth, over: s.scrollWidth - s.clientWidth, table: w.scrollWidth, box: w.clientWidth };
  });
  assert.ok(narrow.right <= narrow.page && narrow.over <= 0, JSON.stringify(narrow));
  assert.ok(narrow.table > narrow.box, `the table scrolls in its box: ${JSON.stringify(narrow)}`);
  await shot(page, 'runs-narrow', { fullPage: true });

  // 200 records at most: the oldest go, with their models
  const capped = await page.evaluate(async () => {
    const runs = await import('/js/runs.js');
    for (let i = 0; i < 180; i++) await runs.begin({ source: { corpus: 'toy', task: 'fake', label: 'more' }, settings: {} });
    const list = await runs.list();
    const models = (await Promise.all(list.map((x) => runs.model(x.id)))).filter(Boolean).length;
    return { n: list.length, ids: list.map((x) => x.id), models };
  });
  assert.equal(capped.n, 200);
  assert.equal(capped.models, 20);
  assert.ok(!capped.ids.includes(r.ids[0]) && !capped.ids.includes(r.ids[1]) && capped.ids.includes(r.ids[2]));
  assert.equal(await errorText(page), '');
  assert.deepEqual(problems, []);
  await page.context().close();
});
