// The smoke subset every non-Chromium browser runs (firefox.test.mjs, webkit.test.mjs): load,
// generate (equal to the CLI), the logit lens, 20 training steps of a toy task, download the
// model and load it back, and no console error. Driver-agnostic: a test file hands in a driver
// with these async methods, so the steps here are written once:
//   open(url)                   navigate and wait for the load event
//   evaluate(fn, ...args)       run `fn` (self-contained; it may be async) in the page, return its JSON result
//   click(selector)             a real (trusted) click, scrolled into view
//   upload(selector, file)      set a file input's file through the browser's own file-input path
//   screenshot(file)            a PNG of the viewport
//   problems()                  console errors, page errors and unhandled rejections seen so far
//   close()                     end the browser and everything it started, also after a failure
// Everything else (filling fields, waiting) goes through evaluate, polled from here.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startServer, cliGenerate, freePort, BIN, SHOTS, MODEL, MODEL_CONFIG } from './helpers.mjs';
export { freePort };

// TINYGPT_SKIP_BROWSERS=firefox,webkit (or 1 / all) skips these suites with a message; by
// default they run, and a missing browser fails them.
export function skipReason(browser) {
  const v = (process.env.TINYGPT_SKIP_BROWSERS || '').toLowerCase().split(/[\s,]+/).filter(Boolean);
  return v.includes(browser) || v.includes('all') || v.includes('1')
    ? `${browser} skipped: TINYGPT_SKIP_BROWSERS=${process.env.TINYGPT_SKIP_BROWSERS}`
    : false;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls `fn(...args)` in the page until it returns a truthy value (returned). On timeout the
// error names the browser, the step that waited, and what the page said.
export async function waitFor(driver, what, fn, args = [], timeout = 60_000) {
  const t0 = Date.now();
  let last;
  for (;;) {
    try {
      last = await driver.evaluate(fn, ...args);
      if (last) return last;
    } catch (e) {
      last = `evaluate failed: ${e.message}`;
    }
    if (Date.now() - t0 > timeout) {
      const said = await driver.evaluate(() => ({
        status: document.querySelector('#status')?.textContent || '',
        error: document.querySelector('[data-testid=error]')?.hidden ? '' : document.querySelector('[data-testid=error]')?.textContent || '',
      })).catch((e) => ({ unreadable: e.message }));
      const problems = await driver.problems().catch((e) => [`unreadable: ${e.message}`]);
      throw new Error(`${driver.name}: timed out after ${((Date.now() - t0) / 1000).toFixed(0)} s waiting for ${what} ` +
        `(last answer: ${JSON.stringify(last)}; the page: ${JSON.stringify(said)}; console errors: ${JSON.stringify(problems)})`);
    }
    await sleep(150);
  }
}

// Sets a field the way typing or picking would: value, then `input` and `change` (the panels
// listen to one or the other).
const fill = (driver, selector, value) => driver.evaluate((sel, v) => {
  const e = document.querySelector(sel);
  if (!e) throw new Error(`no element ${sel}`);
  e.value = v;
  if (e.value !== v) throw new Error(`${sel} did not take the value ${JSON.stringify(v)} (it has ${JSON.stringify(e.value)})`);
  e.dispatchEvent(new Event('input', { bubbles: true }));
  e.dispatchEvent(new Event('change', { bubbles: true }));
  return true;
}, selector, String(value));

const errorText = (driver) => driver.evaluate(() => {
  const e = document.querySelector('[data-testid=error]');
  return e.hidden ? '' : e.textContent;
});

// The page's way of writing a token in the lens (format.js).
const showChar = (s) => (s === '' ? '∅' : s.replace(/\n/g, '↵').replace(/\t/g, '⇥').replace(/ /g, '␣'));

async function generate(driver, prompt, { maxTokens = 40, temperature = 0.8, topK = 0, topP = 1, seed = 1337 } = {}) {
  await fill(driver, '[data-testid=prompt]', prompt);
  await fill(driver, '#maxtokens', maxTokens);
  await fill(driver, '#temperature', temperature);
  await fill(driver, '#topk', topK);
  await fill(driver, '#topp', topP);
  await fill(driver, '#seed', seed);
  await driver.click('[data-testid=generate]'); // the page marks the output not done in the click handler
  return waitFor(driver, `the generation for ${JSON.stringify(prompt)} to finish`, () => {
    const out = document.querySelector('[data-testid=output]');
    return document.body.dataset.generating === '0' && out.dataset.done === '1' && out.textContent;
  }, [], 60_000);
}

// Registers the smoke suite for one browser. `launch()` starts the browser and returns the
// driver; `serveDir()`, when given, is the page tree to serve (webkit's has a console hook).
export function smokeSuite(browser, { launch, serveDir = null, skip = skipReason(browser) }) {
  describe(`smoke in ${browser}`, { skip }, () => {
    let srv, driver;
    // The steps build on each other: after a failure the later ones are skipped, not failed
    // for the same reason again.
    let broken = null;
    const step = (name, fn, { always = false } = {}) => test(name, async (t) => {
      if (broken && !always) return t.skip(`after the failure of “${broken}”`);
      try {
        await fn();
      } catch (e) {
        broken ??= name;
        throw e;
      }
    });
    const shot = (name) => driver.screenshot(path.join(SHOTS, `${browser}-${name}.png`)).catch(() => {});
    const t0 = Date.now();
    const stamp = (what) => console.log(`# ${browser}: ${what} at ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    before(async () => {
      srv = await startServer(serveDir ? await serveDir() : undefined);
      driver = await launch();
      stamp('browser up');
    });
    after(async () => {
      if (driver) await shot('last');
      await driver?.close();
      srv?.stop();
      stamp('closed');
    });

    step('loads the page on the CPU (WebAssembly)', async () => {
      // ?cpu: no WebGPU in these browsers; it makes the choice explicit rather than probed
      await driver.open(`${srv.url}?cpu`);
      await waitFor(driver, 'body[data-ready="1"] (the default model loaded)', () => document.body.dataset.ready === '1', [], 90_000);
      const info = await driver.evaluate(() => ({
        backend: document.querySelector('[data-testid=backend-badge]').dataset.backend,
        model: document.querySelector('[data-testid=model-info]').textContent,
      }));
      assert.equal(info.backend, 'cpu');
      assert.ok(info.model.includes(MODEL_CONFIG.info), info.model);
      // which module build the worker chose (relaxed SIMD where the browser validates it)
      const simd = await waitFor(driver, 'the Device panel to name the WebAssembly build', () => document.querySelector('#devinfo').dataset.simd, [], 30_000);
      console.log(`# ${browser}: WebAssembly build "${simd}"; ${await driver.evaluate(() => navigator.userAgent)}`);
      assert.ok(['simd128', 'relaxed'].includes(simd), simd);
      assert.equal(await errorText(driver), '');
      stamp('ready');
      await shot('ready');
    });

    step('generation equals the CLI for the same checkpoint and settings', async () => {
      const s = { maxTokens: 40, temperature: 0.8, topK: 0, topP: 1, seed: 7 };
      const text = await generate(driver, 'ROMEO:', s);
      assert.equal(text, cliGenerate(MODEL, 'ROMEO:', s));
      // each character is a span tinted by its probability
      assert.ok(await driver.evaluate(() => document.querySelectorAll('[data-testid=output] .tok').length) >= 40);
      assert.equal(await errorText(driver), '');
      stamp('generated');
    });

    step("the logit lens is drawn and its last stream's last position is the greedy next token", async () => {
      const prompt = 'To be, or not';
      await fill(driver, '[data-testid=prompt]', prompt);
      const L = MODEL_CONFIG.n_layer, T = [...prompt].length;
      await waitFor(driver, `the logit lens for ${JSON.stringify(prompt)}`, (n, cells) => {
        const lens = document.querySelector('[data-testid=lens]');
        return lens.dataset.step === 'live' && Number(lens.dataset.chars) === n && lens.querySelectorAll('.lc').length === cells;
      }, [T, (L + 1) * T], 30_000);
      const cell = await driver.evaluate((s, p) => document.querySelector(`[data-testid=lens] .lc[data-stream="${s}"][data-pos="${p}"]`).textContent, L, T - 1);
      const out = await generate(driver, prompt, { maxTokens: 1, temperature: 0, seed: 1 });
      assert.equal(showChar(out.slice(prompt.length)), cell, 'the lens and greedy decoding disagree');
      await shot('lens');
      stamp('lens');
    });

    let trainedText = '', trainedPrompt = '';
    const STEPS = 20;
    step(`a toy task trains ${STEPS} steps and the loss goes down`, async () => {
      await fill(driver, '[data-testid=task-picker]', 'induction');
      assert.equal(await driver.evaluate(() => document.querySelector('input[name=corpus][value=toy]').checked), true, 'picking a task picks the toy corpus');
      // "Train for": the steps field counts only with the budget "all" (where the page has it)
      if (await driver.evaluate(() => !!document.querySelector('[data-testid=train-budget]'))) {
        await waitFor(driver, 'the "Train for" select to offer "all"', () => [...document.querySelector('[data-testid=train-budget]').options].some((o) => o.value === 'all'), [], 10_000);
        await fill(driver, '[data-testid=train-budget]', 'all');
      }
      await fill(driver, '#steps', STEPS);
      await driver.click('[data-testid=train-start]');
      await waitFor(driver, `${STEPS} training steps to finish`, (n) => {
        if (document.querySelector('[data-testid=train-step]').textContent !== String(n)) return false;
        const st = document.querySelector('[data-testid=train-state]');
        return st ? st.dataset.state === 'done'
          : document.body.dataset.training === '0' && document.querySelector('[data-testid=train-start]').textContent === 'Start';
      }, [STEPS], 90_000);
      const m = await driver.evaluate(() => ({
        first: Number(document.querySelector('[data-testid=train-loss]').dataset.first),
        last: Number(document.querySelector('[data-testid=train-loss]').textContent),
        info: document.querySelector('[data-testid=model-info]').textContent,
      }));
      assert.ok(Number.isFinite(m.first) && m.last < m.first, `loss went from ${m.first} to ${m.last}`);
      assert.match(m.info, new RegExp(`${STEPS} steps trained`));
      assert.equal(await errorText(driver), '');
      // the task's example prompt replaces the Shakespeare one; its greedy answer, for the round trip
      trainedPrompt = await driver.evaluate(() => document.querySelector('[data-testid=prompt]').value);
      trainedText = await generate(driver, trainedPrompt, { maxTokens: 12, temperature: 0, seed: 1 });
      assert.ok(trainedText.startsWith(trainedPrompt) && trainedText.length > trainedPrompt.length, trainedText);
      await shot('trained');
      stamp('trained');
    });

    let saved = '';
    step('the model downloads as a tinygpt .safetensors the CLI reads', async () => {
      // The page hands the bytes to an <a download> click on a blob: URL. Catch that click (no
      // browser download, whose file and dialogs differ per browser) and read the blob back.
      await driver.evaluate(() => {
        const blobs = new Map();
        const create = URL.createObjectURL;
        URL.createObjectURL = function (b) { const u = create.call(URL, b); blobs.set(u, b); return u; };
        window.__smokeDownload = null;
        HTMLAnchorElement.prototype.click = function () {
          if (this.hasAttribute('download') && blobs.has(this.href)) window.__smokeDownload = { name: this.download, blob: blobs.get(this.href) };
          else HTMLElement.prototype.click.call(this);
        };
      });
      await driver.click('[data-testid=model-download]');
      const name = await waitFor(driver, 'the download (an <a download> click on a blob: URL)', () => window.__smokeDownload?.name, [], 30_000);
      const b64 = await driver.evaluate(async () => {
        const bytes = new Uint8Array(await window.__smokeDownload.blob.arrayBuffer());
        let s = '';
        for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
        return btoa(s);
      });
      const bytes = Buffer.from(b64, 'base64');
      assert.match(name, new RegExp(`step${STEPS}\\.safetensors$`));
      const n = Number(bytes.readBigUInt64LE(0));
      const meta = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')).__metadata__;
      assert.equal(meta.format, 'tinygpt');
      assert.equal(meta.step, String(STEPS));
      const task = JSON.parse(execFileSync(BIN, ['tasks', '--json'], { encoding: 'utf8' })).find((t) => t.name === 'induction');
      assert.equal(JSON.parse(meta.config).n_layer, task.model.n_layer);
      saved = path.join(SHOTS, `${browser}-${name}`);
      writeFileSync(saved, bytes);
      // the same bytes generate in the CLI what the page generated
      assert.equal(cliGenerate(saved, trainedPrompt, { maxTokens: 12, temperature: 0, seed: 1 }), trainedText);
      stamp('downloaded');
    });

    step('the downloaded file loads back through the Model panel and generates the same', async () => {
      assert.ok(readFileSync(saved).length > 0);
      await driver.upload('[data-testid=model-upload]', saved);
      const base = path.basename(saved);
      await waitFor(driver, `the Model panel to load ${base}`, (f, n) => document.querySelector('#status').textContent.includes(`Loaded “${f}” (step ${n})`), [base, STEPS], 30_000);
      assert.equal(await errorText(driver), '');
      assert.equal(await generate(driver, trainedPrompt, { maxTokens: 12, temperature: 0, seed: 1 }), trainedText);
      await shot('loaded');
      stamp('loaded back');
    });

    step('no console error, page error or unhandled rejection (and the channel that says so works)', async () => {
      assert.deepEqual(await driver.problems(), []);
      // an error raised on purpose comes through (BiDi's log events arrive a little later), so
      // the empty list above meant something
      await driver.evaluate(() => { console.error('smoke: the console error channel works'); });
      const t0 = Date.now();
      let seen = [];
      while (Date.now() - t0 < 5000 && !seen.some((p) => p.includes('the console error channel works'))) {
        seen = await driver.problems();
        await sleep(100);
      }
      assert.ok(seen.some((p) => p.includes('the console error channel works')), `a console.error on purpose was not seen: ${JSON.stringify(seen)}`);
    }, { always: true });
  });
}
