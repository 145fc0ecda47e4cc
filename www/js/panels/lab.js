// The Lab's probe and what is measured on it: the surprisal map (without and with the
// ablation), each head's scores and the heads they name, and the ablation's effect on the
// probe's loss and on the next token after the text (from the lens).
import { byId, el } from '../dom.js';
import { showChar, pct } from '../format.js';
import { createRunner, KINDS, bestHeads } from '../lab.js';
import { scoreLine } from './attention.js';

const PROBE_CHARS = 300; // about this long: whole lines from a validation passage
const SURPRISAL_TOP = 8; // nats at the tint's full strength

// What each kind of head does, and how its score is computed.
const WHAT = {
  previous_token: 'attends to the token just before the current one (score: the mean of att[t][t−1]); later heads use what it copies to know which token came before.',
  induction: 'attends to the token after an earlier copy of the current token, so it can continue a repeated sequence (score: the probe’s start fed twice, the mean of att[t][t−n+1] over the second copy).',
  first_token: 'attends to the first token, a place to park attention when nothing else matters (score: the mean of att[t][0]).',
};
const headsKey = (heads) => heads.map(([l, h]) => `${l}.${h}`).join(',');

// Passages of whole lines, about PROBE_CHARS long, each starting after a blank line (a line
// break in a text without blank lines), in the last 10% of `text` (the validation split the
// engine holds out).
function passages(text, n = 12) {
  const tail = text.slice(Math.floor(text.length * 0.9));
  const sep = tail.includes('\n\n') ? '\n\n' : '\n';
  const out = [];
  let at = tail.indexOf(sep, Math.floor(tail.length * 0.2));
  while (at >= 0 && out.length < n) {
    const from = at + sep.length;
    const lines = tail.slice(from, from + 2 * PROBE_CHARS).split('\n');
    let p = '';
    for (const line of lines) {
      if (p.length >= PROBE_CHARS) break;
      p += (p ? '\n' : '') + line;
    }
    if (p.trim()) out.push(p);
    at = tail.indexOf(sep, from + PROBE_CHARS);
  }
  return out;
}

export function createLab(root, { engine, state, ablation, describe }) {
  const $ = byId(root);
  const probeBox = $('probe');
  let edited = false; // the user's own probe is kept
  let corpus = null; // the text training was last prepared on
  let taskProbe = null; // the probe of the task training was last prepared on
  let shakespeare = null; // the page's corpus, fetched once
  let base = null; // {key, answer}: surprisal without the ablation
  let surprisal = null; // [base, now]
  let next = null; // {base, now}: the last position's lens tops
  const probe = () => probeBox.value;

  // The default probe: a task's own (for induction, a letter string the task never
  // generates, whose scores show the heads it formed), a validation passage the model can
  // encode (of the corpus it was prepared on, else the page's Shakespeare), else the prompt.
  async function pickProbe() {
    if (edited) return;
    if (taskProbe) {
      try {
        await engine.encode(taskProbe);
        probeBox.value = taskProbe;
        return;
      } catch { /* another model: a passage, as for any */ }
    }
    if (!shakespeare) {
      try {
        shakespeare = await (await fetch('data/shakespeare.txt')).text();
      } catch {
        shakespeare = '';
      }
    }
    const texts = [corpus, shakespeare].filter(Boolean);
    for (const t of texts) {
      for (const p of passages(t)) {
        try {
          await engine.encode(p);
          probeBox.value = p;
          return;
        } catch { /* a character this model does not know: the next passage */ }
      }
    }
    probeBox.value = state.prompt;
  }

  async function job() {
    if (!state.info || state.generating) return;
    const p = probe();
    const epoch = state.modelEpoch;
    const key = `${ablation.version()}\u0000${p}`;
    const heads = headsKey(state.ablation);
    try {
      let b, now, scores;
      if (state.ablation.length && base && base.key === key) {
        b = base.answer;
        [now, scores] = await Promise.all([engine.surprisal(p), engine.head_scores(p)]);
      } else {
        [[b, now], scores] = await Promise.all([ablation.both(() => engine.surprisal(p)), engine.head_scores(p)]);
      }
      if (epoch !== state.modelEpoch) return;
      base = { key, answer: b };
      surprisal = [b, now];
      surprisal.heads = heads;
      $('labnote').textContent = '';
      state.setScores(scores);
    } catch (e) {
      if (epoch !== state.modelEpoch) return;
      surprisal = null;
      state.setScores(null);
      $('labnote').textContent = `The probe cannot be measured: ${describe(e)}`;
    }
    drawSurprisal();
    drawEffect();
  }
  const runner = createRunner(job);

  function row(box, s, label) {
    box.textContent = '';
    box.append(el('div', 'srowhead', `${label}: mean ${s.mean.toFixed(3)} nats`));
    const line = el('div', 'stext');
    s.tokens.forEach((tok, i) => {
      const v = s.surprisal[i];
      const span = el('span', 'stok', tok === '\n' ? '↵\n' : tok === '' ? '∅' : tok);
      if (v === null) {
        span.dataset.surprisal = '';
        span.title = `“${showChar(tok)}”: the first token has no surprisal`;
      } else {
        span.dataset.surprisal = String(v);
        span.style.setProperty('--s', Math.min(1, v / SURPRISAL_TOP).toFixed(3));
        span.title = `“${showChar(tok)}”: ${v.toFixed(2)} nats (p = ${pct(Math.exp(-v))})`;
      }
      line.append(span);
    });
    box.append(line);
    box.dataset.mean = String(s.mean);
  }

  function drawSurprisal() {
    const now = $('surprisal'), was = $('surprisalbase');
    if (!surprisal) { now.textContent = ''; was.textContent = ''; was.hidden = true; return; }
    const n = surprisal.heads ? surprisal.heads.split(',').length : 0; // as it was computed
    row(now, surprisal[1], n ? `With ${n} head${n > 1 ? 's' : ''} ablated` : 'The model');
    now.dataset.heads = surprisal.heads; // the ablation it was computed with
    was.hidden = !n;
    if (n) row(was, surprisal[0], 'Without the ablation');
    else was.textContent = '';
  }

  // What the ablation changes: the probe's loss and the next token after the text.
  function drawEffect() {
    const box = $('effect');
    box.textContent = '';
    const heads = state.ablation;
    const key = headsKey(heads);
    box.dataset.heads = key;
    if (!heads.length) {
      box.append(el('p', '', state.training ? 'Ablation is off while training (every head trains).' : 'No head is ablated. Press the button under a head in the Attention panel (or focus it and press Enter) to switch it off: its output is zeroed in every computation, and this readout shows what changes.'));
      box.dataset.dloss = '';
      box.dataset.changed = '';
      $('clearabl').disabled = true;
      return;
    }
    $('clearabl').disabled = false;
    box.dataset.dloss = box.dataset.changed = box.dataset.next = '';
    box.append(el('p', '', `Ablated: ${heads.map(([l, h]) => `layer ${l} head ${h}`).join(', ')}.`));
    // what was measured with an earlier set waits for the new answers
    const fresh = (x) => x && x.heads === key;
    if (!fresh(surprisal) || !fresh(next)) box.append(el('p', 'hint', 'Measuring…'));
    if (fresh(surprisal)) {
      const [b, n] = surprisal;
      const d = n.mean - b.mean;
      box.dataset.dloss = d.toFixed(6);
      box.append(el('p', '', `Probe loss (mean surprisal): ${b.mean.toFixed(3)} → ${n.mean.toFixed(3)} nats (${d >= 0 ? '+' : ''}${d.toFixed(3)}).`));
    }
    if (fresh(next)) {
      const b = next.base[0], n = next.now[0];
      const changed = b.id !== n.id;
      const old = next.now.find((a) => a.id === b.id);
      box.dataset.changed = String(changed);
      box.dataset.next = `${b.id}:${b.prob}>${n.id}:${n.prob}`;
      box.append(el('p', '', `Next token after the text: “${showChar(b.token)}” ${pct(b.prob)} → ${changed
        ? `“${showChar(n.token)}” ${pct(n.prob)} (the top token changed; “${showChar(b.token)}” is now ${old ? pct(old.prob) : `below the top ${next.now.length}`}).`
        : `“${showChar(n.token)}” ${pct(n.prob)} (the same top token).`}`));
    }
  }

  // The named heads and every head's scores: the probe's now, or the scrubbed snapshot's.
  function drawScores() {
    const box = $('headscores');
    box.textContent = '';
    const snap = state.scrub;
    const s = snap ? snap.scores : state.scores;
    if (!s) return;
    const L = s.induction.length, NH = s.induction[0].length;
    box.dataset.step = snap ? snap.step : 'live';
    box.append(el('p', 'hint', snap ? `Scores at training step ${snap.step} (a snapshot).` : `Scores on the probe${state.ablation.length ? ', with the ablation' : ''}.`));
    const list = el('ul', 'named');
    const best = bestHeads(s);
    for (const k of KINDS) {
      const { l, h, v, named, partner } = best[k.key];
      const li = el('li');
      li.dataset.kind = k.key;
      li.dataset.head = named ? `${l}.${h}` : '';
      li.append(el('b', '', named ? `${k.name} head: layer ${l} head ${h} (${k.letter} ${v.toFixed(2)})` : `no clear ${k.name} head (best: layer ${l} head ${h}, ${k.letter} ${v.toFixed(2)})`));
      if (partner) {
        // the previous-token head an induction head reads, in an earlier layer
        li.dataset.partner = `${partner.l}.${partner.h}`;
        li.append(el('b', '', `, with its previous-token partner layer ${partner.l} head ${partner.h} (P ${partner.v.toFixed(2)})`));
      }
      li.append(document.createTextNode(` — ${k.key === 'induction' ? 'an' : 'a'} ${k.name} head ${WHAT[k.key]}`));
      list.append(li);
    }
    box.append(list);
    const table = el('table', 'scoretable');
    const head = el('tr');
    head.append(el('th', '', 'layer \\ head'));
    for (let h = 0; h < NH; h++) head.append(el('th', '', String(h)));
    table.append(head);
    for (let l = 0; l < L; l++) {
      const tr = el('tr');
      tr.append(el('th', '', String(l)));
      for (let h = 0; h < NH; h++) {
        const td = el('td', '', scoreLine(s, l, h));
        td.dataset.head = `${l}.${h}`;
        td.dataset.prev = String(s.previous_token[l][h]);
        td.dataset.induction = String(s.induction[l][h]);
        td.dataset.first = String(s.first_token[l][h]);
        tr.append(td);
      }
      table.append(tr);
    }
    box.append(table);
  }

  probeBox.addEventListener('input', () => { edited = true; runner.soon(300); });
  $('probereset').onclick = async () => { edited = false; await pickProbe(); runner.now(); };
  $('clearabl').onclick = () => ablation.clear();

  state.on('model', async () => { await pickProbe(); runner.now(); });
  state.on('prepared', (text, tp) => { corpus = text; taskProbe = tp; });
  state.on('info', async (i, origin) => {
    // a task has its own probe; a new vocabulary (training prepared a new model) may not read
    // the probe
    if (origin !== 'prepare' || edited) return;
    if (taskProbe && probe() !== taskProbe) {
      await pickProbe();
      return runner.now();
    }
    try { await engine.encode(probe()); } catch { await pickProbe(); }
  });
  state.on('weights', (final) => { if (final) runner.now(); });
  state.on('ablation', () => { drawSurprisal(); drawEffect(); runner.now(); });
  state.on('training', drawEffect);
  state.on('scores', drawScores);
  state.on('scrub', drawScores);

  return {
    probe,
    // The lens's last position without and with the ablation.
    showNext(n) {
      next = n;
      drawEffect();
    },
  };
}
