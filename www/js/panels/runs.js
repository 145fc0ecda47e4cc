// The Runs panel: every training run kept in this browser (www/js/runs.js), newest first, in a
// table to compare (what, shape, recipe, backend, duration, best figures), the loss curves of
// the checked runs overlaid, a run's last sample, and its model opened again or the run deleted.
// The Train panel calls begin / progress / finish; this component listens to nothing else.
// Labels and samples are untrusted text: every cell goes in through textContent.
import { byId, el } from '../dom.js';
import { lineChart } from '../viz.js';
import { pct } from '../format.js';
import * as store from '../runs.js';

const PROGRESS_MS = 2000; // at most one progress write per run this often
// distinct colours for the compared runs (the loss chart's own two are among them)
const COLOURS = ['#e76f51', '#2a9d8f', '#e9c46a', '#9b5de5', '#5ac8ff', '#f15bb5', '#8ac926', '#ff9f1c', '#c0c0c0', '#4361ee'];

const what = (r) => (r.source && (r.source.label || r.source.task || r.source.corpus)) || '?';
const shortLabel = (r) => {
  const w = what(r);
  return `#${r.id} ${w.length > 14 ? `${w.slice(0, 13)}…` : w}`;
};
const fmtWhen = (t) => new Date(t).toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
function fmtDuration(ms) {
  if (!Number.isFinite(ms)) return '–';
  const s = ms / 1000;
  if (s < 90) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  if (s < 5400) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}
const num = (v, f) => (v === null || v === undefined || !Number.isFinite(Number(v)) ? '–' : f(Number(v)));

// `openModel(bytes, label)` loads a run's checkpoint (main.js: pauses training first).
export function createRuns(root, { msg, describe, openModel }) {
  const $ = byId(root);
  const table = root.querySelector('[data-testid=runs]');
  const body = table.tBodies[0] || table.appendChild(document.createElement('tbody'));
  const chart = $('runschart');
  let records = []; // newest first, as last read (and patched by progress)
  const checked = new Set(); // ids to compare
  let selected = null; // the id whose sample shows
  const live = new Set(); // ids begun by this page (a 'running' record not among them was cut short)
  const pending = new Map(); // id -> {patch, timer, last}: progress not yet written
  const warned = new Set(); // ids whose write failure was already said
  let queue = Promise.resolve(); // writes, one after another (a late progress never lands after finish)

  const enqueue = (fn) => {
    const p = queue.then(fn);
    queue = p.catch(() => {});
    return p;
  };
  const fail = (e, id = null) => {
    if (id !== null && warned.has(id)) return;
    if (id !== null) warned.add(id);
    msg.showError(describe(e));
  };

  const cell = (text, cls = '') => el('td', cls, String(text));

  function row(r) {
    const s = r.settings || {};
    const tr = document.createElement('tr');
    tr.dataset.runId = r.id;
    tr.dataset.state = r.state;
    tr.dataset.hasModel = r.hasModel ? '1' : '0';
    tr.tabIndex = 0;
    if (r.id === selected) tr.classList.add('selected');
    tr.setAttribute('aria-selected', r.id === selected ? 'true' : 'false');

    const box = document.createElement('input');
    box.type = 'checkbox';
    box.dataset.testid = 'run-compare';
    box.checked = checked.has(r.id);
    box.setAttribute('aria-label', `compare run ${r.id}`);
    box.onchange = () => {
      if (box.checked) checked.add(r.id); else checked.delete(r.id);
      draw();
    };
    const c0 = cell('');
    c0.append(box);
    tr.append(c0);

    const when = cell(r.startedAt ? fmtWhen(r.startedAt) : '–', 'when');
    when.title = r.startedAt ? new Date(r.startedAt).toLocaleString() : '';
    tr.append(when);
    const w = cell(what(r), 'what');
    w.title = r.source ? [r.source.corpus, r.source.task].filter(Boolean).join(': ') : '';
    tr.append(w);
    tr.append(cell(s.n_layer ? `${s.n_layer}×${s.n_head}×${s.n_embd}, ctx ${s.block_size}` : '–'));
    const budget = r.budget === undefined || r.budget === null || r.budget === 'all' ? `${s.steps ?? '–'} steps` : `${r.budget} min`;
    tr.append(cell(`batch ${s.batch_size ?? '–'}, lr ${s.lr ?? '–'}, ${budget}`));
    tr.append(cell(`${r.backend || '–'}${r.workers > 1 ? ` ×${r.workers}` : ''}`));
    tr.append(cell(fmtDuration(r.durationMs), 'n'));
    tr.append(cell(num(r.step, (v) => v.toLocaleString()), 'n'));
    tr.append(cell(num(r.bestVal, (v) => v.toFixed(3)), 'n'));
    tr.append(cell(num(r.bestExact, pct), 'n'));
    const cut = r.state === 'running' && !live.has(r.id);
    const st = cell(cut ? 'stopped' : r.state, `state ${r.state}`);
    st.dataset.testid = 'run-state';
    if (cut) st.title = 'Started in an earlier visit or another tab and not finished there.';
    tr.append(st);

    const open = el('button', 'secondary small', 'Open');
    open.type = 'button';
    open.dataset.testid = 'run-open';
    open.disabled = !r.hasModel;
    open.title = r.hasModel ? 'Load this run\'s model (pauses training)' : 'Its model was dropped: only the newest 20 runs keep theirs';
    open.onclick = () => openRun(r);
    const del = el('button', 'secondary small', 'Delete');
    del.type = 'button';
    del.dataset.testid = 'run-delete';
    del.onclick = () => removeRun(r.id);
    const acts = cell('', 'acts');
    acts.append(open, del);
    tr.append(acts);

    tr.onclick = (e) => {
      if (e.target.closest('button, input')) return;
      select(r.id);
    };
    tr.onkeydown = (e) => {
      if (e.target !== tr || (e.key !== 'Enter' && e.key !== ' ')) return;
      e.preventDefault();
      select(r.id);
    };
    return tr;
  }

  function render() {
    const rows = records.map(row);
    body.replaceChildren(...rows);
    $('runsempty').hidden = records.length > 0;
    showSample();
    draw();
  }

  // One row again, after its record changed.
  function rerender(id) {
    const r = records.find((x) => x.id === id);
    const old = body.querySelector(`tr[data-run-id="${CSS.escape(String(id))}"]`);
    if (!r || !old) return;
    old.replaceWith(row(r));
    if (id === selected) showSample();
    if (checked.has(id)) draw();
  }

  function select(id) {
    selected = id;
    for (const tr of body.rows) {
      const on = tr.dataset.runId === String(id);
      tr.classList.toggle('selected', on);
      tr.setAttribute('aria-selected', on ? 'true' : 'false');
    }
    showSample();
  }

  function showSample() {
    const r = records.find((x) => x.id === selected);
    const out = $('runsample');
    if (!r) {
      out.textContent = '';
      delete out.dataset.runId;
      return;
    }
    out.dataset.runId = r.id;
    out.textContent = `— ${shortLabel(r)}, step ${r.step ?? 0} —\n${r.sample || '(no sample yet)'}`;
  }

  // The checked runs' loss curves: train loss solid, val loss dots, one colour per run.
  function draw() {
    const runs = records.filter((r) => checked.has(r.id) && r.curve && ((r.curve.loss || []).length || (r.curve.val || []).length));
    const series = [];
    runs.forEach((r, i) => {
      const color = COLOURS[i % COLOURS.length];
      const label = shortLabel(r);
      series.push({ label, color, points: (r.curve.loss || []).filter((p) => Number.isFinite(p[1])) });
      series.push({ label: `#${r.id} val`, color, points: (r.curve.val || []).filter((p) => Number.isFinite(p[1])), dots: true });
    });
    const drawn = runs.length >= 2 ? runs : [];
    chart.dataset.series = String(drawn.length);
    chart.dataset.runs = drawn.map((r) => r.id).join(',');
    lineChart(chart, drawn.length ? series : [], { yLabel: 'loss', empty: 'Check two or more runs to overlay their loss curves.' });
    chart.setAttribute('aria-label', drawn.length
      ? `loss over steps of runs ${drawn.map(shortLabel).join(', ')}: training loss solid, validation loss dots`
      : 'loss curves of the checked runs (check two or more)');
  }

  async function openRun(r) {
    msg.clearError();
    try {
      const bytes = await store.model(r.id);
      if (!bytes) throw Object.assign(new Error(`Run ${shortLabel(r)} no longer has its model (only the newest 20 runs keep theirs).`), { kind: 'io' });
      await openModel(bytes, `run ${shortLabel(r)}, step ${r.step ?? 0}`);
    } catch (e) {
      msg.showError(describe(e));
    }
  }

  async function removeRun(id) {
    const p = pending.get(id);
    if (p) clearTimeout(p.timer);
    pending.delete(id);
    checked.delete(id);
    if (selected === id) selected = null;
    records = records.filter((r) => r.id !== id);
    render();
    try {
      await enqueue(() => store.remove(id));
    } catch (e) {
      fail(e);
    }
    await refresh();
  }

  async function refresh() {
    try {
      records = await store.list();
    } catch (e) {
      fail(e);
    }
    for (const id of [...checked]) if (!records.some((r) => r.id === id)) checked.delete(id);
    render();
  }

  // Merges `patch` into the in-memory record and shows it.
  function patchLocal(id, patch) {
    const r = records.find((x) => x.id === id);
    if (!r) return;
    Object.assign(r, patch);
    rerender(id);
  }

  function writeProgress(id) {
    const p = pending.get(id);
    if (!p || !p.patch) return Promise.resolve();
    const patch = p.patch;
    p.patch = null;
    p.timer = null;
    p.last = Date.now();
    return enqueue(() => store.update(id, patch)).catch((e) => fail(e, id));
  }

  // Stores a new run (state 'running') and shows it; resolves with its id, or null when it
  // could not be stored (said on the page; progress and finish then do nothing).
  async function begin(record) {
    try {
      const id = await enqueue(() => store.begin({ ...record, state: 'running' }));
      live.add(id);
      await refresh();
      return id;
    } catch (e) {
      fail(e);
      return null;
    }
  }

  // Updates run `id`'s record (not its model; state 'running' unless the patch says otherwise):
  // at most one write per PROGRESS_MS, the latest patches merged; the row shows each at once.
  function progress(id, patch) {
    if (id === null || id === undefined) return;
    live.add(id);
    patchLocal(id, { state: 'running', ...patch });
    let p = pending.get(id);
    if (!p) { p = { patch: null, timer: null, last: 0 }; pending.set(id, p); }
    p.patch = { ...(p.patch || {}), state: 'running', ...patch }; // progress comes while it trains (a resumed run too)
    if (p.timer) return;
    const wait = p.last + PROGRESS_MS - Date.now();
    if (wait <= 0) writeProgress(id);
    else p.timer = setTimeout(() => writeProgress(id), wait);
  }

  // The run paused, ended or failed: its record (state, step, duration, curve, bests, sample)
  // and its model bytes (replacing an earlier save of the same run), then the table again.
  async function finish(id, patch, bytes) {
    if (id === null || id === undefined) return;
    const p = pending.get(id);
    if (p) clearTimeout(p.timer);
    pending.delete(id);
    const all = { ...(p && p.patch ? p.patch : {}), ...patch };
    try {
      await enqueue(async () => {
        await store.update(id, all);
        if (bytes) await store.saveModel(id, bytes);
      });
    } catch (e) {
      fail(e);
    }
    await refresh();
  }

  refresh();
  return { begin, progress, finish, refresh };
}
