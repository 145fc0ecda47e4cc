// The Lab (the logit lens, head ablation, the surprisal map, head scores and the training
// scrubber), on WebGPU (SwiftShader here) and on the CPU fallback, driven by the keyboard where
// a control is used.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launch, openPage, ready, shot, generate, canvasInk, errorText, MODEL_CONFIG } from './helpers.mjs';

// the default model's layers and heads
const { n_layer: L, n_head: NH } = MODEL_CONFIG;

const MB = 1024 * 1024;
// The page's way of writing a token and a head's scores (format.js, attention.js).
const showChar = (s) => (s === '' ? '∅' : s.replace(/\n/g, '↵').replace(/\t/g, '⇥').replace(/ /g, '␣'));
const two = (x) => (x >= 0.995 ? '1.0' : x.toFixed(2).replace(/^0/, ''));
const scoreLine = (s, l, h) => `P\u00a0${two(s.previous_token[l][h])} I\u00a0${two(s.induction[l][h])} F\u00a0${two(s.first_token[l][h])}`;

for (const gpu of [true, false]) {
  describe(gpu ? 'WebGPU' : 'CPU', () => {
    let srv, browser, page, problems, cdp;
    before(async () => {
      srv = await startServer();
      browser = await launch({ webgpu: gpu });
      ({ page, problems } = await openPage(browser, `${srv.url}?${gpu ? 'gpu' : 'cpu'}&testhooks`));
      await ready(page);
      cdp = await page.context().newCDPSession(page);
      await cdp.send('Performance.enable');
    });
    after(async () => {
      await browser?.close();
      srv?.stop();
    });
    const tag = gpu ? 'gpu' : 'cpu';

    // The lens and the surprisal map as drawn once they answer for `chars` characters of text
    // and the ablation `heads` ("0.1,2.3"; "" for none).
    async function settled(heads, chars = null) {
      await page.waitForFunction(([h, n]) => {
        const lens = document.querySelector('[data-testid=lens]');
        const s = document.querySelector('[data-testid=surprisal]');
        const e = document.querySelector('[data-testid=ablation-effect]');
        return lens.dataset.step === 'live' && lens.dataset.heads === h && (n === null || Number(lens.dataset.chars) === n) &&
          s.dataset.heads === h && e.dataset.heads === h && (h === '' || (e.dataset.dloss !== '' && e.dataset.next !== ''));
      }, [heads, chars], { timeout: 60_000 });
      return page.evaluate(() => ({
        lens: [...document.querySelectorAll('[data-testid=lens] .lc')].map((c) => `${c.dataset.stream}:${c.dataset.pos}:${c.dataset.id}`),
        surprisal: [...document.querySelectorAll('[data-testid=surprisal] .stok')].map((s) => s.dataset.surprisal),
        base: [...document.querySelectorAll('[data-testid=surprisal-base] .stok')].map((s) => s.dataset.surprisal),
        effect: document.querySelector('[data-testid=ablation-effect]').textContent,
        dloss: document.querySelector('[data-testid=ablation-effect]').dataset.dloss,
      }));
    }
    const backend = () => page.getAttribute('[data-testid=backend-badge]', 'data-backend');

    test('the attention grid and the lens are not blank right after ready', async () => {
      assert.equal(await backend(), gpu ? 'webgpu' : 'cpu');
      // no typing, no generation: the prompt is drawn as soon as the model is there (on
      // SwiftShader ?gpu's self-check, every op at the training shape in a probe worker, shares
      // this machine's two cores with the first views, so the GPU gets longer)
      await page.waitForFunction(() => document.querySelectorAll('[data-testid=lens] .lc').length > 0 && document.querySelector('#attsel').textContent !== '', null, { timeout: gpu ? 20_000 : 5_000 });
      const info = await page.evaluate(() => ({ cells: document.querySelectorAll('[data-testid=lens] .lc').length, heads: document.querySelectorAll('[data-testid=attention-grid] canvas').length, prompt: document.querySelector('[data-testid=prompt]').value }));
      assert.equal(info.heads, L * NH);
      assert.equal(info.cells, (L + 1) * [...info.prompt].length, 'streams 0..L x one column per character');
      assert.ok((await canvasInk(page, '[data-testid=attention-main]')).colours > 4, 'the main heatmap is drawn');
      assert.ok((await canvasInk(page, '[data-testid=attention-grid] canvas >> nth=0')).colours > 2);
      // the probe, its surprisal and the heads' scores too
      await page.waitForFunction((n) => document.querySelectorAll('[data-testid=surprisal] .stok').length > 100 && document.querySelectorAll('[data-testid=head-scores] td').length === n, L * NH, { timeout: 30_000 });
      assert.ok((await page.inputValue('[data-testid=probe]')).length >= 250);
      assert.match(await page.textContent('[data-testid=head-0-0]'), /P\s(\.\d\d|1\.0) I\s(\.\d\d|1\.0) F\s(\.\d\d|1\.0)/);
      await shot(page, `lab-ready-${tag}`, { fullPage: true });
    });

    test("the lens's last stream at the last position is the greedy next token", async () => {
      for (const prompt of ['ROMEO:', 'To be, or not to be']) {
        await page.fill('[data-testid=prompt]', prompt);
        await settled('', prompt.length);
        const T = prompt.length;
        const cell = await page.$eval(`[data-testid=lens] .lc[data-stream="${L}"][data-pos="${T - 1}"]`, (c) => ({ id: c.dataset.id, text: c.textContent }));
        const out = await generate(page, prompt, { maxTokens: 1, temperature: 0, seed: 1 });
        assert.equal(showChar(out.slice(prompt.length)), cell.text, `after “${prompt}”`);
        // the lens now reads the generated token too: its id is the lens's prediction
        await settled('', T + 1);
        assert.equal(await page.getAttribute(`[data-testid=lens] .lin[data-pos="${T}"]`, 'data-input'), cell.id);
        // and the earlier positions are as they were (causal)
        assert.equal(await page.getAttribute(`[data-testid=lens] .lc[data-stream="${L}"][data-pos="${T - 1}"]`, 'data-id'), cell.id);
      }
      // focus shows a cell's top 5
      await page.focus(`[data-testid=lens] .lc[tabindex="0"]`);
      await page.keyboard.press('ArrowLeft');
      assert.equal(await page.isVisible('#lenspop'), true);
      assert.equal(await page.$$eval('#lenspop .poprow', (r) => r.length), 5);
      assert.equal(await errorText(page), '');
    });

    test('ablating heads by keyboard changes the effect readout, and clearing restores the exact outputs', async () => {
      const prompt = 'ROMEO:';
      await page.fill('[data-testid=prompt]', prompt);
      const before = await settled('', prompt.length);
      assert.match(before.effect, /No head is ablated/);
      const greedy = { maxTokens: 40, temperature: 0, seed: 1 };
      const text0 = await generate(page, prompt, greedy);
      await settled('', text0.length);

      await page.focus('[data-testid=head-0-1]');
      await page.keyboard.press('Enter');
      assert.equal(await page.getAttribute('[data-testid=head-0-1]', 'aria-pressed'), 'true');
      const one = await settled('0.1');
      assert.match(one.effect, /Ablated: layer 0 head 1\..*Probe loss \(mean surprisal\): [\d.]+ → [\d.]+ nats.*Next token after the text:/s);
      assert.notEqual(Number(one.dloss), 0);
      assert.notDeepEqual(one.surprisal, before.surprisal, 'the surprisal is recomputed with the ablation');
      assert.deepEqual(one.base, before.surprisal, 'the row without the ablation is the model as it was');

      // Space on a second head, then every head of layer 0: generation changes too
      const heads0 = [...Array(NH).keys()];
      for (const h of heads0.filter((h) => h !== 1)) {
        await page.focus(`[data-testid=head-0-${h}]`);
        await page.keyboard.press(h === 0 ? 'Space' : 'Enter');
      }
      const layer0 = await settled(heads0.map((h) => `0.${h}`).join(','));
      assert.notEqual(layer0.dloss, one.dloss);
      assert.equal(await page.$$eval('[data-testid=attention-grid] .headcell.off', (c) => c.length), NH);
      await shot(page, `lab-ablated-${tag}`, { fullPage: true });
      const ablated = await generate(page, prompt, greedy);
      assert.notEqual(ablated, text0, 'greedy generation with layer 0 ablated differs');

      // clearing (by keyboard) gives back exactly what the model computed before
      await page.focus('[data-testid=ablation-clear]');
      await page.keyboard.press('Enter');
      const cleared = await settled('', ablated.length);
      assert.equal(await page.$$eval('[data-testid^=head-][aria-pressed=true]', (b) => b.length), 0);
      assert.match(cleared.effect, /No head is ablated/);
      assert.equal(await generate(page, prompt, greedy), text0);
      const again = await settled('', prompt.length + (text0.length - prompt.length));
      await page.fill('[data-testid=prompt]', prompt);
      const restored = await settled('', prompt.length);
      assert.deepEqual(restored.lens, before.lens);
      assert.deepEqual(restored.surprisal, before.surprisal);
      assert.ok(again.lens.length > 0);
      assert.equal(await errorText(page), '');
    });

    test('the scrubber moves the attention, lens, scores and PE to a snapshot', async () => {
      await page.fill('[data-testid=prompt]', 'ROMEO:');
      await page.check('input[name=corpus][value=shakespeare]');
      await page.selectOption('#sizepreset', 'tiny');
      await page.fill('#steps', '48');
      await page.click('[data-testid=train-start]');
      await page.waitForFunction(() => (Number(document.querySelector('[data-testid=train-step]').textContent) >= 48 && document.body.dataset.training === '0') || !document.querySelector('[data-testid=error]').hidden, null, { timeout: 300_000, polling: 250 });
      assert.equal(await errorText(page), '', 'training failed');
      const s = await page.evaluate(() => window.tinygptTest.snapshots());
      assert.ok(s.snaps.length >= 3, `${s.snaps.length} snapshots`);
      assert.equal(s.snaps.at(-1).step, 48, 'the end of the run is a snapshot');
      assert.equal(await page.getAttribute('[data-testid=scrubber]', 'max'), String(s.snaps.length));
      assert.equal(await page.getAttribute('[data-testid=scrubber]', 'type'), 'range');

      // what the views show at snapshot i, to compare with the snapshot itself
      const shown = () => page.evaluate(() => ({
        lensStep: document.querySelector('[data-testid=lens]').dataset.step,
        lens: [...document.querySelectorAll('[data-testid=lens] .lc')].map((c) => [Number(c.dataset.stream), Number(c.dataset.pos), Number(c.dataset.id)]),
        scoresStep: document.querySelector('[data-testid=head-scores]').dataset.step,
        scores: [...document.querySelectorAll('[data-testid=head-scores] td')].map((td) => [td.dataset.head, td.textContent]),
        tile: document.querySelector('[data-testid=head-1-1] .hscore').textContent,
        att: document.querySelector('#att-note').textContent,
        pe: document.querySelector('#pe-formula').textContent,
      }));
      const check = async (i) => {
        const snap = s.snaps[i];
        await page.waitForFunction((st) => document.querySelector('[data-testid=lens]').dataset.step === String(st), snap.step, { timeout: 10_000 });
        const v = await shown();
        assert.equal(v.scoresStep, String(snap.step));
        const T = snap.lens.positions;
        assert.equal(v.lens.length, snap.lens.streams * T);
        for (const [st, p, id] of v.lens) assert.equal(id, snap.lens.top[st * T + p], `stream ${st}, position ${p} at step ${snap.step}`);
        for (const [head, text] of v.scores) {
          const [l, h] = head.split('.').map(Number);
          assert.equal(text, scoreLine(snap.scores, l, h), `head ${head} at step ${snap.step}`);
        }
        assert.equal(v.tile, scoreLine(snap.scores, 1, 1));
        assert.match(v.att, new RegExp(`snapshot at step ${snap.step}`));
        assert.match(v.pe, new RegExp(`training step ${snap.step}`));
        return v;
      };
      // by keyboard: Home is the first snapshot, the arrows move, End is "live"
      await page.focus('[data-testid=scrubber]');
      await page.keyboard.press('Home');
      const first = await check(0);
      await page.keyboard.press('ArrowRight');
      await check(1);
      for (let i = 2; i < s.snaps.length; i++) await page.keyboard.press('ArrowRight');
      const last = await check(s.snaps.length - 1);
      assert.notDeepEqual(first.scores, last.scores, 'the scores shown change with the snapshot');
      assert.notDeepEqual(first.lens, last.lens, 'the lens shown changes with the snapshot');
      await shot(page, `lab-scrubbed-${tag}`, { fullPage: true });
      await page.keyboard.press('End');
      await page.waitForFunction(() => document.querySelector('[data-testid=lens]').dataset.step === 'live' && document.querySelector('[data-testid=head-scores]').dataset.step === 'live', null, { timeout: 10_000 });
      assert.doesNotMatch(await page.textContent('#att-note'), /snapshot/);
      assert.equal(await page.textContent('#scrubat'), 'live');
    });

    // 2,000 steps on the CPU path; on WebGPU (SwiftShader here, ~0.5-1 s a step) 400, which still
    // fills, decimates and caps the snapshots
    const RUN = gpu ? 400 : 2000;
    test(`memory stays flat over a ${RUN}-step run with snapshots`, async () => {
      const memory = async () => {
        await cdp.send('HeapProfiler.collectGarbage');
        const { metrics } = await cdp.send('Performance.getMetrics');
        return {
          wasm: await page.evaluate(() => window.tinygptTest.memory()),
          heap: metrics.find((m) => m.name === 'JSHeapUsedSize').value,
          // Chromium's own figure, where the page has it
          perf: await page.evaluate(() => (performance.memory ? performance.memory.usedJSHeapSize : null)),
        };
      };
      // the step, or a failure (said in data-testid=error)
      const atStep = async (n) => {
        await page.waitForFunction((k) => Number(document.querySelector('[data-testid=train-step]').textContent) >= k || !document.querySelector('[data-testid=error]').hidden, n, { timeout: 900_000, polling: 500 });
        assert.equal(await errorText(page), '', 'training failed');
      };
      // a small corpus: 40 KB of the page's Shakespeare
      const corpus = await page.evaluate(async () => (await (await fetch('data/shakespeare.txt')).text()).slice(0, 40_000));
      await page.check('input[name=corpus][value=paste]');
      await page.fill('[data-testid=train-corpus]', corpus);
      await page.selectOption('#sizepreset', 'tiny');
      await page.fill('#batch', '4');
      await page.fill('#steps', String(RUN));
      await page.click('[data-testid=train-start]');
      await atStep(RUN * 0.15);
      const m0 = await memory();
      const s0 = await page.evaluate(() => window.tinygptTest.snapshots());
      await atStep(RUN);
      await page.waitForFunction(() => document.body.dataset.training === '0', null, { timeout: 300_000 });
      const m1 = await memory();
      const s = await page.evaluate(() => window.tinygptTest.snapshots());
      const share = s.snapMs / s.trainMs;
      console.log(`${tag} ${RUN} steps: ${s0.snaps.length} -> ${s.snaps.length} snapshots, every ${s.k} steps, ${(s.bytes / 1024).toFixed(0)} KB; ` +
        `they took ${(100 * share).toFixed(1)}% of the steps' time; wasm ${m0.wasm} -> ${m1.wasm} bytes; JS heap ${(m0.heap / MB).toFixed(1)} -> ${(m1.heap / MB).toFixed(1)} MB` +
        (m0.perf !== null ? ` (performance.memory ${(m0.perf / MB).toFixed(1)} -> ${(m1.perf / MB).toFixed(1)} MB)` : ''));
      assert.equal(await errorText(page), '');
      assert.ok(s.snaps.length <= 100 && s.snaps.length >= 5, `${s.snaps.length} snapshots`);
      assert.equal(s.snaps.at(-1).step, RUN);
      assert.ok(s.bytes <= s.cap, `${s.bytes} bytes of snapshots`);
      assert.ok(share < 0.15, `snapshots took ${(100 * share).toFixed(1)}% of the training time`);
      assert.ok(m1.wasm - m0.wasm <= 1 * MB, `wasm memory grew by ${m1.wasm - m0.wasm} bytes`);
      assert.ok(m1.heap - m0.heap < 8 * MB, `JS heap grew by ${((m1.heap - m0.heap) / MB).toFixed(1)} MB`);
      assert.deepEqual(problems, []);
    });
  });
}
