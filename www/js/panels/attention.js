// The Attention panel: every head of every layer over the prompt and generated text, one head
// enlarged, and a token strip whose hover says what a token attends to and what attends to it.
import { byId, el } from '../dom.js';
import { showChar } from '../format.js';
import { viridis, heatmap, legend } from '../viz.js';

// The attention maps are n_layer x n_head x T x T floats: for GPT-2 (144 heads) over its full
// context that is 600 MB, so big models look at the last few hundred characters only.
const ATT_FLOATS = 16 * 1024 * 1024;
const MARGIN = 18; // the main heatmap's token labels
const causal = (r, k) => k > r;

// A label cut (by code points) to `width` pixels: BPE tokens are words, the axes have a cell each.
function fitText(ctx, s, width) {
  let cs = Array.from(s);
  while (cs.length > 1 && ctx.measureText(cs.join('')).width > width) cs = cs.slice(0, -1);
  return cs.join('');
}

// The top 3 [index, weight] of `pairs`.
const top3 = (pairs) => pairs.sort((x, y) => y[1] - x[1]).slice(0, 3);

export function createAttention(root, { engine, state, msg, describe }) {
  const $ = byId(root);
  let att = null; // the last answer of engine.attention
  let selected = [0, 0]; // [layer, head] enlarged
  let timer = null;
  let busy = false, again = false; // one request at a time; later asks coalesce

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(update, 300);
  }

  function text() {
    const { info } = state;
    const t = state.prompt + state.generated;
    const maxT = Math.floor(Math.sqrt(ATT_FLOATS / (info.n_layer * info.n_head)));
    if (maxT >= info.block_size) return { text: t, cut: 0 }; // the engine's own window is small enough
    const chars = Array.from(t); // whole code points: never cut a surrogate pair
    return chars.length > maxT ? { text: chars.slice(-maxT).join(''), cut: chars.length - maxT } : { text: t, cut: 0 };
  }

  async function update() {
    if (!state.info) return;
    if (busy) { again = true; return; }
    const { text: t, cut } = text();
    if (!t) return;
    const epoch = state.modelEpoch;
    busy = true;
    try {
      const a = await engine.attention(t);
      if (epoch !== state.modelEpoch) return schedule(); // asked of a model since replaced
      att = a;
      msg.clearErrorFrom('attention');
    } catch (e) {
      if (epoch !== state.modelEpoch) return schedule();
      msg.showError(`Attention: ${describe(e)}`, 'attention');
      return;
    } finally {
      busy = false;
      if (again) { again = false; schedule(); }
    }
    $('att-note').textContent = cut > 0
      ? `Showing the last ${att.t} tokens of the last ${Array.from(t).length} characters (the first ${cut} characters are out of view: a model this size has ${att.n_layer * att.n_head} heads to draw).`
      : att.offset > 0
      ? `Showing the last ${att.t} tokens (the model's context); the first ${att.offset} are out of view.`
      : 'Every head of every layer (rows: layers, columns: heads) over the prompt and generated text. Click a head to enlarge it; hover a token to see what it attends to (row) and what attends to it (column).';
    if (selected[0] >= att.n_layer || selected[1] >= att.n_head) selected = [0, 0];
    drawGrid();
    drawTokens();
    drawMain(null);
  }

  // The tokens as a strip: hover or focus one to tint the others by how much it attends to them
  // (and outline those that attend to it most), and to mark its row and column in the heatmap.
  function drawTokens() {
    const strip = $('atttokens');
    strip.textContent = '';
    att.tokens.forEach((tok, i) => {
      const s = el('span', 'atok', showChar(tok));
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
    drawMain(i);
    if (i === null) { $('atthover').textContent = ''; return; }
    const name = (k) => showChar(att.tokens[k]);
    const to = top3([...Array(i + 1).keys()].map((k) => [k, a[o + i * t + k]]));
    const from = top3([...Array(t - i).keys()].map((k) => k + i).map((k) => [k, a[o + k * t + i]]));
    $('atthover').textContent = `“${name(i)}” (#${i}) attends most to ${to.map(([k, q]) => `“${name(k)}” #${k} ${(q * 100).toFixed(0)}%`).join(', ')}; ` +
      `it is attended to most by ${from.map(([k, q]) => `#${k} “${name(k)}” ${(q * 100).toFixed(0)}%`).join(', ')}.`;
  }

  function drawGrid() {
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
        heatmap(c, att.layers[l], t, t, { off: h * t * t, mask: causal });
        const pick = () => { selected = [l, h]; drawGrid(); drawMain(null); hoverToken(null); grid.children[l * att.n_head + h].focus(); };
        c.onclick = pick;
        c.onkeydown = (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); pick(); } };
        grid.append(c);
      }
    }
  }

  function drawMain(hover) {
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
    heatmap(tmp, att.layers[l], t, t, { off: h * t * t, mask: causal });
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

  function hoverMain(e) {
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
    const row = (k) => att.layers[l][h * att.t * att.t + i * att.t + k];
    const name = (k) => showChar(att.tokens[k]);
    const top = top3([...Array(i + 1).keys()].map((k) => [k, row(k)]));
    $('atthover').textContent = `“${name(i)}” (#${i}) → “${name(j)}” (#${j}): ${j > i ? 'masked (future)' : (row(j) * 100).toFixed(1) + '%'}. ` +
      `It attends most to ${top.map(([k, q]) => `“${name(k)}” ${(q * 100).toFixed(0)}%`).join(', ')}.`;
  }

  legend($('attlegend'), viridis, '0', '1');
  $('attmain').addEventListener('mousemove', hoverMain);
  $('attmain').addEventListener('mouseleave', () => att && hoverToken(null));
  const tokIndex = (e) => (e.target.classList && e.target.classList.contains('atok') ? Number(e.target.dataset.i) : null);
  const strip = $('atttokens');
  strip.addEventListener('mouseover', (e) => { const i = tokIndex(e); if (i !== null && att) hoverToken(i); });
  strip.addEventListener('focusin', (e) => { const i = tokIndex(e); if (i !== null && att) hoverToken(i); });
  strip.addEventListener('mouseleave', () => att && hoverToken(null));
  strip.addEventListener('focusout', () => att && hoverToken(null));

  state.on('text', schedule);
  state.on('model', schedule);
  state.on('weights', (final) => { if (final) schedule(); });
  return { update };
}
