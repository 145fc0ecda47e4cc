// The Attention panel: every head of every layer over the prompt and generated text, one head
// enlarged, and a token strip whose hover says what a token attends to and what attends to it.
// Each head's tile also carries its scores on the Lab's probe and a button that ablates it;
// while the training scrubber shows a snapshot, the panel draws the snapshot's attention.
import { byId, el } from '../dom.js';
import { showChar } from '../format.js';
import { viridis, heatmap, legend } from '../viz.js';
import { KINDS, bestHeads } from '../lab.js';

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

// A snapshot's attention (bytes, 0..255) as engine.attention answers it (floats).
const unpack = (a) => ({ ...a, offset: 0, layers: a.layers.map((l) => Float32Array.from(l, (v) => v / 255)) });

// A head's three scores, written small: "P .82 I .10 F .05".
const two = (x) => (x >= 0.995 ? '1.0' : x.toFixed(2).replace(/^0/, ''));
export const scoreLine = (s, l, h) => `P\u00a0${two(s.previous_token[l][h])} I\u00a0${two(s.induction[l][h])} F\u00a0${two(s.first_token[l][h])}`;

export function createAttention(root, { engine, state, msg, describe, ablation }) {
  const $ = byId(root);
  let live = null; // the last answer of engine.attention
  let att = null; // what is drawn: `live`, or the scrubbed snapshot's attention
  const unpacked = new WeakMap(); // snapshot -> its attention as floats
  let tiles = null; // [{cell, canvas, button}] of the grid, for the shape `tilesShape`
  let tilesShape = '';
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
      live = { ...a, cut };
      msg.clearErrorFrom('attention');
    } catch (e) {
      if (epoch !== state.modelEpoch) return schedule();
      msg.showError(`Attention: ${describe(e)}`, 'attention');
      return;
    } finally {
      busy = false;
      if (again) { again = false; schedule(); }
    }
    live.chars = Array.from(t).length;
    if (!state.scrub) show(live);
  }

  // Draws `a` (the live attention or a snapshot's) everywhere in the panel.
  function show(a) {
    att = a;
    const snap = state.scrub;
    const abl = state.ablation.length ? ` With ${state.ablation.length} head${state.ablation.length > 1 ? 's' : ''} ablated.` : '';
    $('att-note').textContent = a !== live
      ? `Training snapshot at step ${snap.step}: the start of the Lab's probe (its first ${a.t} tokens, which the head scores read; the scrubber's “live” end shows the prompt again).`
      : (a.cut > 0
        ? `Showing the last ${a.t} tokens of the last ${a.chars} characters (the first ${a.cut} characters are out of view: a model this size has ${a.n_layer * a.n_head} heads to draw).`
        : a.offset > 0
        ? `Showing the last ${a.t} tokens (the model's context); the first ${a.offset} are out of view.`
        : 'Every head of every layer (rows: layers, columns: heads) over the prompt and generated text. Click a head to enlarge it; hover a token to see what it attends to (row) and what attends to it (column). The button under a head switches it off (ablation).') + abl;
    if (selected[0] >= a.n_layer || selected[1] >= a.n_head) selected = [0, 0];
    drawGrid();
    drawTokens();
    drawMain(null);
  }

  function showScrub(snap) {
    if (!snap || !snap.att) { if (live && att !== live) show(live); return; }
    if (!unpacked.has(snap)) unpacked.set(snap, unpack(snap.att));
    show(unpacked.get(snap));
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

  // The tiles (a heatmap and its ablation button per head), made once per model shape so that
  // redrawing keeps the keyboard focus where it was.
  function makeTiles(grid, nl, nh) {
    grid.textContent = '';
    tiles = [];
    for (let l = 0; l < nl; l++) {
      for (let h = 0; h < nh; h++) {
        const cell = el('div', 'headcell');
        const c = document.createElement('canvas');
        c.width = c.height = 64;
        c.className = 'head';
        c.tabIndex = 0;
        c.title = `layer ${l}, head ${h}`;
        c.setAttribute('aria-label', `layer ${l} head ${h}`);
        const pick = () => { selected = [l, h]; drawGrid(); drawMain(null); hoverToken(null); c.focus(); };
        c.onclick = pick;
        c.onkeydown = (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); pick(); } };
        const b = el('button', 'headbtn');
        b.type = 'button';
        b.dataset.testid = `head-${l}-${h}`;
        b.setAttribute('aria-pressed', 'false');
        b.append(el('span', 'hname', `${l}.${h}`), el('span', 'hkind'), el('span', 'hscore'));
        b.onclick = () => ablation.toggle(l, h);
        cell.append(c, b);
        grid.append(cell);
        tiles.push({ cell, canvas: c, button: b });
      }
    }
    tilesShape = `${nl}x${nh}`;
  }

  function drawGrid() {
    const grid = $('attgrid');
    grid.style.setProperty('--heads', att.n_head);
    grid.classList.toggle('many', att.n_layer * att.n_head > 32); // GPT-2's 144: smaller cells, scrolling
    if (tilesShape !== `${att.n_layer}x${att.n_head}`) makeTiles(grid, att.n_layer, att.n_head);
    const t = att.t;
    for (let l = 0; l < att.n_layer; l++) {
      for (let h = 0; h < att.n_head; h++) {
        const { canvas } = tiles[l * att.n_head + h];
        canvas.classList.toggle('selected', l === selected[0] && h === selected[1]);
        heatmap(canvas, att.layers[l], t, t, { off: h * t * t, mask: causal });
      }
    }
    drawLabels();
  }

  // Each tile's ablation state and scores (the probe's, or the scrubbed snapshot's).
  function drawLabels() {
    if (!tiles || !att) return;
    let scores = state.scrub ? state.scrub.scores : state.scores;
    if (scores && (scores.induction.length !== att.n_layer || scores.induction[0].length !== att.n_head)) scores = null; // another model's
    const best = scores ? bestHeads(scores) : {};
    for (let l = 0; l < att.n_layer; l++) {
      for (let h = 0; h < att.n_head; h++) {
        const { cell, button } = tiles[l * att.n_head + h];
        // the kinds this head is named for (it scores highest, and at least NAMED)
        const kinds = KINDS.filter((k) => best[k.key] && best[k.key].named && best[k.key].l === l && best[k.key].h === h);
        button.children[1].textContent = kinds.map((k) => k.short).join(' ');
        const off = ablation.has(l, h);
        cell.classList.toggle('off', off);
        button.setAttribute('aria-pressed', String(off));
        button.disabled = state.training || Boolean(state.scrub);
        const line = scores ? scoreLine(scores, l, h) : '';
        const names = kinds.map((k) => `${k.name} head`).join(', ');
        button.lastChild.textContent = line;
        button.title = `${off ? `Ablated: press to switch layer ${l} head ${h} back on` : `Press to ablate (switch off) layer ${l} head ${h}`}${names ? `\nthe ${names}` : ''}${line ? `\nscores on the probe: ${line} (previous-token, induction, first-token)` : ''}`;
        button.setAttribute('aria-label', `ablate layer ${l} head ${h}${names ? `, the ${names}` : ''}${line ? `; scores ${line}` : ''}`);
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
  // nothing blank at first sight: a new model's attention is drawn at once
  state.on('model', () => { clearTimeout(timer); update(); });
  state.on('weights', (final) => { if (final) schedule(); });
  state.on('ablation', () => { clearTimeout(timer); drawLabels(); update(); });
  state.on('scores', drawLabels);
  state.on('training', drawLabels);
  state.on('scrub', (snap) => { showScrub(snap); drawLabels(); });
  return { update };
}
