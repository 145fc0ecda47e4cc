// The page with the default model, on WebGPU where Chromium offers it (SwiftShader here).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launch, openPage, ready, shot, cliGenerate, generate, canvasInk, canvasHash, errorText, MODEL, MODEL_CONFIG } from './helpers.mjs';

let srv, browser, page, problems;
const SETTINGS = { maxTokens: 40, temperature: 0.8, topK: 0, topP: 1, seed: 1337 };
let reference = ''; // this page's output for PROMPT with SETTINGS
const PROMPT = 'ROMEO:';

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

test('loads without console errors and shows the backend', async () => {
  const badge = await page.textContent('[data-testid=backend-badge]');
  assert.match(badge, /WebGPU|CPU \(WebAssembly\)/);
  assert.equal(await errorText(page), '');
  // the first attention and PE draws
  await page.waitForFunction(() => document.querySelector('#attsel').textContent !== '' && document.querySelector('#pedims') !== null, null, { timeout: 30_000 });
  await page.waitForTimeout(200);
  await shot(page, 'load-1280');
  await shot(page, 'load-1280-full', { fullPage: true });
  assert.deepEqual(problems, []);
});

test('generation equals the CLI for the same checkpoint, seed and settings', async () => {
  const got = await generate(page, PROMPT, SETTINGS);
  const want = cliGenerate(MODEL, PROMPT, SETTINGS);
  assert.equal(got, want);
  reference = got;
  // every generated character carries its probability and alternatives
  const toks = await page.$$eval('[data-testid=output] .tok', (s) => s.map((e) => e.title));
  assert.equal(toks.length, SETTINGS.maxTokens);
  assert.match(toks[0], /p = [\d.]+%/);
  await page.hover('[data-testid=output] .tok >> nth=3');
  assert.equal(await page.isVisible('#tokpop'), true);
  await shot(page, 'generate');
  // a different top-k/top-p/temperature also matches
  const s2 = { maxTokens: 30, temperature: 1.1, topK: 10, topP: 0.9, seed: 42 };
  assert.equal(await generate(page, 'JULIET:', s2), cliGenerate(MODEL, 'JULIET:', s2));
});

test('attention heatmaps are drawn and follow the prompt', async () => {
  await page.fill('[data-testid=prompt]', 'To be, or not to be');
  await page.waitForFunction(() => document.querySelector('#attsel').textContent.includes('19 tokens'), null, { timeout: 30_000 });
  const heads = await page.$$('[data-testid=attention-grid] canvas');
  assert.equal(heads.length, MODEL_CONFIG.n_layer * MODEL_CONFIG.n_head);
  const ink = await canvasInk(page, '[data-testid=attention-main]');
  assert.ok(ink.colours > 8, `the main heatmap looks blank (${ink.colours} colours)`);
  const small = await canvasInk(page, '[data-testid=attention-grid] canvas >> nth=5');
  assert.ok(small.colours > 4);
  const before = await canvasHash(page, '[data-testid=attention-main]');
  const nh = MODEL_CONFIG.n_head;
  await page.click(`[data-testid=attention-grid] canvas >> nth=${nh + 1}`); // layer 1, head 1
  assert.match(await page.textContent('#attsel'), /layer 1, head 1/);
  await page.hover('[data-testid=attention-main]', { position: { x: 300, y: 300 } });
  assert.notEqual(await page.textContent('#atthover'), '');
  // hovering a token in the strip tints what it attends to and explains both directions
  await page.hover('#atttokens .atok >> nth=8');
  assert.match(await page.textContent('#atthover'), /attends most to .* attended to most by/);
  assert.equal(await page.$$eval('#atttokens .atok', (s) => s.filter((e) => e.style.getPropertyValue('--bg').startsWith('rgb')).length), 9);
  await shot(page, 'attention');
  await page.click('[data-testid=attention-grid] canvas >> nth=0');
  await page.fill('[data-testid=prompt]', 'Now is the winter of our discontent');
  await page.waitForFunction(() => document.querySelector('#attsel').textContent.includes('35 tokens'), null, { timeout: 30_000 });
  assert.notEqual(await canvasHash(page, '[data-testid=attention-main]'), before);
  // the positional-encoding panel is drawn too
  assert.ok((await canvasInk(page, '[data-testid=pe-canvas]')).colours > 8);
});

test('download then upload of the checkpoint gives the same generation', async () => {
  const [dl] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=model-download]')]);
  const file = await dl.path();
  assert.match(dl.suggestedFilename(), /\.safetensors$/);
  await page.setInputFiles('[data-testid=model-upload]', file);
  await page.waitForFunction(() => /Loaded/.test(document.querySelector('#status').textContent), null, { timeout: 60_000 });
  assert.equal(await errorText(page), '');
  assert.equal(await generate(page, PROMPT, SETTINGS), reference);
  // and the CLI reads the downloaded file
  assert.equal(cliGenerate(file, PROMPT, SETTINGS), reference);
});

test('bad inputs show a kind message and keep the model', async () => {
  const expectError = async (what, re) => {
    await page.waitForFunction(() => !document.querySelector('[data-testid=error]').hidden, null, { timeout: 30_000 });
    const msg = await errorText(page);
    assert.match(msg, re, `${what}: ${msg}`);
  };
  // a junk checkpoint
  await page.setInputFiles('[data-testid=model-upload]', { name: 'junk.safetensors', mimeType: 'application/octet-stream', buffer: Buffer.from('this is not a checkpoint at all, just words'.repeat(4)) });
  await expectError('junk checkpoint', /junk\.safetensors.*previous model is still loaded/s);
  // an empty checkpoint
  await page.setInputFiles('[data-testid=model-upload]', { name: 'empty.safetensors', mimeType: 'application/octet-stream', buffer: Buffer.alloc(0) });
  await expectError('empty checkpoint', /empty\.safetensors.*empty/s);
  // an empty corpus file
  await page.check('input[name=corpus][value=upload]');
  await page.setInputFiles('#corpusfile', { name: 'empty.txt', mimeType: 'text/plain', buffer: Buffer.alloc(0) });
  await expectError('empty corpus', /empty\.txt.*empty/s);
  // a corpus file over 20 MB is refused before it is read
  await page.setInputFiles('#corpusfile', { name: 'huge.txt', mimeType: 'text/plain', buffer: Buffer.alloc(21 * 1024 * 1024, 0x61) });
  await expectError('huge corpus', /huge\.txt.*20 MB/s);
  // a non-UTF-8 corpus file
  await page.setInputFiles('#corpusfile', { name: 'latin1.txt', mimeType: 'text/plain', buffer: Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x20, 0xff, 0xfe, 0x0a]) });
  await expectError('non-UTF-8 corpus', /latin1\.txt.*not UTF-8/s);
  await page.click('[data-testid=train-start]');
  await expectError('start with a non-UTF-8 corpus', /not UTF-8/);
  await page.check('input[name=corpus][value=shakespeare]');
  // heads that do not divide the width
  await page.selectOption('#sizepreset', 'tiny');
  await page.fill('#nhead', '3');
  await page.click('[data-testid=train-start]');
  await expectError('heads not dividing the width', /divisible/);
  await page.fill('#nhead', '2');
  // a prompt character outside the vocabulary
  await page.fill('[data-testid=prompt]', 'ROMEO: ☃');
  await page.click('[data-testid=generate]');
  await expectError('unknown character', /☃/);
  await shot(page, 'bad-inputs');
  // the model is still the Shakespeare one and still generates the same text
  assert.ok((await page.textContent('#modelinfo')).includes(MODEL_CONFIG.info));
  assert.equal(await generate(page, PROMPT, SETTINGS), reference);
  assert.equal(await errorText(page), '');
  assert.deepEqual(problems, []);
});
