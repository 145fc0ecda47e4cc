// The logit lens: for every residual stream (rows: 0 = the embeddings up to L = the model's
// output) and every position of the current text (columns), the token the stream would predict
// next, softmax(ln_f(h_l[t])·wteᵀ), tinted by its probability; hover or focus a cell for the top 5.
// It follows the text as it is typed (a short debounce) and after a generation, and shows a
// training snapshot's top-1 grid while the scrubber is on one.
import { byId, el } from '../dom.js';
import { showChar, pct } from '../format.js';
import { createRunner } from '../lab.js';

const TYPING_MS = 20; // the debounce while typing: the lens is due within 150 ms of a keystroke
const K = 5; // alternatives per cell
const MAX_POS = 128; // columns drawn: the last positions of a long text

// `onNext({base, now})`: the last position's distributions without and with the ablation.
export function createLens(root, { engine, state, ablation, describe, onNext }) {
  const $ = byId(root);
  const grid = $('lens');
  let lens = null; // the drawn grid: {tokens, ids, streams: [[[{id, token, prob}]]], first, step?}
  let liveLens = null;
  let base = null; // {key, answer}: the lens without the ablation, for the text and weights it was asked of
  let active = [0, 0]; // [stream, position] of the cell in the tab order

  const text = () => state.prompt + state.generated;

  async function job() {
    if (!state.info || state.generating) return;
    const t = text();
    if (!t) { grid.textContent = ''; $('lensnote').textContent = 'Type a prompt to see its logit lens.'; return; }
    const epoch = state.modelEpoch;
    const key = `${ablation.version()}\u0000${t}`;
    const heads = state.ablation.map(([l, h]) => `${l}.${h}`).join(',');
    const t0 = performance.now();
    try {
      let b, now;
      if (state.ablation.length && base && base.key === key) {
        b = base.answer;
        now = await engine.lens(t, K);
      } else {
        [b, now] = await ablation.both(() => engine.lens(t, K));
      }
      if (epoch !== state.modelEpoch) return;
      base = { key, answer: b };
      liveLens = { tokens: now.tokens, ids: now.ids, streams: now.layers, cut: now.cut, heads };
      grid.dataset.ms = (performance.now() - t0).toFixed(1);
      onNext({ base: b.layers[b.layers.length - 1].at(-1), now: now.layers[now.layers.length - 1].at(-1), heads });
      if (!state.scrub) draw(liveLens);
    } catch (e) {
      if (epoch !== state.modelEpoch) return;
      grid.textContent = '';
      lens = null;
      $('lensnote').textContent = `The lens cannot read this text: ${describe(e)}`;
    }
  }
  const runner = createRunner(job);

  // The grid: a row per stream, L at the top, then the input tokens under stream 0.
  function draw(l) {
    lens = l;
    const L = l.streams.length - 1;
    const T = l.tokens.length;
    const first = Math.max(0, T - MAX_POS);
    l.first = first;
    const cols = T - first;
    grid.textContent = '';
    grid.style.setProperty('--cols', cols);
    if (active[0] > L || active[1] >= T || active[1] < first) active = [L, T - 1];
    const frag = document.createDocumentFragment();
    for (let s = L; s >= 0; s--) {
      frag.append(el('div', 'lrow', s === L ? `out ${s}` : s === 0 ? 'emb 0' : String(s)));
      for (let p = first; p < T; p++) {
        const top = l.streams[s][p][0];
        const c = el('div', 'lc', showChar(top.token));
        c.setAttribute('role', 'gridcell');
        c.dataset.stream = s;
        c.dataset.pos = p;
        c.dataset.id = top.id;
        c.tabIndex = s === active[0] && p === active[1] ? 0 : -1;
        c.style.setProperty('--p', top.prob.toFixed(3));
        c.classList.toggle('light', top.prob > 0.55);
        frag.append(c);
      }
    }
    frag.append(el('div', 'lrow', 'input'));
    for (let p = first; p < T; p++) {
      const c = el('div', 'lin', showChar(l.tokens[p]));
      c.dataset.pos = p;
      c.dataset.input = l.ids[p];
      frag.append(c);
    }
    grid.append(frag);
    grid.dataset.chars = l.step === undefined ? text().length : '';
    grid.dataset.step = l.step === undefined ? 'live' : l.step;
    grid.dataset.heads = l.step === undefined ? l.heads : ''; // the ablation it was computed with
    const where = first > 0 ? ` Showing the last ${cols} of ${T} positions.` : '';
    $('lensnote').textContent = l.step !== undefined
      ? `Training snapshot at step ${l.step}: the top token of each stream (the scrubber's “live” end returns to the text now).${where}`
      : `${T} positions${l.cut ? ' (the last of the model’s context)' : ''} × ${L + 1} streams: row “out ${L}” is the model’s own next-token prediction; lower rows read the residual stream after fewer layers through the same final LayerNorm and unembedding.${where}`;
    hidePop();
  }

  // A snapshot's top-1 grid drawn like the live one.
  function drawSnapshot(snap) {
    const s = snap.lens;
    const T = s.tokens.length;
    const streams = [];
    for (let k = 0; k < s.streams; k++) {
      streams.push([...Array(T).keys()].map((p) => [{ id: s.top[k * T + p], token: s.labels[k * T + p], prob: s.prob[k * T + p] / 255 }]));
    }
    draw({ tokens: s.tokens, ids: s.ids, streams, cut: false, step: snap.step });
  }

  function cellAt(s, p) {
    return grid.querySelector(`.lc[data-stream="${s}"][data-pos="${p}"]`);
  }

  function showPop(cell) {
    if (!lens) return;
    const s = Number(cell.dataset.stream), p = Number(cell.dataset.pos);
    const top = lens.streams[s][p];
    const pop = $('lenspop');
    pop.textContent = '';
    const L = lens.streams.length - 1;
    const after = `after “${showChar(lens.tokens[p])}” (#${p}), stream ${s}${s === L ? ' (the output)' : s === 0 ? ' (the embeddings)' : ` (after layer ${s})`}`;
    pop.append(el('div', 'pophead', lens.step !== undefined ? `${after}: step ${lens.step}'s top token (snapshots keep only it)` : `${after}: the 5 most likely next tokens`));
    for (const a of top) {
      const row = el('div', 'poprow');
      const bar = el('span', 'popbar');
      bar.style.setProperty('--w', Math.max(0.02, a.prob).toFixed(3));
      row.append(el('code', '', showChar(a.token)), bar, el('span', '', pct(a.prob)));
      pop.append(row);
    }
    pop.hidden = false;
    const box = cell.getBoundingClientRect();
    const host = pop.offsetParent ? pop.offsetParent.getBoundingClientRect() : { left: 0, top: 0 };
    const x = Math.min(box.left - host.left, (pop.offsetParent?.clientWidth || 300) - pop.offsetWidth - 4);
    pop.style.setProperty('--x', `${Math.max(0, x)}px`);
    pop.style.setProperty('--y', `${box.bottom - host.top + 4}px`);
  }
  function hidePop() {
    $('lenspop').hidden = true;
  }

  // One tab stop for the grid; the arrow keys (Home, End) move between cells.
  function onKey(e) {
    const c = e.target.closest('.lc');
    if (!c || !lens) return;
    if (e.key === 'Escape') { hidePop(); return; }
    const L = lens.streams.length - 1, T = lens.tokens.length;
    let s = Number(c.dataset.stream), p = Number(c.dataset.pos);
    const moves = { ArrowUp: [1, 0], ArrowDown: [-1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
    if (moves[e.key]) { s += moves[e.key][0]; p += moves[e.key][1]; }
    else if (e.key === 'Home') p = lens.first;
    else if (e.key === 'End') p = T - 1;
    else return;
    e.preventDefault();
    s = Math.min(L, Math.max(0, s));
    p = Math.min(T - 1, Math.max(lens.first, p));
    const next = cellAt(s, p);
    if (!next) return;
    c.tabIndex = -1;
    next.tabIndex = 0;
    active = [s, p];
    next.focus();
  }

  grid.addEventListener('mouseover', (e) => { const c = e.target.closest('.lc'); if (c) showPop(c); });
  grid.addEventListener('mouseleave', hidePop);
  grid.addEventListener('focusin', (e) => {
    const c = e.target.closest('.lc');
    if (!c) return;
    active = [Number(c.dataset.stream), Number(c.dataset.pos)];
    showPop(c);
  });
  grid.addEventListener('focusout', hidePop);
  grid.addEventListener('keydown', onKey);

  state.on('text', () => runner.soon(TYPING_MS));
  state.on('model', () => runner.now());
  state.on('weights', (final) => { if (final) runner.now(); });
  state.on('ablation', () => runner.now());
  state.on('scrub', (snap) => {
    if (snap && snap.lens) drawSnapshot(snap);
    else if (liveLens && lens !== liveLens) draw(liveLens);
  });
  return { update: runner.now };
}
