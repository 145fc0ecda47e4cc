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
let errorFrom = null;
function showError(msg, from = null) {
  errorFrom = from;
  const el = $('error');
  el.textContent = msg;
  el.hidden = false;
}
function clearError() {
  $('error').hidden = true;
  $('error').textContent = '';
  // the lr offer goes with its message; a lost GPU still needs a choice
  if ($('recovergpu').hidden && $('recovercpu').hidden) $('recover').hidden = true;
}
function status(msg) {
  $('status').textContent = msg;
}
// The engine's messages, with the most common one (an unknown character) said more plainly.
function clean(e) {
  // the engine's errors start with their kind ("numeric error: ..."), which says nothing to a reader
  const msg = String(e && e.message ? e.message : e).replace(/^Error: /, '').replace(/^[a-z]+ error: /, '');
  const m = /character '(.+)' \(U\+([0-9A-Fa-f]+)\) at position (\d+) is not in the model's vocabulary of (\d+) characters/.exec(msg);
  if (m) return `The text has “${m[1]}” (U+${m[2]}, character ${Number(m[3]) + 1}), which this model never saw: it knows only the ${m[4]} characters of its training text. Remove it, or train a model on text that has it.`;
  return msg;
}

// ---------------------------------------------------------------- model info
let info = null;
let modelEpoch = 0; // bumped whenever the model (and so maybe its vocabulary) changes
function showInfo(i) {
  modelEpoch++;
  info = i;
  $('modelinfo').textContent = i.source === 'hf'
    ? `GPT-2 (Hugging Face)${hfName ? ` “${hfName}”` : ''}: ${i.n_layer} layers × ${i.n_head} heads, ${i.n_embd} wide, vocab ${i.vocab_size}, ` +
      `context ${i.block_size}, ${fmtParams(i.params)} params.`
    : `${i.n_layer} layers × ${i.n_head} heads, width ${i.n_embd}, context ${i.block_size}, ` +
      `${i.pos} positions, vocabulary ${i.vocab_size}${i.tokenizer === 'bpe' ? ' (byte-level BPE)' : ''}, ${i.params.toLocaleString()} parameters, ${i.step} steps trained.`;
  $('download').disabled = false;
  $('generate').disabled = false;
  // the GPT-2 paper's prompts mean something only to a model that reads any text (BPE)
  $('templates').hidden = i.tokenizer !== 'bpe';
  if (i.source !== 'hf') {
    // a checkpoint or a new model replaced the GPT-2: its notes and CPU notice no longer apply
    hfName = '';
    $('modelnotes').hidden = true;
    if (!$('notice').hidden) showModelDevice(null);
  }
}
// 124439808 -> "124M"; small models keep every digit.
const fmtParams = (p) => (p >= 1e6 ? `${Math.round(p / 1e6)}M` : p.toLocaleString());

// ---------------------------------------------------------------- generate
let generating = false;
let generated = ''; // text generated after the prompt
// A token's text made visible: whitespace as symbols; "" is a BPE token holding part of a character.
const showChar = (s) => (s === '' ? '∅' : s.replace(/\n/g, '↵').replace(/\t/g, '⇥').replace(/ /g, '␣'));

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
  document.body.dataset.generating = '1';
  out.dataset.done = '0';
  hidePop();
  $('generate').disabled = true;
  $('stop').disabled = false;
  const t0 = performance.now();
  let n = 0;
  // Byte-level BPE tokens can end inside a character: those come with text "" and are drawn
  // together with the token that completes the character, so no span is ever empty.
  let partial = [];
  // Spans are added once per frame: asking for the layout (to keep the view scrolled to the
  // end) after every token made each one cost as much as the whole text (10k tokens: minutes).
  let queued = [], frame = 0;
  const flush = () => {
    frame = 0;
    if (!queued.length) return;
    const stick = out.scrollTop + out.clientHeight >= out.scrollHeight - 4;
    out.append(...queued);
    queued = [];
    if (stick) out.scrollTop = out.scrollHeight;
  };
  listeners.token = ({ token }) => {
    n++;
    generated += token.text;
    if (n % 8 === 0) scheduleAttention();
    if (token.text === '') { partial.push(token); return; }
    const parts = [...partial, token];
    partial = [];
    const prob = parts.reduce((p, t) => p * t.prob, 1);
    const s = document.createElement('span');
    s.className = 'tok';
    s.textContent = token.text;
    s.style.setProperty('--p', prob.toFixed(3));
    s.title = `“${showChar(token.text)}” p = ${pct(prob)}${parts.length > 1 ? ` (${parts.length} tokens)` : ''}\n` + parts[0].top.map((a) => `${showChar(a.text)}  ${pct(a.prob)}`).join('\n');
    tokData.set(s, { text: token.text, prob, parts });
    queued.push(s);
    if (!frame) frame = requestAnimationFrame(flush);
  };
  try {
    await call('generate', { prompt, opts: genOptions(), stream: 'main' });
    const secs = (performance.now() - t0) / 1000;
    status(`Generated ${n} tokens in ${secs.toFixed(1)} s (${(n / secs).toFixed(0)} tokens/s).`);
  } catch (e) {
    showError(clean(e));
  } finally {
    cancelAnimationFrame(frame);
    flush();
    generating = false;
    $('generate').disabled = false;
    $('stop').disabled = true;
    out.dataset.done = '1';
    document.body.dataset.generating = '0';
    scheduleAttention();
  }
}

// The popover with a generated character's top-5 alternatives (hover, focus or tap).
const tokData = new WeakMap();
const pct = (p) => `${(p * 100).toFixed(p < 0.001 ? 2 : 1)}%`;
function showPop(span) {
  const token = tokData.get(span);
  if (!token) return;
  const pop = $('tokpop');
  pop.textContent = '';
  const head = document.createElement('div');
  head.className = 'pophead';
  // a character spread over several tokens: its probability is theirs multiplied, and the
  // alternatives are those to the first token, where the character began
  const first = token.parts[0];
  head.textContent = token.parts.length > 1
    ? `“${showChar(token.text)}” took ${token.parts.length} tokens, picked at ${token.parts.map((t) => pct(t.prob)).join(' × ')}; alternatives to the first:`
    : `“${showChar(token.text)}” was picked at ${pct(token.prob)}`;
  pop.append(head);
  for (const a of first.top.slice(0, 5)) {
    const row = document.createElement('div');
    row.className = 'poprow' + (a.text === first.text && first.text !== '' ? ' picked' : '');
    const ch = document.createElement('code');
    ch.textContent = showChar(a.text);
    const bar = document.createElement('span');
    bar.className = 'popbar';
    bar.style.setProperty('--w', Math.max(0.02, a.prob).toFixed(3));
    const v = document.createElement('span');
    v.textContent = pct(a.prob);
    row.append(ch, bar, v);
    pop.append(row);
  }
  pop.hidden = false;
  const box = span.getBoundingClientRect();
  const host = pop.offsetParent ? pop.offsetParent.getBoundingClientRect() : { left: 0, top: 0 };
  const x = Math.min(box.left - host.left, (pop.offsetParent?.clientWidth || 300) - pop.offsetWidth - 4);
  pop.style.setProperty('--x', `${Math.max(0, x)}px`);
  pop.style.setProperty('--y', `${box.bottom - host.top + 4}px`);
}
function hidePop() {
  $('tokpop').hidden = true;
}

// ---------------------------------------------------------------- attention
let att = null; // last attention result
let selected = [0, 0];
let attTimer = null;
let attBusy = false, attAgain = false; // one attention request at a time; later asks coalesce
function scheduleAttention() {
  clearTimeout(attTimer);
  attTimer = setTimeout(updateAttention, 300);
}

// The attention maps are n_layer x n_head x T x T floats: for GPT-2 (144 heads) over its full
// context that is 600 MB, so big models look at the last few hundred characters only.
const ATT_FLOATS = 16 * 1024 * 1024;
function attentionText() {
  const text = $('prompt').value + generated;
  const maxT = Math.floor(Math.sqrt(ATT_FLOATS / (info.n_layer * info.n_head)));
  if (maxT >= info.block_size) return { text, cut: 0 }; // the engine's own window is small enough
  const chars = Array.from(text); // whole code points: never cut a surrogate pair
  return chars.length > maxT ? { text: chars.slice(-maxT).join(''), cut: chars.length - maxT } : { text, cut: 0 };
}

async function updateAttention() {
  if (!info) return;
  if (attBusy) { attAgain = true; return; }
  const { text, cut } = attentionText();
  if (!text) return;
  const epoch = modelEpoch;
  attBusy = true;
  try {
    const a = await call('attention', { text });
    if (epoch !== modelEpoch) return scheduleAttention(); // asked of a model since replaced
    att = a;
    if (errorFrom === 'attention') clearError();
  } catch (e) {
    if (epoch !== modelEpoch) return scheduleAttention();
    showError(`Attention: ${clean(e)}`, 'attention');
    return;
  } finally {
    attBusy = false;
    if (attAgain) { attAgain = false; scheduleAttention(); }
  }
  $('att-note').textContent = cut > 0
    ? `Showing the last ${att.t} tokens of the last ${Array.from(text).length} characters (the first ${cut} characters are out of view: a model this size has ${att.n_layer * att.n_head} heads to draw).`
    : att.offset > 0
    ? `Showing the last ${att.t} tokens (the model's context); the first ${att.offset} are out of view.`
    : 'Every head of every layer (rows: layers, columns: heads) over the prompt and generated text. Click a head to enlarge it; hover a token to see what it attends to (row) and what attends to it (column).';
  if (selected[0] >= att.n_layer || selected[1] >= att.n_head) selected = [0, 0];
  drawAttentionGrid();
  drawTokenStrip();
  drawAttentionMain(null);
}

// The tokens as a strip: hover or focus one to tint the others by how much it attends to them
// (and outline those that attend to it most), and to mark its row and column in the heatmap.
function drawTokenStrip() {
  const strip = $('atttokens');
  strip.textContent = '';
  att.tokens.forEach((tok, i) => {
    const s = document.createElement('span');
    s.className = 'atok';
    s.textContent = showChar(tok);
    s.tabIndex = 0;
    s.dataset.i = i;
    strip.append(s);
  });
}
function hoverToken(i) {
  const spans = $('atttokens').children;
  const [l, h] = selected;
  const t = att.t, a = att.layers[l], o = h * t * t;
  for (let j = 0; j < spans.length; j++) {
    const sp = spans[j];
    sp.classList.toggle('focus', j === i);
    if (i === null) { sp.style.removeProperty('--bg'); sp.classList.remove('from'); continue; }
    const w = j <= i ? a[o + i * t + j] : 0; // i attends to j
    const [r, g, b] = viridis(w);
    sp.style.setProperty('--bg', j <= i ? `rgb(${r | 0} ${g | 0} ${b | 0})` : 'transparent');
    sp.classList.toggle('light', j <= i && w > 0.55);
    sp.classList.toggle('from', j > i && a[o + j * t + i] >= 0.2); // j attends to i strongly
  }
  drawAttentionMain(i);
  if (i === null) { $('atthover').textContent = ''; return; }
  const top = [...Array(i + 1).keys()].map((k) => [k, a[o + i * t + k]]).sort((x, y) => y[1] - x[1]).slice(0, 3);
  const back = [...Array(t - i).keys()].map((k) => k + i).map((k) => [k, a[o + k * t + i]]).sort((x, y) => y[1] - x[1]).slice(0, 3);
  $('atthover').textContent = `“${showChar(att.tokens[i])}” (#${i}) attends most to ${top.map(([k, q]) => `“${showChar(att.tokens[k])}” #${k} ${(q * 100).toFixed(0)}%`).join(', ')}; ` +
    `it is attended to most by ${back.map(([k, q]) => `#${k} “${showChar(att.tokens[k])}” ${(q * 100).toFixed(0)}%`).join(', ')}.`;
}

function drawAttentionGrid() {
  const grid = $('attgrid');
  grid.textContent = '';
  grid.style.setProperty('--heads', att.n_head);
  grid.classList.toggle('many', att.n_layer * att.n_head > 32); // GPT-2's 144: smaller cells, scrolling
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
      const pick = () => { selected = [l, h]; drawAttentionGrid(); drawAttentionMain(null); hoverToken(null); grid.children[l * att.n_head + h].focus(); };
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
      ctx.fillText(fitText(ctx, showChar(tok), Math.max(cell, 8)), MARGIN + (i + 0.5) * cell, MARGIN / 2);
      ctx.fillText(fitText(ctx, showChar(tok), MARGIN), MARGIN / 2, MARGIN + (i + 0.5) * cell);
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

// A label cut (by code points) to `width` pixels: BPE tokens are words, the axes have a cell each.
function fitText(ctx, s, width) {
  let cs = Array.from(s);
  while (cs.length > 1 && ctx.measureText(cs.join('')).width > width) cs = cs.slice(0, -1);
  return cs.join('');
}

function attendHover(e) {
  if (!att) return;
  const c = $('attmain');
  const r = c.getBoundingClientRect();
  const x = ((e.clientX - r.left) * c.width) / r.width - MARGIN;
  const y = ((e.clientY - r.top) * c.height) / r.height - MARGIN;
  const cell = (c.width - MARGIN) / att.t;
  const i = Math.floor(y / cell), j = Math.floor(x / cell);
  if (i < 0 || j < 0 || i >= att.t || j >= att.t) { hoverToken(null); return; }
  hoverToken(i);
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
  // cosine similarity between positions; for long contexts (GPT-2: 1024 x 768) every
  // `stride`-th position, which is all a 256-pixel canvas shows and keeps the page responsive
  const stride = Math.ceil(t / 256), n = Math.ceil(t / stride);
  const norms = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let k = 0; k < c; k++) s += data[i * stride * c + k] ** 2;
    norms[i] = Math.sqrt(s) || 1;
  }
  const sim = new Float32Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < c; k++) s += data[i * stride * c + k] * data[j * stride * c + k];
      sim[i * n + j] = s / (norms[i] * norms[j]);
    }
  }
  heatmap($('pesim'), sim, n, n, { color: diverging, lo: -1, hi: 1 });
  lastPE = pe;
  drawPELines();
  legend($('pelegend'), diverging, (-m).toFixed(2), m.toFixed(2));
}

let lastPE = null;
function drawPELines() {
  if (!lastPE) return;
  const { t, c, data } = lastPE;
  let dims = [...new Set($('pedims').value.split(/[\s,]+/).filter(Boolean).map(Number).filter((d) => Number.isInteger(d) && d >= 0 && d < c))].slice(0, 6);
  if (!dims.length) dims = [0, 1];
  const colors = ['#e76f51', '#2a9d8f', '#e9c46a', '#8ab17d', '#9b5de5', '#4cc9f0'];
  lineChart($('pelines'), dims.map((d, k) => ({ label: `dim ${d}`, color: colors[k], points: [...Array(t).keys()].map((p) => [p, data[p * c + d]]) })), { yLabel: 'value', xLabel: 'position', xMax: t - 1 });
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

function previewCorpus(text, name) {
  const chars = new Set(text).size;
  $('corpusinfo').textContent = `${name ? `“${name}”: ` : ''}${text.length.toLocaleString()} characters, ${chars} distinct.`;
  $('corpuspreview').textContent = text.slice(0, 300) + (text.length > 300 ? ' …' : '');
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
  return { n_layer: Number($('nlayer').value), n_head: Number($('nhead').value), n_embd: Number($('nembd').value), block_size: Number($('blocksize').value), pos: $('pos').value, tokenizer: $('tokenizer').value };
}
function trainSettings() {
  const lr = Number($('lr').value);
  const steps = Number($('steps').value);
  // Every TrainConfig field: the engine's deserializer does not fill in defaults.
  return {
    batch_size: Number($('batch').value), steps, lr, min_lr: lr / 10, warmup: Math.min(100, Math.floor(steps / 10)),
    beta1: 0.9, beta2: 0.99, eps: 1e-8, weight_decay: 0.1, grad_clip: 1.0, eval_interval: 0, eval_batches: 4,
    seed: Number($('seed').value) || 1337,
  };
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
  // a new vocabulary may not cover the prompt: start from a line of the new corpus instead
  try {
    await call('encode', { text: $('prompt').value });
  } catch {
    $('prompt').value = toy ? toy.test[0][0] : text.split('\n').find((l) => l.trim()) .slice(0, 40) || text.slice(0, 20);
    generated = '';
    $('output').textContent = '';
  }
  previewCorpus(text, corpusKind() === 'upload' ? $('corpusfile').files[0].name : '');
  if (toy) $('corpusinfo').textContent = `${text.length.toLocaleString()} characters of “${TASKS[toy.name].label}” examples; ${toy.test.length} more held out for scoring.`;
  prepared = true;
  totalSteps = t.steps;
  if (fresh) { losses = []; vals = []; accs = []; }
}

// The model as of its last save {bytes, step}: what training goes back to after a GPU fault
// (the faulted device's memory cannot be read back).
let lastGood = null;

function hideRecovery() {
  $('recover').hidden = true;
}
// Offers the ways on after a fault: 'gpu' and 'cpu' (a new device), 'lr' (a NaN step).
function offerRecovery(kinds) {
  for (const k of ['gpu', 'cpu', 'lr']) $(`recover${k}`).hidden = !kinds.includes(k);
  $('recover').hidden = false;
}

async function recover(kind) {
  hideRecovery();
  clearError();
  if (kind === 'lr') {
    $('lr').value = String(Number($('lr').value) / 2);
    prepared = false;
    resumable = true;
    status(`Learning rate halved to ${$('lr').value}; training continues from step ${info.step}.`);
    return startTraining();
  }
  const preferGpu = kind === 'gpu';
  status(`Starting again from step ${lastGood.step} on ${preferGpu ? 'a new GPU device' : 'the CPU'}…`);
  try {
    const dev = await call('restart', { preferGpu, bytes: lastGood.bytes.slice(0), name: `autosave (step ${lastGood.step})` });
    device = { dev, preferGpu };
    showDevice(dev, preferGpu, false);
    showInfo(dev.info);
    prepared = false;
    resumable = true;
    $('trainstart').disabled = false;
    status(`Continuing from step ${info.step} on ${dev.backend === 'webgpu' ? 'a new WebGPU device' : 'the CPU (WebAssembly)'}.`);
    return startTraining();
  } catch (e) {
    showError(`Could not start again: ${clean(e)}`);
    offerRecovery(preferGpu ? ['cpu'] : ['gpu', 'cpu']);
  }
}

let trainLoop = null;
function startTraining() {
  if (training) return;
  trainLoop = trainRun();
  return trainLoop;
}

async function trainRun() {
  clearError();
  hideRecovery();
  try {
    if (!prepared) await prepare(!resumable);
    resumable = false;
  } catch (e) {
    showError(clean(e));
    return;
  }
  // a save of the starting point, so a GPU fault before the first autosave loses nothing
  lastGood = null;
  await save(info.step);
  training = true;
  $('trainstart').disabled = true;
  $('trainpause').disabled = false;
  $('trainreset').disabled = false;
  trainStart = performance.now();
  trainSteps0 = info.step;
  const t = trainSettings();
  totalSteps = t.steps;
  const evalEvery = Math.max(10, Math.min(250, Math.floor(t.steps / 10)));
  const sampleEvery = Math.max(50, Math.min(500, Math.floor(t.steps / 8)));
  let lastSave = info.step, lastSample = info.step, finished = false, gpuFault = null, nanStep = false;
  document.body.dataset.training = '1';
  status('Training… (Pause keeps the model; it is autosaved in this browser every 50 steps.)');
  try {
    while (training) {
      const r = await call('train', { steps: 10, evalEvery, total: totalSteps });
      if (!r.last) break;
      const step = r.last.step;
      if (step >= totalSteps) { finished = true; break; }
      if (r.paused) break;
      if (step - lastSample >= sampleEvery) { lastSample = step; await sample(step); }
      if (step - lastSave >= 50) { lastSave = step; await save(step); }
      if (info.pos === 'learned') updatePE();
    }
  } catch (e) {
    gpuFault = await call('fault').catch(() => null);
    nanStep = !gpuFault && /may be too high/.test(String(e && e.message));
    if (gpuFault) {
      const at = lastGood ? `step ${lastGood.step}, its last save` : 'its last save';
      showError(`${clean(e).replace(/^./, (c) => c.toUpperCase())} — training stopped. The model as of ${at}, is kept: continue on a new GPU device or on the CPU.`);
    } else {
      const m = clean(e).replace(/^./, (c) => c.toUpperCase());
      showError(/last good step/.test(m) ? `${m} Training stopped.` : `${m} — training stopped; the model is as of the last good step.`);
    }
  }
  training = false;
  $('trainpause').disabled = true;
  // the message and the ways on are at the top of the page: bring them into view
  if (gpuFault || nanStep) $('error').scrollIntoView({ block: 'start' });
  if (gpuFault) {
    // the device's memory is gone: nothing to sample or save until a new device has the model
    document.body.dataset.training = '0';
    offerRecovery(lastGood ? ['gpu', 'cpu'] : []);
    status('The GPU failed; choose how to go on.');
    return;
  }
  if (nanStep) offerRecovery(['lr']);
  try {
    showInfo(await call('info'));
    await sample(info.step);
    await save(info.step);
    if (toy) await scoreToy();
  } catch (e) {
    showError(clean(e));
  }
  if (finished) {
    prepared = false;
    $('trainstart').textContent = 'Start';
    status(`Training finished at step ${info.step}. Start trains a new model from scratch.`);
  } else {
    $('trainstart').textContent = 'Resume';
    status(`Paused at step ${info.step}; the model is saved in this browser. Resume continues.`);
  }
  $('trainstart').disabled = false;
  document.body.dataset.training = '0';
  updatePE();
  scheduleAttention();
}

async function sample(step) {
  try {
    let text;
    if (toy) {
      const lines = [];
      for (const [p, a] of toy.test.slice(0, 3)) {
        const r = await call('generate', { prompt: p, opts: { max_tokens: a.length + 2, temperature: 0, seed: 1 }, stopAt: '\n' });
        const got = r.tokens.map((t) => t.text).join('').split('\n')[0];
        lines.push(`${p}${got}   ${got === a ? '✓' : `✗ (want ${a})`}`);
      }
      text = lines.join('\n');
    } else {
      const r = await call('generate', { prompt: '\n', opts: { max_tokens: 160, temperature: 0.8, seed: step } });
      text = r.tokens.map((t) => t.text).join('').replace(/^\n+/, '');
    }
    $('sample').textContent = `— sample at step ${step} —\n${text}`;
  } catch {
    /* a prompt character outside a new vocabulary: no sample */
  }
}

async function save(step) {
  try {
    const bytes = await call('save');
    lastGood = { bytes, step };
    await store.autosave(bytes, { step, corpus: corpusKind(), toy: toy ? toy.name : null, settings: { ...modelSettings(), ...trainSettings() } });
    $('savestate').textContent = `Autosaved at step ${step}, ${new Date().toLocaleTimeString()}.`;
  } catch (e) {
    showError(clean(e));
  }
}

async function scoreToy() {
  let right = 0;
  for (const [p, a] of toy.test) {
    const r = await call('generate', { prompt: p, opts: { max_tokens: a.length + 2, temperature: 0, seed: 1 }, stopAt: '\n' });
    const got = r.tokens.map((t) => t.text).join('').split('\n')[0];
    if (got === a) right++;
  }
  $('toyscore').textContent = `Held-out exact match: ${right} / ${toy.test.length} (${((100 * right) / toy.test.length).toFixed(0)}%).`;
}

listeners.step = (s) => {
  $('mstep').textContent = s.step;
  $('mloss').textContent = s.loss.toFixed(4);
  if (!losses.length) $('mloss').dataset.first = s.loss.toFixed(4);
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
  drawLossChart();
};

function drawLossChart() {
  lineChart($('losschart'), [
    { label: 'train loss', color: '#e76f51', points: losses },
    { label: 'val loss', color: '#2a9d8f', points: vals, dots: true },
    { label: 'accuracy (right axis)', color: '#e9c46a', points: accs, right: true },
  ], { yLabel: 'loss', xMax: totalSteps || null, empty: 'Press Start: the loss and accuracy curves appear here.' });
}

function pauseTraining() {
  worker.postMessage({ type: 'pause' });
  training = false;
}

async function resetTraining() {
  pauseTraining();
  if (trainLoop) await trainLoop;
  prepared = false;
  $('trainstart').textContent = 'Start';
  $('mstep').textContent = '0';
  $('mloss').textContent = $('mval').textContent = $('macc').textContent = '–';
  losses = []; vals = []; accs = [];
  delete $('mloss').dataset.first;
  $('mtps').textContent = $('mms').textContent = $('meta').textContent = '–';
  drawLossChart();
  $('sample').textContent = '';
  $('toyscore').textContent = '';
  try {
    await store.clear();
    $('savestate').textContent = 'Autosave cleared; the next Start trains a new model.';
  } catch { /* nothing saved */ }
  resumable = false;
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

async function upload(f = $('upload').files[0]) {
  clearError();
  if (!f) return;
  try {
    if (f.size === 0) throw new Error(`“${f.name}” is empty.`);
    if (f.size > MAX_CKPT) throw new Error(`“${f.name}” is ${(f.size / 1048576).toFixed(0)} MB, over the ${MAX_CKPT / 1048576} MB the page loads.`);
    if (training) {
      pauseTraining();
      if (trainLoop) await trainLoop;
    }
    const bytes = await f.arrayBuffer();
    const i = await call('load', { bytes, name: f.name }, [bytes]);
    showInfo(i);
    prepared = false;
    resumable = true;
    $('trainstart').textContent = 'Resume';
    status(`Loaded “${f.name}” (step ${i.step}). Generate with it, or Resume to train it further on the selected corpus.`);
    scheduleAttention();
    updatePE();
  } catch (e) {
    showError(`Could not load “${f.name}”: ${clean(e)} The previous model is still loaded.`);
  } finally {
    $('upload').value = '';
  }
}

// ---------------------------------------------------------------- Hugging Face GPT-2 folders
let hfName = ''; // the picked folder's name, when the browser says it
let loadingHf = false;

// The files of a picked folder: only its top level (a cloned repository also holds .git/ and
// other subfolders, whose files may share a name with the ones wanted).
function topLevel(files) {
  return files.filter((f) => (f.webkitRelativePath || f.name).split('/').length <= 2);
}

// Hands the picked File objects to the worker as they are: Files cross into a worker without
// their bytes, and the engine reads model.safetensors slice by slice from there.
async function loadHf(files, folder = '') {
  if (loadingHf || !files.length) return;
  clearError();
  const weights = files.find((f) => f.name === 'model.safetensors');
  const names = files.map((f) => f.name).join(', ');
  loadingHf = true;
  document.body.dataset.loading = '1';
  for (const id of ['hfupload', 'hffolder', 'upload', 'generate']) $(id).disabled = true;
  const t0 = performance.now();
  const what = weights ? `reading model.safetensors (${fmtBytes(weights.size)})` : `reading ${files.length === 1 ? files[0].name : `${files.length} files`}`;
  const progress = () => { $('hfprogress').textContent = `${what}… ${((performance.now() - t0) / 1000).toFixed(0)} s`; };
  progress();
  status(`Opening the GPT-2 model: ${what}… (a big model takes a while)`); // announced once; the panel's line counts the seconds
  const tick = setInterval(progress, 1000);
  try {
    if (training) {
      pauseTraining();
      if (trainLoop) await trainLoop;
    }
    const i = await call('loadHf', { files });
    hfName = folder;
    showInfo(i);
    showModelDevice(i);
    const notes = i.notes || [];
    $('modelnotes').textContent = notes.join(' ');
    $('modelnotes').hidden = notes.length === 0;
    // a GPT-2 is not trained further here: Start makes a new model from the selected corpus
    prepared = false;
    resumable = false;
    $('trainstart').textContent = 'Start';
    generated = '';
    $('output').textContent = '';
    const secs = ((performance.now() - t0) / 1000).toFixed(1);
    // the engine names its backend ("cpu", or the adapter); say it the way the badge does
    const where = /^cpu/i.test(i.backend || '') ? 'the CPU (WebAssembly)' : 'WebGPU';
    status(`Loaded the GPT-2 model in ${secs} s; it runs on ${where}. Type a prompt (or pick a template) and press Generate.`);
    $('hfprogress').textContent = '';
    scheduleAttention();
    updatePE();
  } catch (e) {
    $('hfprogress').textContent = '';
    status('');
    // the engine's "<kind> error: " prefix says nothing here; the file name after it does
    const msg = clean(e).replace(/^[a-z]+ error: /, '');
    const picked = files.length <= 3 ? ` (picked: ${names})` : '';
    showError(`Could not open the GPT-2 model${picked}: ${msg}${/[.!]$/.test(msg) ? '' : '.'} The previous model is still loaded.`);
  } finally {
    clearInterval(tick);
    loadingHf = false;
    document.body.dataset.loading = '0';
    for (const id of ['hfupload', 'hffolder', 'upload']) $(id).disabled = false;
    $('generate').disabled = !info || generating;
    $('hfupload').value = '';
    $('hffolder').value = '';
  }
}

const fmtBytes = (n) => (n >= 1048576 ? `${(n / 1048576).toFixed(0)} MB` : `${Math.ceil(n / 1024)} KB`);

// Where the model runs after a load: a GPT-2 too big for the WebGPU adapter is put on the CPU,
// which the badge and a notice say (a fact to know, not an error). `null`: as the device started.
function showModelDevice(i) {
  const notice = $('notice');
  if (i && i.fallback) {
    notice.textContent = i.fallback;
    notice.hidden = false;
    const badge = $('badge');
    badge.textContent = 'CPU (WebAssembly): model too big for the GPU';
    badge.title = i.fallback;
    badge.dataset.backend = 'cpu';
  } else {
    notice.hidden = true;
    notice.textContent = '';
    if (device) showDevice(device.dev, device.preferGpu, false);
  }
}

// Files dropped on the page: a lone .safetensors is a checkpoint; anything else is taken as a
// GPT-2 folder's files (a dropped folder is opened, its top level only).
async function dropped(dt) {
  const entries = [...dt.items].map((it) => (it.kind === 'file' && it.webkitGetAsEntry ? it.webkitGetAsEntry() : null));
  const dirs = entries.filter((e) => e && e.isDirectory);
  let files, folder = '';
  if (dirs.length === 1 && entries.length === 1) {
    folder = dirs[0].name;
    files = await dirFiles(dirs[0]);
  } else {
    files = [...dt.files];
  }
  if (files.length === 1 && files[0].name.endsWith('.safetensors') && files[0].name !== 'model.safetensors') return upload(files[0]);
  return loadHf(files, folder);
}

function dirFiles(dir) {
  const reader = dir.createReader();
  const all = [];
  return new Promise((resolve, reject) => {
    // readEntries answers in batches until it gives an empty one
    const more = () => reader.readEntries((batch) => {
      if (!batch.length) {
        Promise.all(all.filter((e) => e.isFile).map((e) => new Promise((res, rej) => e.file(res, rej)))).then(resolve, reject);
        return;
      }
      all.push(...batch);
      more();
    }, reject);
    more();
  });
}

function setupDrop() {
  const hasFiles = (e) => e.dataTransfer && [...e.dataTransfer.types].includes('Files');
  let depth = 0; // dragenter/dragleave fire for every child crossed
  document.addEventListener('dragenter', (e) => { if (hasFiles(e)) { depth++; document.body.classList.add('dropping'); } });
  document.addEventListener('dragleave', (e) => { if (hasFiles(e) && --depth <= 0) { depth = 0; document.body.classList.remove('dropping'); } });
  document.addEventListener('dragover', (e) => { if (hasFiles(e)) { e.preventDefault(); e.dataTransfer.dropEffect = 'copy'; } });
  document.addEventListener('drop', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth = 0;
    document.body.classList.remove('dropping');
    dropped(e.dataTransfer).catch((err) => showError(`Could not read the dropped files: ${clean(err)}`));
  });
}

// The GPT-2 paper's zero-shot prompts (Radford et al., 2019). The summary's article is a
// stand-in, selected so that pasting replaces it.
const ARTICLE = 'The city council voted on Tuesday to turn the old railway yard into a public park. Work begins next spring and is expected to take two years. (Paste your own article here.)';
const TEMPLATES = {
  summarise: { text: `${ARTICLE}\nTL;DR:`, select: [0, ARTICLE.length] },
  qa: { text: 'Q: What is the capital of France?\nA:' },
  translate: { text: 'English: The house is blue.\nFrench:' },
};
function useTemplate(name) {
  const t = TEMPLATES[name];
  const p = $('prompt');
  p.value = t.text;
  generated = '';
  p.focus();
  if (t.select) p.setSelectionRange(...t.select);
  else p.setSelectionRange(t.text.length, t.text.length);
  scheduleAttention();
}

// ---------------------------------------------------------------- start-up
let device = null; // {dev, preferGpu}: what the engine started on
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
  $('output').addEventListener('mouseover', (e) => { if (e.target.classList.contains('tok')) showPop(e.target); });
  $('output').addEventListener('click', (e) => { if (e.target.classList.contains('tok')) showPop(e.target); });
  $('output').addEventListener('mouseleave', hidePop);
  document.addEventListener('keydown', (e) => { if (e.key === 'Escape') hidePop(); });
  $('attmain').addEventListener('mousemove', attendHover);
  const tokIndex = (e) => (e.target.classList && e.target.classList.contains('atok') ? Number(e.target.dataset.i) : null);
  $('atttokens').addEventListener('mouseover', (e) => { const i = tokIndex(e); if (i !== null && att) hoverToken(i); });
  $('atttokens').addEventListener('focusin', (e) => { const i = tokIndex(e); if (i !== null && att) hoverToken(i); });
  $('atttokens').addEventListener('mouseleave', () => att && hoverToken(null));
  $('atttokens').addEventListener('focusout', () => att && hoverToken(null));
  $('pedims').addEventListener('input', drawPELines);
  $('attmain').addEventListener('mouseleave', () => att && hoverToken(null));
  $('trainstart').onclick = startTraining;
  $('trainpause').onclick = pauseTraining;
  $('trainreset').onclick = resetTraining;
  for (const k of ['gpu', 'cpu', 'lr']) $(`recover${k}`).onclick = () => recover(k);
  // Hooks the page tests use to inject faults (only with ?testhooks in the URL).
  if (new URLSearchParams(location.search).has('testhooks')) {
    window.tinygptTest = { fault: (kind) => call('testFault', { kind }), stallSaves: () => store.testStallSaves(), memory: () => call('memory') };
  }
  $('download').onclick = download;
  $('upload').onchange = () => upload();
  $('hfupload').onchange = () => loadHf([...$('hfupload').files]);
  $('hffolder').onchange = () => {
    const files = [...$('hffolder').files];
    loadHf(topLevel(files), files[0] ? files[0].webkitRelativePath.split('/')[0] : '');
  };
  setupDrop();
  $('templates').addEventListener('click', (e) => { const b = e.target.closest('button[data-template]'); if (b) useTemplate(b.dataset.template); });
  $('sizepreset').onchange = applySize;
  for (const id of ['nlayer', 'nhead', 'nembd', 'blocksize']) $(id).addEventListener('input', () => { $('sizepreset').value = 'custom'; prepared = false; });
  for (const id of ['pos', 'tokenizer', 'batch', 'lr', 'steps']) $(id).addEventListener('input', () => { prepared = false; });
  for (const r of document.querySelectorAll('input[name=corpus]')) {
    r.onchange = () => {
      prepared = false;
      $('corpustext').hidden = corpusKind() !== 'paste';
      $('corpusfile').hidden = corpusKind() !== 'upload';
      $('corpuspreview').textContent = '';
      $('corpusinfo').textContent = '';
    };
  }
  $('corpusfile').onchange = async () => {
    prepared = false;
    clearError();
    try {
      const text = await readUpload();
      previewCorpus(text, $('corpusfile').files[0].name);
    } catch (e) {
      $('corpuspreview').textContent = '';
      showError(clean(e));
    }
  };
  $('corpustext').oninput = () => { prepared = false; };

  const preferGpu = !new URLSearchParams(location.search).has('cpu');
  let dev;
  try {
    dev = await call('start', { preferGpu });
  } catch (e) {
    showError(`The model engine could not start: ${clean(e)}`);
    return;
  }
  device = { dev, preferGpu };
  showDevice(dev, preferGpu);

  // An autosave from an earlier visit wins over the default model.
  let loaded = false;
  try {
    const saved = await store.restore();
    if (saved) {
      showInfo(await call('load', { bytes: saved.bytes, name: 'autosave' }));
      restoreSettings(saved.meta || {});
      const when = saved.savedAt ? ` from ${new Date(saved.savedAt).toLocaleString()}` : '';
      status(`Restored your autosaved model (step ${info.step}${when}) instead of the default one. Resume continues its training; Reset forgets it.`);
      $('savestate').textContent = `Restored from the autosave in this browser (step ${info.step}).`;
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
  drawLossChart();
  document.body.dataset.ready = info ? '1' : '0';
  updateAttention();
  updatePE();
}

function showDevice(dev, preferGpu, announce = true) {
  const badge = $('badge');
  const g = dev.gpu;
  const gpuName = g ? [g.vendor, g.architecture, g.device || g.description].filter(Boolean).join(' ') : '';
  const name = gpuName || dev.adapter.replace(/^WebGPU: /, '');
  badge.textContent = dev.backend === 'webgpu' ? `WebGPU · ${name}${g && g.fallback ? ' (software)' : ''}` : 'CPU (WebAssembly) fallback';
  badge.title = dev.reason ? `Why the CPU: ${dev.reason}` : dev.adapter;
  badge.dataset.backend = dev.backend;
  const rows = [['Backend', dev.backend === 'webgpu' ? 'WebGPU (compute shaders)' : 'CPU (WebAssembly) fallback']];
  if (dev.backend === 'webgpu') {
    rows.push(['Adapter', name || 'unnamed']);
    if (g) rows.push(['Kind', g.fallback ? 'software (fallback) adapter' : 'hardware adapter']);
    rows.push(['wgpu says', dev.adapter]);
  } else {
    rows.push(['Why', dev.reason || 'unknown']);
    rows.push(['WebGPU API', dev.webgpuApi ? 'present, but no usable adapter' : 'not in this browser']);
  }
  const dl = $('devinfo');
  dl.textContent = '';
  for (const [k, v] of rows) {
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.textContent = v;
    dl.append(dt, dd);
  }
  if (announce && dev.backend !== 'webgpu' && preferGpu) status('No WebGPU here, so the model runs on the CPU (WebAssembly): slower, but everything works. The Device panel says why.');
}

// Puts the training controls back as they were when an autosave was written.
function restoreSettings(meta) {
  const s = meta.settings;
  if (meta.corpus) {
    const r = document.querySelector(`input[name=corpus][value="${meta.corpus === 'toy' ? 'toy' : 'shakespeare'}"]`);
    if (r) { r.checked = true; r.onchange(); }
  }
  if (meta.toy && TASKS[meta.toy]) $('toytask').value = meta.toy;
  if (!s) return;
  const ids = { n_layer: 'nlayer', n_head: 'nhead', n_embd: 'nembd', block_size: 'blocksize', pos: 'pos', tokenizer: 'tokenizer', batch_size: 'batch', lr: 'lr', steps: 'steps' };
  for (const [k, id] of Object.entries(ids)) if (s[k] !== undefined) $(id).value = s[k];
  $('sizepreset').value = Object.keys(SIZES).find((k) => SIZES[k].join() === [s.n_layer, s.n_head, s.n_embd, s.block_size].join()) || 'custom';
  totalSteps = s.steps || 0;
}

start();
