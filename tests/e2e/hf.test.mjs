// Opening a Hugging Face GPT-2 folder in the page (WebGPU where Chromium offers it): the tiny
// random GPT-2 of tests/fixtures/hf_tiny generates what `tinygpt generate` does for the same
// folder, bad folders leave the loaded model alone, and the prompt templates follow the tokenizer.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, copyFileSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startServer, launch, openPage, ready, shot, cliGenerate, generate, canvasInk, errorText, MODEL, MODEL_CONFIG, ROOT } from './helpers.mjs';

const HF = path.join(ROOT, 'tests/fixtures/hf_tiny');
const HF_FILES = readdirSync(HF).map((f) => path.join(HF, f));
// non-ASCII, so byte-level BPE tokens end inside characters (ö is 2 bytes, 🦀 is 4)
const PROMPT = 'Hello wörld 🦀';
const SETTINGS = { maxTokens: 20, temperature: 0.8, topK: 0, topP: 1, seed: 7 };

let srv, browser, page, problems, tmp;

before(async () => {
  srv = await startServer();
  browser = await launch({ webgpu: true });
  // ?gpu: the GPT-2 goes on the WebGPU device (by measurement the page would pick the CPU here)
  ({ page, problems } = await openPage(browser, `${srv.url}?gpu`));
  await ready(page);
  tmp = mkdtempSync(path.join(tmpdir(), 'tinygpt-hf-'));
});
after(async () => {
  await browser?.close();
  srv?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

// A random GPT-2 folder of `L` layers x `H` heads (GPT-2 124M's 12 x 12 by default, but only
// 48 wide), weights in float16 as many Hub uploads are, with hf_tiny's tokenizer.
function writeGpt2(dir, { L = 12, H = 12, C = 48, T = 512, V = 300 } = {}) {
  mkdirSync(dir, { recursive: true });
  for (const f of ['tokenizer.json', 'vocab.json', 'merges.txt']) copyFileSync(path.join(HF, f), path.join(dir, f));
  const cfg = JSON.parse(readFileSync(path.join(HF, 'config.json'), 'utf8'));
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...cfg, n_layer: L, n_head: H, n_embd: C, n_positions: T, vocab_size: V, dtype: 'float16' }));
  const shapes = [['transformer.wte.weight', [V, C]], ['transformer.wpe.weight', [T, C]], ['transformer.ln_f.weight', [C]], ['transformer.ln_f.bias', [C]]];
  for (let l = 0; l < L; l++) {
    const p = `transformer.h.${l}.`;
    shapes.push([`${p}ln_1.weight`, [C]], [`${p}ln_1.bias`, [C]], [`${p}attn.c_attn.weight`, [C, 3 * C]], [`${p}attn.c_attn.bias`, [3 * C]],
      [`${p}attn.c_proj.weight`, [C, C]], [`${p}attn.c_proj.bias`, [C]], [`${p}ln_2.weight`, [C]], [`${p}ln_2.bias`, [C]],
      [`${p}mlp.c_fc.weight`, [C, 4 * C]], [`${p}mlp.c_fc.bias`, [4 * C]], [`${p}mlp.c_proj.weight`, [4 * C, C]], [`${p}mlp.c_proj.bias`, [C]]);
  }
  let seed = 12345;
  const rand = () => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed / 2 ** 32 - 0.5; };
  const header = { __metadata__: { format: 'pt' } };
  const chunks = [];
  let off = 0;
  for (const [name, shape] of shapes) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Uint16Array(n);
    const ln = /ln_.*weight/.test(name);
    // weights of about ±0.2 (large enough for attention that is not uniform), LayerNorm gains 1
    for (let i = 0; i < n; i++) data[i] = toHalf(ln ? 1 : rand() * (name.includes('wte') || name.includes('wpe') ? 1 : 0.4));
    header[name] = { dtype: 'F16', shape, data_offsets: [off, off + 2 * n] };
    chunks.push(Buffer.from(data.buffer));
    off += 2 * n;
  }
  const h = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  writeFileSync(path.join(dir, 'model.safetensors'), Buffer.concat([len, h, ...chunks]));
}
// float32 -> IEEE half (round toward zero; the values here are small normals)
function toHalf(x) {
  const f = new Float32Array([x]);
  const b = new Uint32Array(f.buffer)[0];
  const sign = (b >>> 16) & 0x8000, exp = ((b >>> 23) & 0xff) - 127 + 15, man = (b >>> 13) & 0x3ff;
  if (exp <= 0) return sign; // tiny: zero
  return sign | (exp << 10) | man;
}

// Waits for a load started through one of the model inputs to finish (either way).
async function loaded() {
  await page.waitForFunction(() => document.body.dataset.loading !== '1', null, { timeout: 120_000 });
}
async function expectError(what, re) {
  await page.waitForFunction(() => !document.querySelector('[data-testid=error]').hidden, null, { timeout: 60_000 });
  const msg = await errorText(page);
  assert.match(msg, re, `${what}: ${msg}`);
}
const templatesShown = () => page.isVisible('[data-testid=prompt-templates]');

test('bad GPT-2 folders show which file is wrong and keep the model', async () => {
  assert.equal(await templatesShown(), false); // the default model reads characters
  // only config.json picked: the tokenizer and weights are missing
  await page.setInputFiles('[data-testid=hf-upload]', path.join(HF, 'config.json'));
  await expectError('config.json alone', /(tokenizer\.json|model\.safetensors).*missing|missing.*(tokenizer\.json|model\.safetensors)/s);
  assert.match(await errorText(page), /previous model is still loaded/);
  // a whole folder, but its config.json is a Llama's
  const llama = path.join(tmp, 'llama');
  mkdirSync(llama);
  readdirSync(HF).forEach((f) => { if (f !== 'config.json') copyFileSync(path.join(HF, f), path.join(llama, f)); });
  const cfg = JSON.parse(readFileSync(path.join(HF, 'config.json'), 'utf8'));
  writeFileSync(path.join(llama, 'config.json'), JSON.stringify({ ...cfg, model_type: 'llama', architectures: ['LlamaForCausalLM'] }));
  await page.setInputFiles('[data-testid=hf-upload]', readdirSync(llama).map((f) => path.join(llama, f)));
  await expectError('a Llama config', /config\.json.*llama/s);
  await shot(page, 'hf-bad-folder');
  // the Shakespeare model is still there and generates what the CLI does
  assert.ok((await page.textContent('[data-testid=model-info]')).includes(MODEL_CONFIG.info));
  const s = { maxTokens: 30, temperature: 0.8, topK: 0, topP: 1, seed: 3 };
  assert.equal(await generate(page, 'ROMEO:', s), cliGenerate(MODEL, 'ROMEO:', s));
  assert.equal(await errorText(page), '');
  assert.equal(await templatesShown(), false);
});

test('a GPT-2 folder opens, draws its heads and generates what the CLI does', async () => {
  await page.setInputFiles('[data-testid=hf-upload]', HF_FILES);
  await loaded();
  assert.equal(await errorText(page), '');
  assert.match(await page.textContent('[data-testid=model-info]'), /GPT-2 \(Hugging Face\): 2 layers × 4 heads, 64 wide, vocab 300, context 32/);
  assert.match(await page.textContent('#status'), /Loaded the GPT-2 model in [\d.]+ s; it runs on WebGPU/);
  assert.equal(await templatesShown(), true);
  // every (layer, head) has a heatmap, and none is blank
  await page.fill('[data-testid=prompt]', PROMPT);
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=attention-grid] canvas').length === 8 && /tokens/.test(document.querySelector('#attsel').textContent), null, { timeout: 30_000 });
  for (let k = 0; k < 8; k++) {
    const ink = await canvasInk(page, `[data-testid=attention-grid] canvas >> nth=${k}`);
    assert.ok(ink.colours > 2, `head ${k} looks blank (${ink.colours} colours)`);
  }
  // the learned wpe is drawn
  await page.waitForFunction(() => /Learned/.test(document.querySelector('#pe-formula').textContent), null, { timeout: 30_000 });
  assert.ok((await canvasInk(page, '[data-testid=pe-canvas]')).colours > 8);

  const got = await generate(page, PROMPT, SETTINGS);
  assert.equal(got, cliGenerate(HF, PROMPT, SETTINGS));
  // tokens that end inside a character draw nothing of their own: no empty spans, and the
  // spans are exactly the continuation
  const spans = await page.$$eval('[data-testid=output] .tok', (s) => s.map((e) => e.textContent));
  assert.ok(spans.every((t) => t !== ''), 'an empty token span');
  assert.equal(PROMPT + spans.join(''), got);
  // with this seed some characters took two tokens (a byte-level model of random weights
  // emits stray UTF-8 lead bytes): one span each, whose popover says so
  const titles = await page.$$eval('[data-testid=output] .tok', (s) => s.map((e) => e.title));
  const multi = titles.findIndex((t) => /\(2 tokens\)/.test(t));
  assert.ok(spans.length < SETTINGS.maxTokens && multi >= 0, `${spans.length} spans for ${SETTINGS.maxTokens} tokens`);
  await page.hover(`[data-testid=output] .tok >> nth=${multi}`);
  assert.match(await page.textContent('#tokpop'), /took 2 tokens, picked at [\d.]+% × [\d.]+%/);
  await shot(page, 'hf-loaded');
  await shot(page, 'hf-loaded-full', { fullPage: true });

  // a template fills the prompt; greedy generation from it matches the CLI too
  await page.click('[data-testid=prompt-templates] button[data-template=qa]');
  const qa = await page.inputValue('[data-testid=prompt]');
  assert.equal(qa, 'Q: What is the capital of France?\nA:');
  const greedy = { maxTokens: 12, temperature: 0, topK: 0, topP: 1, seed: 1 };
  assert.equal(await generate(page, qa, greedy), cliGenerate(HF, qa, greedy));
  await page.click('[data-testid=prompt-templates] button[data-template=summarise]');
  assert.match(await page.inputValue('[data-testid=prompt]'), /\nTL;DR:$/);
  assert.equal(await errorText(page), '');
});

test("GPT-2's 144 heads stay a compact grid; float16 weights are converted and said so", async () => {
  const dir = path.join(tmp, 'gpt2-shape');
  writeGpt2(dir);
  await page.setInputFiles('[data-testid=hf-upload]', readdirSync(dir).map((f) => path.join(dir, f)));
  await loaded();
  assert.equal(await errorText(page), '');
  assert.match(await page.textContent('[data-testid=model-info]'), /GPT-2 \(Hugging Face\): 12 layers × 12 heads, 48 wide, vocab 300, context 512/);
  assert.match(await page.textContent('#modelnotes'), /F16/);
  await page.fill('[data-testid=prompt]', 'The quick brown fox jumps over the lazy dog.');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=attention-grid] canvas').length === 144, null, { timeout: 60_000 });
  const grid = await page.$eval('[data-testid=attention-grid]', (g) => {
    const r = g.getBoundingClientRect(), c = g.querySelector('canvas').getBoundingClientRect();
    return { h: r.height, w: r.width, scroll: g.scrollHeight, cell: c.width };
  });
  assert.ok(grid.h <= 400, `the grid is ${grid.h} px tall`);
  assert.ok(grid.cell >= 20, `cells of ${grid.cell} px`);
  for (const k of [0, 77, 143]) {
    assert.ok((await canvasInk(page, `[data-testid=attention-grid] canvas >> nth=${k}`)).colours > 2, `head ${k} looks blank`);
  }
  // the last head (layer 11, head 11) can be picked
  await page.click('[data-testid=attention-grid] canvas >> nth=143');
  assert.match(await page.textContent('#attsel'), /layer 11, head 11/);
  const s = { maxTokens: 20, temperature: 0.8, topK: 0, topP: 1, seed: 7 };
  assert.equal(await generate(page, PROMPT, s), cliGenerate(dir, PROMPT, s));
  await shot(page, 'hf-144-heads');
  // 144 heads over a long text would be hundreds of MB of maps: the view keeps the last
  // sqrt(16M / 144) = 341 characters and says so
  await page.fill('[data-testid=prompt]', 'All work and no play makes Jack a dull boy. '.repeat(10));
  await page.waitForFunction(() => /characters are out of view/.test(document.querySelector('#att-note').textContent), null, { timeout: 60_000 });
  assert.match(await page.textContent('#att-note'), /last 341 characters \(the first 99 characters are out of view/);
  const t = Number((await page.textContent('#attsel')).match(/(\d+) tokens/)[1]);
  assert.ok(t > 0 && t <= 341, `${t} tokens`);
});

test('loading a character model back hides the templates', async () => {
  await page.fill('[data-testid=prompt]', 'ROMEO:'); // "ö" and "🦀" are not in its vocabulary
  await page.setInputFiles('[data-testid=model-upload]', MODEL);
  await page.waitForFunction(() => /Loaded “shakespeare\.safetensors/.test(document.querySelector('#status').textContent), null, { timeout: 60_000 });
  assert.equal(await errorText(page), '');
  assert.equal(await templatesShown(), false);
  assert.ok((await page.textContent('[data-testid=model-info]')).includes(MODEL_CONFIG.info));
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid=attention-grid] canvas').length === n, MODEL_CONFIG.n_layer * MODEL_CONFIG.n_head, { timeout: 30_000 });
  const s = { maxTokens: 30, temperature: 0.8, topK: 0, topP: 1, seed: 3 };
  assert.equal(await generate(page, 'ROMEO:', s), cliGenerate(MODEL, 'ROMEO:', s));
});

test('the folder picker and a drop open the GPT-2 too', async () => {
  await page.setInputFiles('[data-testid=hf-folder]', HF);
  await loaded();
  assert.equal(await errorText(page), '');
  assert.match(await page.textContent('[data-testid=model-info]'), /GPT-2 \(Hugging Face\) “hf_tiny”: 2 layers × 4 heads/);
  assert.equal(await templatesShown(), true);
  assert.equal(await generate(page, PROMPT, SETTINGS), cliGenerate(HF, PROMPT, SETTINGS));

  await page.setInputFiles('[data-testid=model-upload]', MODEL);
  await page.waitForFunction(() => /Loaded “shakespeare\.safetensors/.test(document.querySelector('#status').textContent), null, { timeout: 60_000 });
  assert.equal(await templatesShown(), false);
  // files dropped on the page (built in the page, as a drag from the desktop would bring them)
  const files = readdirSync(HF).map((f) => [f, readFileSync(path.join(HF, f)).toString('base64')]);
  await page.evaluate((files) => {
    const dt = new DataTransfer();
    for (const [name, b64] of files) dt.items.add(new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], name));
    document.querySelector('#model').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, files);
  await page.waitForFunction(() => /GPT-2/.test(document.querySelector('[data-testid=model-info]').textContent) && document.body.dataset.loading === '0', null, { timeout: 60_000 });
  assert.equal(await errorText(page), '');
  assert.equal(await templatesShown(), true);
  assert.equal(await generate(page, PROMPT, SETTINGS), cliGenerate(HF, PROMPT, SETTINGS));
  assert.deepEqual(problems, []);
});
