// How soon the logit lens shows what was typed (a record for docs/lab.md, not a test: nothing
// is asserted). The default model on the CPU (WebAssembly) path, or WebGPU with --gpu: a
// sentence is typed into the prompt at about 8 keys a second, and for every keystroke the time
// from its keydown to the next frame after the lens drew that text is taken in the page.
//   node tests/e2e/lab-latency.mjs [--gpu] [--delay MS]    (after ./build.sh web)
import { startServer, launch, openPage, ready } from './helpers.mjs';

const gpu = process.argv.includes('--gpu');
const i = process.argv.indexOf('--delay');
const DELAY = i > 0 ? Number(process.argv[i + 1]) : 120;
const TEXT = ' But soft, what light through yonder window breaks? It is the east.';
const pct = (xs, q) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];

const srv = await startServer();
const browser = await launch({ webgpu: gpu });
try {
  const { page } = await openPage(browser, `${srv.url}${gpu ? '' : '?cpu'}`);
  await ready(page);
  await page.waitForSelector('[data-testid=lens] .lc');
  await page.evaluate(() => {
    const prompt = document.querySelector('[data-testid=prompt]');
    const lens = document.querySelector('[data-testid=lens]');
    window.labLatency = { keys: [], shown: new Map(), engine: [] };
    prompt.addEventListener('keydown', (e) => { if (e.key.length === 1) window.labLatency.keys.push(performance.now()); }, true);
    new MutationObserver(() => {
      const n = Number(lens.dataset.chars);
      const ms = Number(lens.dataset.ms);
      requestAnimationFrame(() => {
        if (!window.labLatency.shown.has(n)) window.labLatency.shown.set(n, performance.now());
        window.labLatency.engine.push(ms);
      });
    }).observe(lens, { attributes: true, attributeFilter: ['data-chars'] });
  });
  await page.focus('[data-testid=prompt]');
  await page.keyboard.press('End');
  const start = (await page.inputValue('[data-testid=prompt]')).length;
  await page.keyboard.type(TEXT, { delay: DELAY });
  await page.waitForTimeout(1500);
  const r = await page.evaluate((n0) => {
    const { keys, shown, engine } = window.labLatency;
    // keystroke k makes the text n0 + k + 1 characters long
    const lat = keys.map((t, k) => (shown.has(n0 + k + 1) ? shown.get(n0 + k + 1) - t : null));
    return { lat, engine };
  }, start);
  const got = r.lat.filter((x) => x !== null);
  const last = r.lat.at(-1);
  console.log(JSON.stringify({
    backend: gpu ? 'webgpu' : 'cpu', keys: r.lat.length, drawn: got.length, key_delay_ms: DELAY,
    after_last_key_ms: last === null ? null : +last.toFixed(1),
    keydown_to_lens_ms: { median: +pct(got, 0.5).toFixed(1), p90: +pct(got, 0.9).toFixed(1), max: +Math.max(...got).toFixed(1) },
    engine_lens_ms_median: +pct(r.engine, 0.5).toFixed(1),
  }, null, 1));
} finally {
  await browser.close();
  srv.stop();
}
