// The Positional encoding panel: the table the model adds to its token embeddings, the cosine
// similarity of its positions, and chosen dimensions over the positions; a learned table as it
// was at a training snapshot while the scrubber shows one.
import { byId } from '../dom.js';
import { diverging, heatmap, legend, lineChart } from '../viz.js';

const COLORS = ['#e76f51', '#2a9d8f', '#e9c46a', '#8ab17d', '#9b5de5', '#4cc9f0'];

// Cosine similarity between positions of the [t x c] table; for long contexts (GPT-2: 1024 x
// 768) every `stride`-th position, which is all a 256-pixel canvas shows and keeps the page
// responsive. Returns {sim: Float32Array(n*n), n}.
function similarity(data, t, c) {
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
  return { sim, n };
}

export function createPE(root, { engine, state, msg, describe }) {
  const $ = byId(root);
  let live = null; // the last pe_table()
  let pe = null; // what is drawn: `live` or a snapshot's table
  const unpacked = new WeakMap(); // snapshot -> its table as floats

  async function update() {
    if (!state.info) return;
    try {
      live = await engine.pe_table();
    } catch (e) {
      msg.showError(describe(e));
      return;
    }
    if (!state.scrub || !state.scrub.pe) draw(live);
  }

  function draw(p) {
    pe = p;
    const { t, c, data } = pe;
    const snap = p !== live && state.scrub ? ` — as at training step ${state.scrub.step} (a snapshot${p.stride > 1 ? `, every ${p.stride}th position` : ''})` : state.training ? ' — watch it change while training' : '';
    $('pe-formula').textContent = pe.kind === 'sinusoidal'
      ? 'Sinusoidal (Vaswani et al.): PE[pos, 2i] = sin(pos / 10000^(2i/C)),  PE[pos, 2i+1] = cos(pos / 10000^(2i/C))'
      : `Learned (GPT-2): the table wpe [${p.full || t} × ${c}] is a trained parameter${snap}.`;
    let m = 0;
    for (const v of data) m = Math.max(m, Math.abs(v));
    heatmap($('pecanvas'), data, t, c, { color: diverging, lo: -m, hi: m });
    const { sim, n } = similarity(data, t, c);
    heatmap($('pesim'), sim, n, n, { color: diverging, lo: -1, hi: 1 });
    drawLines();
    legend($('pelegend'), diverging, (-m).toFixed(2), m.toFixed(2));
  }

  function drawLines() {
    if (!pe) return;
    const { t, c, data } = pe;
    let dims = [...new Set($('pedims').value.split(/[\s,]+/).filter(Boolean).map(Number).filter((d) => Number.isInteger(d) && d >= 0 && d < c))].slice(0, 6);
    if (!dims.length) dims = [0, 1];
    lineChart($('pelines'), dims.map((d, k) => ({ label: `dim ${d}`, color: COLORS[k], points: [...Array(t).keys()].map((p) => [p, data[p * c + d]]) })), { yLabel: 'value', xLabel: 'position', xMax: t - 1 });
  }

  $('pedims').addEventListener('input', drawLines);
  state.on('model', update);
  // a learned table changes with every step; a sinusoidal one only with a new model
  state.on('weights', (final) => { if (final || state.info.pos === 'learned') update(); });
  state.on('scrub', (snap) => {
    if (snap && snap.pe) {
      const q = snap.pe;
      if (!unpacked.has(snap)) unpacked.set(snap, { ...q, data: Float32Array.from(q.data, (v) => v * q.scale) });
      draw(unpacked.get(snap));
    } else if (live && pe !== live) draw(live);
  });
  return { update };
}
