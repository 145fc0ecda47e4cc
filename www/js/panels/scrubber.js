// The training scrubber: while the page trains, snapshots of the probe's attention, the lens's
// top-1 grid, the head scores, the learned positional table and the loss, taken between chunks
// every k steps; a slider under the loss chart moves the views to a snapshot ("live": now), and
// a chart draws each head's induction and previous-token scores over the steps.
// At most MAX_SNAPS snapshots and CAP bytes: when full, every other one goes and k doubles;
// k also doubles while snapshots cost more than COST of the training time.
import { byId } from '../dom.js';
import { fmtBytes } from '../format.js';
import { fitCanvas } from '../viz.js';

export const MAX_SNAPS = 100;
export const CAP = 20 * 1024 * 1024;
const COST = 0.1;
const ATT_BYTES = (0.6 * CAP) / MAX_SNAPS; // the attention's share of a snapshot
const PE_BYTES = 64 * 1024;
const LENS_POS = 64; // the lens keeps its last positions

const strBytes = (s) => 2 * s.length + 24;
const scoreBytes = (s) => 3 * s.induction.length * (s.induction[0].length * 8 + 32);

// The attention over the probe's start: its first `n` tokens (bounded so the snapshot fits), as
// bytes 0..255.
function packAttention(a) {
  const n = Math.min(a.t, Math.max(2, Math.floor(Math.sqrt(ATT_BYTES / (a.n_layer * a.n_head)))));
  const layers = a.layers.map((f) => {
    const out = new Uint8Array(a.n_head * n * n);
    for (let h = 0; h < a.n_head; h++) {
      for (let r = 0; r < n; r++) {
        for (let c = 0; c <= r; c++) out[(h * n + r) * n + c] = Math.round(f[(h * a.t + r) * a.t + c] * 255);
      }
    }
    return out;
  });
  return { tokens: a.tokens.slice(0, n), t: n, n_layer: a.n_layer, n_head: a.n_head, layers };
}

// The lens's top token of every stream at the last LENS_POS positions.
function packLens(l) {
  const T0 = l.tokens.length, first = Math.max(0, T0 - LENS_POS), T = T0 - first, S = l.layers.length;
  const top = new Uint32Array(S * T), prob = new Uint8Array(S * T), labels = [];
  for (let s = 0; s < S; s++) {
    for (let p = 0; p < T; p++) {
      const a = l.layers[s][first + p][0];
      top[s * T + p] = a.id;
      prob[s * T + p] = Math.round(a.prob * 255);
      labels.push(a.token);
    }
  }
  return { tokens: l.tokens.slice(first), ids: l.ids.slice(first), streams: S, top, prob, labels };
}

// A learned table as int8 with its scale (every `stride`-th position when it is big).
function packPE(p) {
  const stride = Math.max(1, Math.ceil((p.t * p.c) / PE_BYTES)), t = Math.ceil(p.t / stride);
  let m = 0;
  for (const v of p.data) m = Math.max(m, Math.abs(v));
  const scale = m / 127 || 1;
  const data = new Int8Array(t * p.c);
  for (let i = 0; i < t; i++) for (let k = 0; k < p.c; k++) data[i * p.c + k] = Math.round(p.data[i * stride * p.c + k] / scale);
  return { kind: p.kind, t, c: p.c, full: p.t, stride, scale, data };
}

export function createScrubber(root, { engine, state, probe }) {
  const $ = byId(root);
  const slider = $('scrubber');
  let snaps = [];
  let k = 1; // steps between snapshots
  let nextAt = 0;
  let bytes = 0;
  let snapMs = 0, trainMs = 0; // time spent taking snapshots, and training (the steps' own ms)
  let stepMs = null; // a step's ms, smoothed
  let avgMs = null; // a snapshot's ms, smoothed
  let loss = null;
  let taking = false;
  let sized = false; // k was sized to this run's steps

  function forget() {
    snaps = [];
    bytes = snapMs = trainMs = 0;
    avgMs = stepMs = null;
    k = 1;
    nextAt = 0;
    sized = false;
    if (state.scrub) state.setScrub(null);
    show();
  }

  function sizeOf(s) {
    let b = 200 + scoreBytes(s.scores || { induction: [[]] });
    if (s.att) b += s.att.layers.reduce((n, l) => n + l.length, 0) + s.att.tokens.reduce((n, t) => n + strBytes(t), 0);
    if (s.lens) b += s.lens.top.length * 5 + s.lens.labels.reduce((n, t) => n + strBytes(t), 0) + s.lens.tokens.reduce((n, t) => n + strBytes(t) + 8, 0);
    if (s.pe) b += s.pe.data.length;
    return b;
  }

  // Drops every other snapshot (the first stays) and doubles k.
  function decimate() {
    snaps = snaps.filter((_, i) => i % 2 === 0);
    bytes = snaps.reduce((n, s) => n + s.bytes, 0);
    k *= 2;
  }

  // Takes a snapshot: its engine calls are all posted now, before the next chunk's.
  async function take(step) {
    taking = true;
    const t0 = performance.now();
    const p = probe(), text = state.prompt + state.generated;
    // the attention over the start of the probe, where the head scores read it (a context's
    // worth of characters: for a character model, exactly the scores' tokens)
    const start = Array.from(p).slice(0, state.info.block_size).join('');
    const ask = (call) => call().catch(() => null);
    const [att, lens, scores, pe] = await Promise.all([
      ask(() => engine.attention(start)),
      text ? ask(() => engine.lens(text, 1)) : null,
      ask(() => engine.head_scores(p)),
      state.info && state.info.pos === 'learned' ? ask(() => engine.pe_table()) : null,
    ]);
    const snap = { step, loss, scores, att: att && packAttention(att), lens: lens && packLens(lens), pe: pe && packPE(pe) };
    // the Heads view follows training: a snapshot's scores are the probe's now
    if (scores && !state.scrub && state.training) state.setScores(scores);
    // the same probe: its tokens are shared with the snapshot before
    const prev = snaps.at(-1);
    if (prev && prev.att && snap.att && prev.att.tokens.join('\u0000') === snap.att.tokens.join('\u0000')) snap.att.tokens = prev.att.tokens;
    snap.bytes = sizeOf(snap);
    while (snaps.length > 1 && (snaps.length >= MAX_SNAPS || bytes + snap.bytes > CAP)) decimate();
    if (snaps.length && snaps.at(-1).step === step) snaps.pop(); // the end of a run taken twice
    snaps.push(snap);
    bytes = snaps.reduce((n, s) => n + s.bytes, 0);
    const ms = performance.now() - t0;
    snapMs += ms;
    // a snapshot's cost, smoothed (the first ones warm up and cost more)
    avgMs = avgMs === null ? ms : 0.7 * avgMs + 0.3 * ms;
    // dearer than COST of the steps between two snapshots: fewer snapshots
    while (snaps.length > 2 && stepMs !== null && avgMs > COST * k * stepMs && k < 1e6) k *= 2;
    nextAt = step + k;
    taking = false;
    show();
  }

  function onChunk(r) {
    for (const ev of r.events) {
      if (ev.type !== 'step') continue;
      trainMs += ev.ms;
      const ms = Math.max(ev.ms, 0.01);
      stepMs = stepMs === null ? ms : 0.9 * stepMs + 0.1 * ms;
      loss = ev.loss;
    }
    if (!sized) {
      k = Math.max(k, Math.ceil(r.total / MAX_SNAPS));
      sized = true;
    }
    if (!taking && (r.step >= nextAt || r.done)) take(r.step);
  }

  function show() {
    const live = !state.scrub;
    slider.max = String(snaps.length);
    slider.disabled = !snaps.length;
    if (live) slider.value = String(snaps.length);
    else {
      let i = snaps.indexOf(state.scrub);
      if (i < 0) {
        // decimated away: the nearest snapshot left
        const s = state.scrub.step;
        i = snaps.reduce((best, x, j) => (Math.abs(x.step - s) < Math.abs(snaps[best].step - s) ? j : best), 0);
        state.setScrub(snaps[i]);
      }
      slider.value = String(i);
    }
    const at = state.scrub;
    $('scrubat').textContent = at ? `step ${at.step}${at.loss !== null ? ` · loss ${at.loss.toFixed(3)}` : ''}` : 'live';
    slider.setAttribute('aria-valuetext', at ? `snapshot at step ${at.step}` : 'live');
    $('scrublive').disabled = live;
    const share = trainMs ? ` · they took ${((100 * snapMs) / trainMs).toFixed(1)}% of the training time` : '';
    $('scrubinfo').textContent = snaps.length
      ? `${snaps.length} snapshot${snaps.length > 1 ? 's' : ''}, every ${k} steps now · ${fmtBytes(bytes)} of the ${fmtBytes(CAP)} cap (at most ${MAX_SNAPS}: when full, every other one is dropped)${share}.`
      : `While training, snapshots are kept every few steps (at most ${MAX_SNAPS}, in at most ${fmtBytes(CAP)}); move the slider to see the model as it was.`;
    drawCircuits();
  }

  // Each head's induction (solid) and previous-token (dashed) scores over the snapshots.
  function drawCircuits() {
    const c = $('circuits');
    const { ctx, cw, ch } = fitCanvas(c);
    const fg = getComputedStyle(c).color || '#ccc';
    const pad = { l: 34, r: 40, t: 18, b: 20 };
    const W = cw - pad.l - pad.r, H = ch - pad.t - pad.b;
    ctx.font = '11px system-ui, sans-serif';
    ctx.strokeStyle = fg; ctx.fillStyle = fg; ctx.globalAlpha = 0.35;
    ctx.strokeRect(pad.l + 0.5, pad.t + 0.5, W, H);
    ctx.globalAlpha = 1;
    const pts = snaps.filter((s) => s.scores);
    ctx.textBaseline = 'middle';
    if (!pts.length) {
      ctx.textAlign = 'center';
      ctx.fillText('Each head’s induction and previous-token scores appear here while training.', pad.l + W / 2, pad.t + H / 2);
      return;
    }
    const x0 = pts[0].step, x1 = Math.max(pts.at(-1).step, x0 + 1);
    const X = (x) => pad.l + ((x - x0) / (x1 - x0)) * W, Y = (y) => pad.t + (1 - y) * H;
    ctx.textAlign = 'right';
    for (const y of [0, 0.5, 1]) ctx.fillText(y.toFixed(1), pad.l - 4, Y(y));
    ctx.textAlign = 'left'; ctx.textBaseline = 'top';
    ctx.fillText(`step ${x0}`, pad.l, ch - pad.b + 4);
    ctx.textAlign = 'right';
    ctx.fillText(`step ${x1}`, pad.l + W, ch - pad.b + 4);
    ctx.textAlign = 'left';
    ctx.fillText('— induction   - - previous token   (one colour per head)', pad.l, 2);
    const L = pts[0].scores.induction.length, NH = pts[0].scores.induction[0].length;
    ctx.lineWidth = 1.4;
    ctx.textBaseline = 'middle';
    for (let l = 0; l < L; l++) {
      for (let h = 0; h < NH; h++) {
        const hue = ((l * NH + h) * 360) / (L * NH);
        ctx.strokeStyle = ctx.fillStyle = `hsl(${hue} 70% 62%)`;
        for (const [key, dash] of [['induction', []], ['previous_token', [4, 3]]]) {
          ctx.setLineDash(dash);
          ctx.beginPath();
          pts.forEach((s, i) => (i ? ctx.lineTo(X(s.step), Y(s.scores[key][l][h])) : ctx.moveTo(X(s.step), Y(s.scores[key][l][h]))));
          ctx.stroke();
          const last = pts.at(-1).scores[key][l][h];
          if (last >= 0.3) ctx.fillText(`${l}.${h}`, pad.l + W + 4, Y(last));
        }
      }
    }
    ctx.setLineDash([]);
    if (state.scrub) {
      ctx.strokeStyle = fg;
      ctx.beginPath(); ctx.moveTo(X(state.scrub.step), pad.t); ctx.lineTo(X(state.scrub.step), pad.t + H); ctx.stroke();
    }
  }

  slider.addEventListener('input', () => {
    const i = Number(slider.value);
    state.setScrub(i >= snaps.length ? null : snaps[i]);
  });
  $('scrublive').onclick = () => { state.setScrub(null); slider.focus(); };
  state.on('chunk', onChunk);
  state.on('scrub', show);
  state.on('model', forget);
  // a fresh model starts a new history; a resumed one continues it
  state.on('info', (i, origin) => { if (origin === 'prepare' && i.step === 0) forget(); });
  state.on('training', (on) => { if (on) sized = false; });
  window.addEventListener('resize', drawCircuits);
  show();

  return {
    // What the snapshots hold, for the page tests (?testhooks).
    forTest: () => ({
      k, bytes, cap: CAP, snapMs, trainMs,
      snaps: snaps.map((s) => ({
        step: s.step, loss: s.loss, bytes: s.bytes, scores: s.scores,
        lens: s.lens && { streams: s.lens.streams, positions: s.lens.tokens.length, top: Array.from(s.lens.top) },
      })),
    }),
  };
}
