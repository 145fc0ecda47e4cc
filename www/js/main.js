// The page: talks to the worker that owns the model, and draws what it says.
// All model output, file names and corpus text go into the page with textContent only.
import { viridis, diverging, heatmap, legend, lineChart, pushDecimated } from './viz.js';
import { TASKS, makeTask } from './toy.js';
import * as store from './store.js';

const $ = (id) => document.getElementById(id);
const MAX_UPLOAD = 20 * 1024 * 1024; // corpus files
const MAX_CKPT = 1024 * 1024 * 1024; // checkpoints

// ---------------------------------------------------------------- worker RPC
const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
let nextId = 1;
const pending = new Map();
const listeners = { token: () => {}, step: () => {} };
worker.onmessage = (e) => {
  const m = e.data;
  if (m.type === 'token') return listeners.token(m);
  if (m.type === 'step') return listeners.step(m.metrics);
  const p = pending.get(m.id);
  if (!p) return;
  pending.delete(m.id);
  m.ok ? p.resolve(m.result) : p.reject(new Error(m.error));
};
worker.onerror = (e) => showError(`The model worker failed: ${e.message || 'unknown error'}. Reload the page to start again.`);
function call(type, payload = {}, transfer = []) {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    worker.postMessage({ id, type, ...payload }, transfer);
  });
}

// ---------------------------------------------------------------- messages
function showError(msg) {
  const el = $('error');
  el.textContent = msg;
  el.hidden = false;
}
function clearError() {
  $('error').hidden = true;
  $('error').textContent = '';
}
function status(msg) {
  $('status').textContent = msg;
}
const clean = (e) => String(e && e.message ? e.message : e).replace(/^Error: /, '');

// ---------------------------------------------------------------- model info
let info = null;
function showInfo(i) {
  info = i;
  $('modelinfo').textContent = `${i.n_layer} layers × ${i.n_head} heads, width ${i.n_embd}, context ${i.block_size}, ` +
    `${i.pos} positions, vocabulary ${i.vocab_size}, ${i.params.toLocaleString()} parameters, ${i.step} steps trained.`;
  $('download').disabled = false;
  $('generate').disabled = false;
}

// ---------------------------------------------------------------- generate
let generating = false;
let generated = ''; // text generated after the prompt
const showChar = (s) => (s === '\n' ? '↵' : s === ' ' ? '␣' : s === '\t' ? '⇥' : s);

function genOptions() {
  return {
    max_tokens: Number($('maxtokens').value),
    temperature: Number($('temperature').value),
    top_k: Number($('topk').value),
    top_p: Number($('topp').value),
    seed: Number($('seed').value),
  };
}

async function generate() {
  if (generating) return;
  clearError();
  const prompt = $('prompt').value;
  const out = $('output');
  out.textContent = '';
  const p = document.createElement('span');
  p.className = 'prompt';
  p.textContent = prompt;
  out.append(p);
  generated = '';
  generating = true;
  $('generate').disabled = true;
  $('stop').disabled = false;
  const t0 = performance.now();
  let n = 0;
  listeners.token = ({ token }) => {
    n++;
    const s = document.createElement('span');
    s.className = 'tok';
    s.textContent = token.text;
    s.style.setProperty('--p', token.prob.toFixed(3));
    s.title = `p = ${(token.prob * 100).toFixed(1)}%\n` + token.top.map((a) => `${showChar(a.text)}  ${(a.prob * 100).toFixed(1)}%`).join('\n');
    out.append(s);
    generated += token.text;
    if (n % 8 === 0) scheduleAttention();
  };
  try {
    await call('generate', { prompt, opts: genOptions(), stream: 'main' });
    const secs = (performance.now() - t0) / 1000;
    status(`${n} tokens in ${secs.toFixed(1)} s (${(n / secs).toFixed(0)} tokens/s).`);
  } catch (e) {
    showError(clean(e));
  } finally {
    generating = false;
    $('generate').disabled = false;
    $('stop').disabled = true;
    scheduleAttention();
  }
}

// ---------------------------------------------------------------- attention
let att = null; // last attention result
let selected = [0, 0];
let attTimer = null;
function scheduleAttention() {
  clearTimeout(attTimer);
  attTimer = setTimeout(updateAttention, 300);
}

async function updateAttention() {
  const text = $('prompt').value + generated;
  if (!info || !text) return;
  try {
    att = await call('attention', { text });
  } catch (e) {
    showError(clean(e));
    return;
  }
  $('att-note').textContent = att.offset > 0
    ? `Showing the last ${att.t} tokens (the model's context); the first ${att.offset} are out of view.`
    : 'Every head of every layer over the prompt (and generated text). Click a head to enlarge it; hover a token to see what it attends to (row) and what attends to it (column).';
  if (selected[0] >= att.n_layer || selected[1] >= att.n_head) selected = [0, 0];
  drawAttentionGrid();
  drawAttentionMain(null);
}

function drawAttentionGrid() {
  const grid = $('attgrid');
  grid.textContent = '';
  grid.style.setProperty('--heads', att.n_head);
  const t = att.t;
  for (let l = 0; l < att.n_layer; l++) {
    for (let h = 0; h < att.n_head; h++) {
      const c = document.createElement('canvas');
      c.width = c.height = 64;
      c.tabIndex = 0;
      c.className = 'head' + (l === selected[0] && h === selected[1] ? ' selected' : '');
      c.title = `layer ${l}, head ${h}`;
      c.setAttribute('aria-label', `layer ${l} head ${h}`);
      heatmap(c, att.layers[l], t, t, { off: h * t * t, mask: (r, k) => k > r });
      const pick = () => { selected = [l, h]; drawAttentionGrid(); drawAttentionMain(null); };
      c.onclick = pick;
      c.onkeydown = (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); pick(); } };
      grid.append(c);
    }
  }
}

const MARGIN = 18;
function drawAttentionMain(hover) {
  if (!att) return;
  const c = $('attmain');
  const [l, h] = selected;
  const t = att.t;
  const size = c.width - MARGIN;
  const cell = size / t;
  const ctx = c.getContext('2d');
  ctx.clearRect(0, 0, c.width, c.height);
  const tmp = document.createElement('canvas');
  tmp.width = tmp.height = Math.max(t, Math.min(size, 512));
  heatmap(tmp, att.layers[l], t, t, { off: h * t * t, mask: (r, k) => k > r });
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(tmp, MARGIN, MARGIN, size, size);
  // token labels on both axes
  ctx.fillStyle = getComputedStyle(c).color;
  ctx.font = `${Math.max(7, Math.min(12, cell * 0.9))}px ui-monospace, monospace`;
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  if (cell >= 6) {
    att.tokens.forEach((tok, i) => {
      ctx.fillText(showChar(tok), MARGIN + (i + 0.5) * cell, MARGIN / 2);
      ctx.fillText(showChar(tok), MARGIN / 2, MARGIN + (i + 0.5) * cell);
    });
  }
  if (hover !== null) {
    ctx.strokeStyle = '#ff5a5f';
    ctx.lineWidth = 1.5;
    ctx.strokeRect(MARGIN, MARGIN + hover * cell, size, cell); // what hover attends to
    ctx.strokeStyle = '#5ac8ff';
    ctx.strokeRect(MARGIN + hover * cell, MARGIN, cell, size); // what attends to hover
  }
  $('attsel').textContent = `layer ${l}, head ${h} · ${t} tokens`;
}

function attendHover(e) {
  if (!att) return;
  const c = $('attmain');
  const r = c.getBoundingClientRect();
  const x = ((e.clientX - r.left) * c.width) / r.width - MARGIN;
  const y = ((e.clientY - r.top) * c.height) / r.height - MARGIN;
  const cell = (c.width - MARGIN) / att.t;
  const i = Math.floor(y / cell), j = Math.floor(x / cell);
  if (i < 0 || j < 0 || i >= att.t || j >= att.t) { drawAttentionMain(null); $('atthover').textContent = ''; return; }
  drawAttentionMain(i);
  const [l, h] = selected;
  const p = att.layers[l][h * att.t * att.t + i * att.t + j];
  const top = [...Array(i + 1).keys()].map((k) => [k, att.layers[l][h * att.t * att.t + i * att.t + k]]).sort((a, b) => b[1] - a[1]).slice(0, 3);
  $('atthover').textContent = `“${showChar(att.tokens[i])}” (#${i}) → “${showChar(att.tokens[j])}” (#${j}): ${j > i ? 'masked (future)' : (p * 100).toFixed(1) + '%'}. ` +
    `It attends most to ${top.map(([k, q]) => `“${showChar(att.tokens[k])}” ${(q * 100).toFixed(0)}%`).join(', ')}.`;
}

// ---------------------------------------------------------------- positional encoding
async function updatePE() {
  if (!info) return;
  let pe;
  try {
    pe = await call('pe');
  } catch (e) {
    showError(clean(e));
    return;
  }
  const { t, c, data } = pe;
  $('pe-formula').textContent = pe.kind === 'sinusoidal'
    ? 'Sinusoidal (Vaswani et al.): PE[pos, 2i] = sin(pos / 10000^(2i/C)),  PE[pos, 2i+1] = cos(pos / 10000^(2i/C))'
    : `Learned (GPT-2): the table wpe [${t} × ${c}] is a trained parameter${training ? ' — watch it change while training' : ''}.`;
  let m = 0;
  for (const v of data) m = Math.max(m, Math.abs(v));
  heatmap($('pecanvas'), data, t, c, { color: diverging, lo: -m, hi: m });
  // cosine similarity between positions
  const norms = new Float32Array(t);
  for (let i = 0; i < t; i++) {
    let s = 0;
    for (let k = 0; k < c; k++) s += data[i * c + k] ** 2;
    norms[i] = Math.sqrt(s) || 1;
  }
  const sim = new Float32Array(t * t);
  for (let i = 0; i < t; i++) {
    for (let j = 0; j < t; j++) {
      let s = 0;
      for (let k = 0; k < c; k++) s += data[i * c + k] * data[j * c + k];
      sim[i * t + j] = s / (norms[i] * norms[j]);
    }
  }
  heatmap($('pesim'), sim, t, t, { color: diverging, lo: -1, hi: 1 });
  const dims = [...new Set([0, 1, Math.min(c - 1, 4), Math.min(c - 1, 5), Math.floor(c / 2)])];
  const colors = ['#e76f51', '#2a9d8f', '#e9c46a', '#8ab17d', '#9b5de5'];
  $('pedims').textContent = dims.join(', ');
  lineChart($('pelines'), dims.map((d, k) => ({ label: `dim ${d}`, color: colors[k], points: [...Array(t).keys()].map((p) => [p, data[p * c + d]]) })), { yLabel: 'value' });
  legend($('pelegend'), diverging, (-m).toFixed(2), m.toFixed(2));
}

// ---------------------------------------------------------------- training
let training = false;
let prepared = false;
let losses = [], vals = [], accs = [];
let trainStart = 0, trainSteps0 = 0, totalSteps = 0;
let toy = null; // {name, test} when training a toy task
let resumable = false; // the loaded model came from an autosave: Resume continues it

const SIZES = { tiny: [2, 2, 64, 32], baby: [4, 4, 128, 64] };
function applySize() {
  const s = SIZES[$('sizepreset').value];
  if (!s) return;
  [$('nlayer').value, $('nhead').value, $('nembd').value, $('blocksize').value] = s;
}

function corpusKind() {
  return document.querySelector('input[name=corpus]:checked').value;
}

async function readUpload() {
  const f = $('corpusfile').files[0];
  if (!f) throw new Error('Choose a .txt file to train on.');
  if (f.size === 0) throw new Error(`“${f.name}” is empty.`);
  if (f.size > MAX_UPLOAD) throw new Error(`“${f.name}” is ${(f.size / 1048576).toFixed(0)} MB; the page trains on files up to ${MAX_UPLOAD / 1048576} MB.`);
  const bytes = await f.arrayBuffer();
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new Error(`“${f.name}” is not UTF-8 text.`);
  }
}

async function corpusText() {
  switch (corpusKind()) {
    case 'shakespeare': {
      const r = await fetch('data/shakespeare.txt');
      if (!r.ok) throw new Error('The Shakespeare corpus is missing (run ./build.sh web).');
      toy = null;
      return await r.text();
    }
    case 'paste': {
      const t = $('corpustext').value;
      if (!t) throw new Error('Paste some text to train on first.');
      toy = null;
      return t;
    }
    case 'upload':
      toy = null;
      return await readUpload();
    case 'toy': {
      const name = $('toytask').value;
      const task = makeTask(name, 3000, 20, Number($('seed').value) || 1);
      toy = { name, test: task.test };
      return task.text;
    }
  }
}

function modelSettings() {
  return { n_layer: Number($('nlayer').value), n_head: Number($('nhead').value), n_embd: Number($('nembd').value), block_size: Number($('blocksize').value), pos: $('pos').value };
}
function trainSettings() {
  const lr = Number($('lr').value);
  const steps = Number($('steps').value);
  return { batch_size: Number($('batch').value), steps, lr, min_lr: lr / 10, warmup: Math.min(100, Math.floor(steps / 10)), eval_batches: 4, seed: Number($('seed').value) || 1337 };
}

function validateSettings(m, t) {
  if (m.n_embd % m.n_head !== 0) throw new Error(`The width (${m.n_embd}) must be divisible by the number of heads (${m.n_head}).`);
  if (!(t.lr > 0 && t.lr < 1)) throw new Error(`The learning rate must be between 0 and 1; got ${t.lr}.`);
  if (!(t.steps >= 1)) throw new Error('Train for at least one step.');
}

async function prepare(fresh) {
  const text = await corpusText();
  const m = modelSettings(), t = trainSettings();
  validateSettings(m, t);
  const i = await call('prepareTraining', { corpus: text, model: m, train: t, continueModel: !fresh });
  showInfo(i);
  $('corpusinfo').textContent = `${text.length.toLocaleString()} characters${toy ? ` of “${TASKS[toy.name].label}” examples (${toy.test.length} held out)` : ''}.`;
  prepared = true;
  totalSteps = t.steps;
  if (fresh) { losses = []; vals = []; accs = []; }
}

async function startTraining() {
  clearError();
  try {
    if (!prepared) await prepare(!resumable);
    resumable = false;
  } catch (e) {
    showError(clean(e));
    return;
  }
  training = true;
  $('trainstart').disabled = true;
  $('trainpause').disabled = false;
  $('trainreset').disabled = false;
  trainStart = performance.now();
  trainSteps0 = info.step;
  const t = trainSettings();
  totalSteps = t.steps;
  const evalEvery = Math.max(10, Math.min(250, Math.floor(t.steps / 10)));
  try {
    while (training) {
      const r = await call('train', { steps: 25, evalEvery, total: totalSteps });
      if (!r.last || r.paused || r.last.step >= totalSteps) break;
      if (r.last.step % 100 < 25) await sampleAndSave(r.last.step);
    }
  } catch (e) {
    showError(`${clean(e)} — training stopped; the model is as of the last good step.`);
  }
  training = false;
  $('trainstart').disabled = false;
  $('trainstart').textContent = 'Resume';
  $('trainpause').disabled = true;
  try {
    showInfo(await call('info'));
    await sampleAndSave(info.step);
    if (toy) await scoreToy();
  } catch (e) {
    showError(clean(e));
  }
  updatePE();
}

async function sampleAndSave(step) {
  const prompt = toy ? toy.test[0][0] : '\n';
  try {
    const r = await call('generate', { prompt, opts: { max_tokens: toy ? 12 : 160, temperature: toy ? 0 : 0.8, seed: 1 } });
    $('sample').textContent = `— sample at step ${step} —\n${prompt}${r.tokens.map((t) => t.text).join('')}`;
  } catch {
    /* a prompt character outside a new vocabulary: no sample */
  }
  try {
    const bytes = await call('save');
    await store.autosave(bytes, { step, savedAt: Date.now() });
  } catch (e) {
    showError(clean(e));
  }
  updatePE();
}

async function scoreToy() {
  let right = 0;
  for (const [p, a] of toy.test) {
    const r = await call('generate', { prompt: p, opts: { max_tokens: a.length + 1, temperature: 0, seed: 1 } });
    const got = r.tokens.map((t) => t.text).join('').split('\n')[0];
    if (got === a) right++;
  }
  $('toyscore').textContent = `Held-out exact match: ${right} / ${toy.test.length} (${((100 * right) / toy.test.length).toFixed(0)}%).`;
}

listeners.step = (s) => {
  $('mstep').textContent = s.step;
  $('mloss').textContent = s.loss.toFixed(4);
  $('macc').textContent = `${(s.acc * 100).toFixed(1)}%`;
  $('mms').textContent = s.ms.toFixed(0);
  const tokens = Number($('batch').value) * Number($('blocksize').value);
  $('mtps').textContent = ((tokens * 1000) / s.ms).toFixed(0);
  const done = s.step - trainSteps0;
  const perStep = (performance.now() - trainStart) / Math.max(1, done);
  const left = Math.max(0, totalSteps - s.step) * perStep / 1000;
  $('meta').textContent = left > 90 ? `${(left / 60).toFixed(1)} min` : `${left.toFixed(0)} s`;
  pushDecimated(losses, [s.step, s.loss]);
  pushDecimated(accs, [s.step, s.acc]);
  if (s.val_loss !== undefined) {
    $('mval').textContent = s.val_loss.toFixed(4);
    pushDecimated(vals, [s.step, s.val_loss]);
  }
  lineChart($('losschart'), [
    { label: 'train loss', color: '#e76f51', points: losses },
    { label: 'val loss', color: '#2a9d8f', points: vals },
  ], { yLabel: 'loss', xMax: totalSteps });
};

function pauseTraining() {
  worker.postMessage({ type: 'pause' });
  training = false;
}

async function resetTraining() {
  pauseTraining();
  prepared = false;
  $('trainstart').textContent = 'Start';
  $('mstep').textContent = '0';
  $('mloss').textContent = $('mval').textContent = $('macc').textContent = '–';
  losses = []; vals = []; accs = [];
  lineChart($('losschart'), [], {});
  $('sample').textContent = '';
  $('toyscore').textContent = '';
  try {
    await store.clear();
  } catch { /* nothing saved */ }
}

// ---------------------------------------------------------------- model files
async function download() {
  clearError();
  try {
    const bytes = await call('save');
    const a = document.createElement('a');
    a.href = URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
    a.download = `tinygpt-step${info ? info.step : 0}.safetensors`;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  } catch (e) {
    showError(clean(e));
  }
}

async function upload() {
  clearError();
  const f = $('upload').files[0];
  if (!f) return;
  try {
    if (f.size === 0) throw new Error(`“${f.name}” is empty.`);
    if (f.size > MAX_CKPT) throw new Error(`“${f.name}” is ${(f.size / 1048576).toFixed(0)} MB, over the ${MAX_CKPT / 1048576} MB the page loads.`);
    const bytes = await f.arrayBuffer();
    const i = await call('load', { bytes, name: f.name }, [bytes]);
    showInfo(i);
    prepared = false;
    status(`Loaded “${f.name}”.`);
    scheduleAttention();
    updatePE();
  } catch (e) {
    showError(`Could not load “${f.name}”: ${clean(e)} The previous model is still loaded.`);
  } finally {
    $('upload').value = '';
  }
}

// ---------------------------------------------------------------- start-up
async function start() {
  for (const [k, t] of Object.entries(TASKS)) {
    const o = document.createElement('option');
    o.value = k;
    o.textContent = t.label;
    $('toytask').append(o);
  }
  legend($('attlegend'), viridis, '0', '1');
  $('generate').onclick = generate;
  $('stop').onclick = () => worker.postMessage({ type: 'stop' });
  $('prompt').addEventListener('input', () => { generated = ''; scheduleAttention(); });
  $('prompt').addEventListener('keydown', (e) => { if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) generate(); });
  $('attmain').addEventListener('mousemove', attendHover);
  $('attmain').addEventListener('mouseleave', () => { drawAttentionMain(null); $('atthover').textContent = ''; });
  $('trainstart').onclick = startTraining;
  $('trainpause').onclick = pauseTraining;
  $('trainreset').onclick = resetTraining;
  $('download').onclick = download;
  $('upload').onchange = upload;
  $('sizepreset').onchange = applySize;
  for (const id of ['nlayer', 'nhead', 'nembd', 'blocksize']) $(id).addEventListener('input', () => { $('sizepreset').value = 'custom'; prepared = false; });
  for (const id of ['pos', 'batch', 'lr', 'steps']) $(id).addEventListener('input', () => { prepared = false; });
  for (const r of document.querySelectorAll('input[name=corpus]')) {
    r.onchange = () => {
      prepared = false;
      $('corpustext').hidden = corpusKind() !== 'paste';
      $('corpusfile').hidden = corpusKind() !== 'upload';
    };
  }
  $('corpusfile').onchange = () => { prepared = false; };
  $('corpustext').oninput = () => { prepared = false; };

  const preferGpu = !new URLSearchParams(location.search).has('cpu');
  let dev;
  try {
    dev = await call('start', { preferGpu });
  } catch (e) {
    showError(`The model engine could not start: ${clean(e)}`);
    return;
  }
  const badge = $('badge');
  badge.textContent = dev.backend === 'webgpu' ? `WebGPU · ${dev.adapter.replace(/^WebGPU: /, '')}` : 'CPU (WebAssembly) fallback';
  badge.title = dev.reason ? `Why the CPU: ${dev.reason}` : dev.adapter;
  badge.dataset.backend = dev.backend;
  if (dev.backend !== 'webgpu' && preferGpu) status(`No WebGPU here (${dev.reason}); running on the CPU, slower but complete.`);

  // An autosave from an earlier visit wins over the default model.
  let loaded = false;
  try {
    const saved = await store.restore();
    if (saved) {
      showInfo(await call('load', { bytes: saved.bytes, name: 'autosave' }));
      status(`Restored your autosaved model (step ${saved.meta.step}).`);
      $('trainstart').textContent = 'Resume';
      resumable = true;
      loaded = true;
    }
  } catch (e) {
    showError(`Your autosave could not be restored (${clean(e)}); loading the default model.`);
  }
  if (!loaded) {
    try {
      const r = await fetch('models/shakespeare-baby.safetensors');
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      const bytes = await r.arrayBuffer();
      showInfo(await call('load', { bytes, name: 'shakespeare-baby.safetensors' }, [bytes]));
      if (dev.backend === 'webgpu' || !preferGpu) status('Ready: a small Shakespeare model is loaded. Type a prompt and press Generate.');
    } catch (e) {
      showError(`The default model could not be loaded: ${clean(e)}`);
    }
  }
  $('trainstart').disabled = false;
  $('trainreset').disabled = false;
  scheduleAttention();
  updatePE();
}

start();
