// What the Lab's components share: the head ablation (the page's copy of the engine's set and
// the calls that change it) and a runner that asks the engine one question at a time.

// The kinds of head the scores name, and the score a head needs to be named.
export const KINDS = [
  { key: 'previous_token', name: 'previous-token', short: 'prev', letter: 'P' },
  { key: 'induction', name: 'induction', short: 'ind', letter: 'I' },
  { key: 'first_token', name: 'first-token', short: 'first', letter: 'F' },
];
export const NAMED = 0.3;

// The head that scores highest of `s` [L][NH] in layers below `below`: {l, h, v}.
function top(s, below = s.length) {
  let best = { l: 0, h: 0, v: -1 };
  s.slice(0, below).forEach((row, l) => row.forEach((v, h) => { if (v > best.v) best = { l, h, v }; }));
  return best;
}

// For each kind, the head that scores highest: {key: {l, h, v, named, partner}}. A named
// induction head's partner is the best previous-token head in an earlier layer (the one whose
// output its keys read), when that one is named too.
export function bestHeads(scores) {
  const out = {};
  for (const { key } of KINDS) {
    const best = top(scores[key]);
    out[key] = { ...best, named: best.v >= NAMED, partner: null };
  }
  const ind = out.induction;
  if (ind.named && ind.l > 0) {
    const p = top(scores.previous_token, ind.l);
    if (p.v >= NAMED) ind.partner = p;
  }
  return out;
}

// Heads as [layer, head] pairs, sorted as the engine sorts them.
const sortHeads = (heads) => [...heads].sort((a, b) => a[0] - b[0] || a[1] - b[1]);

// The ablated heads. Changing them posts set_ablation before anything asked afterwards, so
// every later engine call computes with the new set; 'ablation' tells the views.
export function createAblation({ engine, state, msg, describe }) {
  let version = 0; // bumps with every change of the weights: cached answers of older ones are stale

  async function set(heads) {
    if (state.training) return;
    const before = state.ablation;
    const next = sortHeads(heads);
    const done = engine.set_ablation(next);
    state.setAblation(next);
    try {
      await done;
      msg.clearErrorFrom('ablation');
    } catch (e) {
      // the engine kept the set it had (kind "config": a head out of range)
      state.setAblation(before);
      msg.showError(`Ablation: ${describe(e)}`, 'ablation');
    }
  }
  const has = (l, h) => state.ablation.some(([a, b]) => a === l && b === h);

  // The engine's set after a new model (a loaded or new one has none).
  async function sync() {
    try {
      const heads = sortHeads(await engine.ablation());
      if (JSON.stringify(heads) !== JSON.stringify(state.ablation)) state.setAblation(heads);
    } catch { /* no model yet */ }
  }

  state.on('info', () => { version++; sync(); });
  state.on('weights', () => { version++; });
  // training computes with the set in force: a run trains every head
  state.on('training', (on) => { if (on && state.ablation.length) { engine.set_ablation([]).catch(() => {}); state.setAblation([]); } });

  return {
    has,
    toggle: (l, h) => set(has(l, h) ? state.ablation.filter(([a, b]) => a !== l || b !== h) : [...state.ablation, [l, h]]),
    clear: () => set([]),
    version: () => version,
    // `ask()` (which posts its engine calls at once and returns their promise) answered without
    // the ablation and with it: [base, now]; one answer for both when no head is ablated.
    both(ask) {
      const heads = state.ablation;
      if (!heads.length) {
        const now = ask();
        return now.then((r) => [r, r]);
      }
      const off = engine.set_ablation([]);
      const base = ask();
      const on = engine.set_ablation(heads);
      const now = ask();
      return Promise.all([base, now, off, on]).then(([b, n]) => [b, n]);
    },
  };
}

// Runs `job` one at a time: `soon(ms)` after a quiet `ms` (debounce), `now()` at once; asks
// while a run is in flight coalesce into one more run after it.
export function createRunner(job) {
  let timer = null, busy = false, again = false;
  async function run() {
    clearTimeout(timer);
    if (busy) { again = true; return; }
    busy = true;
    try {
      await job();
    } finally {
      busy = false;
      if (again) { again = false; run(); }
    }
  }
  return {
    soon(ms) { clearTimeout(timer); timer = setTimeout(run, ms); },
    now: run,
  };
}
