// The page's own speed next to the native CLI's, for docs/benchmarks.md (a record, not a test:
// nothing is asserted). In one run:
//  - native `tinygpt train --preset baby --backend cpu` ms/step on the page's Shakespeare corpus;
//  - the page, in headless Chromium with the WebGPU flag on (SwiftShader here) and off (the
//    CPU/WebAssembly path): the same recipe's ms/step from the step counter over wall time,
//    the time from Start to the first step, time to ready and to the first token,
//    generation tokens/s with the default model;
//  - the wasm module's size, raw and gzipped.
//  - native is timed again before every page row (this VM's speed drifts within minutes): each
//    row's ratio is to the native run just before it.
//  - with --toy, a toy task trained with the page's defaults for it (in the flag-off row): its
//    time and score;
//  - the backend the page chose by measurement, and when; the flag-off run again in one
//    worker (?workers=1) next to the default two (data parallel), and with the plain-SIMD
//    module (?norelaxed) next to the relaxed-SIMD one the page loads where it can.
//  - with --profile, the page's CPU per-op profile of the same recipe (worker 0's ops, and with
//    two workers the step's parts: own rows, exchange, update), in ms per step, and the time
//    from Start to the first step on a page at rest (no generation just before).
//  - with --tasks, only this: Start to an induction head (`induction`) and Start to grokking
//    (`modadd`), each task with its recipe, in the page on the CPU path and natively
//    (`tinygpt bench --tasks`).
//  - with --budgets M,M..., only this: for each budget, the page's default Shakespeare run (the
//    shape and quick recipe it plans for the time, CPU path), Start to done, its planned steps,
//    the page's last validation loss, and `tinygpt eval` over the whole validation split of
//    the model it downloads; then the first 30 steps after a Start clicked at once, with the
//    WebGPU flag on (the probe still timing, then paused) and off.
//   node tests/e2e/bench.mjs [--seconds S] [--toy] [--profile] [--tasks] [--budgets 1,3,10]
//   (after ./build.sh web)
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { startServer, launch, openPage, ready, babyRecipe, trainTask, inductionHead, grokked, ROOT, BIN } from './helpers.mjs';

const GEN_TOKENS = 200;
const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const TRAIN_SECONDS = arg('--seconds', 30);
const TOY = process.argv.includes('--toy');
// --tasks: only Start to an induction head and Start to grokking, in the page (CPU path, its
// default two workers) and natively (`tinygpt bench --tasks`)
const TASKS_ONLY = process.argv.includes('--tasks');
const PROFILE = process.argv.includes('--profile');
const CORPUS = path.join(ROOT, 'www/data/shakespeare.txt');
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function native(steps = 30) {
  const out = execFileSync(BIN, ['train', '--data', CORPUS, '--preset', 'baby', '--steps', String(steps), '--backend', 'cpu', '--json'], { encoding: 'utf8' });
  const ms = out.trim().split('\n').map((l) => JSON.parse(l)).slice(3).map((l) => l.ms_per_step);
  return { command: `tinygpt train --preset baby --backend cpu --steps ${steps}`, ms_per_step_median: +median(ms).toFixed(1), ms_per_step_min: +Math.min(...ms).toFixed(1) };
}

// A toy task with the page's defaults for it (the `toy` preset): wall time to the end of the
// run and the held-out exact match the page reports.
async function toyRun(page) {
  await page.check('input[name=corpus][value=toy]');
  await page.selectOption('#toytask', 'reverse');
  const steps = Number(await page.inputValue('#steps'));
  const t0 = Date.now();
  await page.click('[data-testid=train-start]');
  await page.waitForFunction((n) => Number(document.querySelector('[data-testid=train-step]').textContent) >= n && document.body.dataset.training === '0', steps, { timeout: 900_000, polling: 100 });
  await page.waitForFunction(() => /Exact match/.test(document.querySelector('#toyscore').textContent), null, { timeout: 120_000 });
  return { task: 'reverse', steps, seconds: +((Date.now() - t0) / 1000).toFixed(1), score: await page.textContent('#toyscore') };
}

const stepOf = (page) => page.$eval('[data-testid=train-step]', (e) => Number(e.textContent) || 0);

// The baby recipe with the WebGPU flag off, profiled (Engine::set_profiling) over the timed
// window: ms per step of each op on worker 0 and, with two workers, of the step's parts.
async function profileRun(srv, query) {
  const browser = await launch({ webgpu: false });
  try {
    const { page } = await openPage(browser, `${srv.url}?testhooks${query}`);
    await ready(page);
    await babyRecipe(page);
    // Start on a page at rest: the views' work from ready done (a second, then a round trip
    // through the engine's queue), unlike the rows above, which click Start right after a
    // generation while the views recompute for its text
    await page.waitForTimeout(1000);
    await page.evaluate(() => window.tinygptTest.defaults());
    const s0 = Date.now();
    await page.click('[data-testid=train-start]');
    await page.waitForFunction(() => Number(document.querySelector('[data-testid=train-step]').textContent) >= 1, null, { timeout: 300_000, polling: 10 });
    const firstStep = Date.now() - s0;
    await page.waitForFunction(() => Number(document.querySelector('[data-testid=train-step]').textContent) >= 3, null, { timeout: 300_000, polling: 10 });
    await page.evaluate(() => window.tinygptTest.setProfiling(true));
    const [k1, w1] = [await stepOf(page), Date.now()];
    await page.waitForTimeout(TRAIN_SECONDS * 1000);
    const ops = await page.evaluate(() => window.tinygptTest.profile());
    const [k2, w2] = [await stepOf(page), Date.now()];
    // one failure guard per optimizer step, in one worker or two
    const steps = Math.max(1, ops.find((o) => o.op === 'failure_guard')?.calls ?? 1);
    const perStep = ops.map((o) => ({ op: o.op, ms_per_step: +(o.ms / steps).toFixed(2) }));
    const opsOnly = ops.filter((o) => !o.op.startsWith('data parallel')).reduce((n, o) => n + o.ms, 0) / steps;
    return { mode: `WebGPU flag off ?testhooks${query}`, start_to_first_step_ms_at_rest: firstStep, wall_ms_per_step: k2 > k1 ? Math.round((w2 - w1) / (k2 - k1)) : null, ops_ms_per_step: +opsOnly.toFixed(1), profile: perStep };
  } finally {
    await browser.close();
  }
}

async function measure(srv, webgpu, query = '') {
  const browser = await launch({ webgpu });
  try {
    const t0 = Date.now();
    const { page } = await openPage(browser, `${srv.url}${query}`);
    await ready(page);
    const tReady = Date.now() - t0;
    const backend = (await page.textContent('[data-testid=backend-badge]')).trim();
    await page.fill('[data-testid=prompt]', 'ROMEO:');
    await page.fill('#maxtokens', String(GEN_TOKENS));
    await page.fill('#temperature', '0.8');
    await page.fill('#seed', '1');
    const g0 = Date.now();
    await page.click('[data-testid=generate]');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=output] .tok').length >= 1, null, { timeout: 60_000, polling: 5 });
    const tFirst = Date.now() - g0;
    await page.waitForFunction(() => document.querySelector('[data-testid=output]').dataset.done === '1', null, { timeout: 300_000 });
    const tDone = Date.now() - g0;
    const n = await page.$$eval('[data-testid=output] .tok', (e) => e.length);

    // the backend choice by measurement (a probe worker, started at ready), then the baby
    // recipe on the Shakespeare corpus, as the native run
    await page.waitForFunction(() => ['done', 'forced', 'failed'].includes(document.querySelector('#devchoice').dataset.state), null, { timeout: 300_000 });
    const tChoice = Date.now() - t0;
    const choice = (await page.textContent('#devchoice')).replace(/\s+/g, ' ').trim();
    await babyRecipe(page);
    const s0 = Date.now();
    await page.click('[data-testid=train-start]');
    await page.waitForFunction(() => Number(document.querySelector('[data-testid=train-step]').textContent) >= 1, null, { timeout: 300_000, polling: 10 });
    const firstStep = Date.now() - s0;
    // steady state: steps counted over wall time, after the first few
    await page.waitForFunction(() => Number(document.querySelector('[data-testid=train-step]').textContent) >= 3, null, { timeout: 300_000, polling: 10 });
    const [k1, w1] = [await stepOf(page), Date.now()];
    await page.waitForTimeout(TRAIN_SECONDS * 1000);
    const [k2, w2] = [await stepOf(page), Date.now()];
    await page.click('[data-testid=train-pause]').catch(() => {});
    await page.waitForFunction(() => document.body.dataset.training === '0', null, { timeout: 300_000 });
    const toy = TOY && !webgpu && !query ? await toyRun(page) : null;
    return {
      mode: (webgpu ? 'WebGPU flag on' : 'WebGPU flag off') + (query ? ` ${query}` : ''),
      backend,
      wasm_build: await page.getAttribute('#devinfo', 'data-simd'),
      ready_ms: tReady,
      first_token_ms_after_click: tFirst,
      generate_tokens_per_s: +((n - 1) / ((tDone - tFirst) / 1000)).toFixed(1),
      start_to_first_step_ms: firstStep,
      train_ms_per_step: k2 > k1 ? Math.round((w2 - w1) / (k2 - k1)) : null,
      steps_timed: k2 - k1,
      choice_made_ms_after_navigation: tChoice,
      choice,
      trained_on: (await page.textContent('[data-testid=backend-badge]')).trim(),
      workers: (await page.textContent('[data-testid=device-workers]')).trim(),
      toy,
    };
  } finally {
    await browser.close();
  }
}

// Start to a circuit in the page on the CPU path, each task with its own recipe (a fresh page):
// `induction` until the Heads view shows an induction head >= 0.5 (layer 1 or later), `modadd`
// until held-out exact match >= 0.95; with the step and the page's ms/step then.
async function taskRuns(srv) {
  const out = [];
  for (const [task, until] of [['induction', inductionHead], ['modadd', grokked]]) {
    const browser = await launch({ webgpu: false });
    try {
      const { page } = await openPage(browser, `${srv.url}?cpu`);
      await ready(page);
      const seconds = await trainTask(page, task, until);
      out.push({ task, seconds: +seconds.toFixed(1), step: await stepOf(page), ms_per_step: Number(await page.textContent('#mms')), score: (await page.textContent('#toyscore')).trim(), workers: (await page.textContent('[data-testid=device-workers]')).trim() });
      await page.click('[data-testid=train-pause]').catch(() => {});
    } finally {
      await browser.close();
    }
  }
  const native = execFileSync(BIN, ['bench', '--backend', 'cpu', '--tasks', '--json', '--steps', '3'], { encoding: 'utf8', env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR || '/tmp' } })
    .trim().split('\n').map((l) => JSON.parse(l)).filter((r) => r.circuit);
  return { date: new Date().toISOString(), page: out, native };
}

// --budgets: the page's default run for each time budget, and an immediate Start's first
// steps with the WebGPU probe timing (flag on) against none (flag off).
const BUDGETS = process.argv.includes('--budgets') ? process.argv[process.argv.indexOf('--budgets') + 1].split(',').map(Number) : null;

async function budgetRun(srv, minutes) {
  const browser = await launch({ webgpu: false });
  try {
    const { page } = await openPage(browser, srv.url);
    await ready(page);
    await page.waitForFunction(() => document.querySelectorAll('#etas tbody tr').length > 0, null, { timeout: 60_000 });
    await page.selectOption('[data-testid=train-budget]', String(minutes));
    await page.waitForFunction((m) => document.querySelector('[data-testid=budget-plan]').textContent.includes(`fit ${m} min here`), minutes, { timeout: 30_000 });
    const before = { shape: await page.inputValue('#sizepreset'), steps: Number(await page.inputValue('#steps')), lr: Number(await page.inputValue('#lr')), plan: await page.textContent('[data-testid=budget-plan]') };
    const t0 = Date.now();
    await page.click('[data-testid=train-start]');
    await page.waitForFunction(() => document.querySelector('[data-testid=train-state]').dataset.state === 'done', null, { timeout: (minutes * 60 + 300) * 1000, polling: 200 });
    const seconds = (Date.now() - t0) / 1000;
    const planned = Number(await page.getAttribute('[data-testid=train-state]', 'data-planned'));
    const pageVal = Number(await page.textContent('[data-testid=val-loss]'));
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=model-download]')]);
    const file = path.join(ROOT, `target/e2e/budget-${minutes}min.safetensors`);
    await download.saveAs(file);
    const ev = JSON.parse(execFileSync(BIN, ['eval', '--model', file, '--data', CORPUS, '--json'], { encoding: 'utf8' }).trim().split('\n').pop());
    return { minutes, before, planned, step: Number(await page.textContent('[data-testid=train-step]')), seconds_start_to_done: +seconds.toFixed(1), page_val_loss: pageVal, eval_whole_val: ev, model: path.relative(ROOT, file) };
  } finally {
    await browser.close();
  }
}

// The first 30 steps' wall time after Start clicked as soon as the page is ready (the default
// 3-minute plan), flag on (SwiftShader: the probe is timing) or off.
async function immediateStart(srv, webgpu) {
  const browser = await launch({ webgpu });
  try {
    const { page } = await openPage(browser, srv.url);
    await ready(page);
    const probe = await page.getAttribute('#devchoice', 'data-state');
    await page.click('[data-testid=train-start]');
    await page.waitForFunction(() => Number(document.querySelector('[data-testid=train-step]').textContent) >= 1, null, { timeout: 120_000, polling: 20 });
    const t1 = Date.now();
    await page.waitForFunction(() => Number(document.querySelector('[data-testid=train-step]').textContent) >= 31, null, { timeout: 300_000, polling: 20 });
    const ms = (Date.now() - t1) / 30;
    const during = await page.getAttribute('#devchoice', 'data-state');
    await page.click('[data-testid=train-pause]');
    return { webgpu, probe_at_start: probe, probe_during_run: during, shape: await page.inputValue('#sizepreset'), ms_per_step_first_30: +ms.toFixed(1) };
  } finally {
    await browser.close();
  }
}

if (BUDGETS) {
  const srv = await startServer();
  try {
    const runs = [];
    for (const m of BUDGETS) runs.push(await budgetRun(srv, m));
    const starts = [];
    for (const webgpu of [false, true, false, true]) starts.push(await immediateStart(srv, webgpu));
    const mean = (on) => starts.filter((r) => r.webgpu === on).reduce((a, r) => a + r.ms_per_step_first_30, 0) / 2;
    console.log(JSON.stringify({ date: new Date().toISOString(), runs, immediate_start: starts, flag_on_over_off: +(mean(true) / mean(false)).toFixed(2) }, null, 1));
  } finally {
    srv.stop();
  }
  process.exit(0);
}

if (TASKS_ONLY) {
  const srv = await startServer();
  try {
    console.log(JSON.stringify(await taskRuns(srv), null, 1));
  } finally {
    srv.stop();
  }
  process.exit(0);
}

const wasm = fs.readFileSync(path.join(ROOT, 'www/pkg/tinygpt_bg.wasm'));
const relaxed = fs.readFileSync(path.join(ROOT, 'www/pkg-relaxed/tinygpt_bg.wasm'));
const srv = await startServer();
try {
  const nat = native();
  const rows = [];
  for (const [webgpu, q] of [[true, ''], [false, ''], [false, '?workers=1'], [false, '?norelaxed']]) {
    const before = rows.length ? native() : nat;
    const r = await measure(srv, webgpu, q);
    r.native_ms_per_step_before = before.ms_per_step_median;
    r.over_native_before = r.train_ms_per_step ? +(r.train_ms_per_step / before.ms_per_step_median).toFixed(2) : null;
    rows.push(r);
  }
  const best = Math.min(...rows.map((r) => r.train_ms_per_step ?? Infinity));
  const profiles = PROFILE ? [await profileRun(srv, ''), await profileRun(srv, '&workers=1')] : undefined;
  console.log(JSON.stringify({
    date: new Date().toISOString(),
    native: nat,
    rows,
    page_over_native: +(best / nat.ms_per_step_median).toFixed(2),
    profiles,
    wasm_bytes: wasm.length,
    wasm_gzip_bytes: zlib.gzipSync(wasm, { level: 9 }).length,
    relaxed_wasm_bytes: relaxed.length,
    relaxed_wasm_gzip_bytes: zlib.gzipSync(relaxed, { level: 9 }).length,
  }, null, 1));
} finally {
  srv.stop();
}
