// Settings in a link, as TF Playground keeps its state in the address: the corpus or task, the
// model's shape, the recipe, the time budget and the sampling controls live in the hash
// (#corpus=toy&task=induction&layers=2…), kept up to date as they change, so a copied link
// opens the page with them. The weights never go in it. Each field of a hash is checked on its
// own: a malformed one is ignored and named in a notice, and the rest still apply.

import { shortF32 } from './format.js';

// The hash's keys: each component's setting of that name.
const KEYS = {
  corpus: 'corpus', task: 'task',
  layers: 'n_layer', heads: 'n_head', width: 'n_embd', context: 'block_size', pos: 'pos', tokens: 'tokenizer',
  batch: 'batch_size', lr: 'lr', steps: 'steps', wd: 'weight_decay', dropout: 'dropout',
  time: 'budget',
  temperature: 'temperature', top_k: 'top_k', top_p: 'top_p', seed: 'seed', max_tokens: 'max_tokens',
};
const NAME = Object.fromEntries(Object.entries(KEYS).map(([k, v]) => [v, k]));

// `root` holds the Copy link button and the link's field, `notice` the line that names ignored
// fields; `train` and `gen` give and take their settings (settings(), apply(obj) -> the names
// they rejected).
export function createShare(root, { state, notice, train, gen }) {
  const button = root.querySelector('#copylink');
  const field = root.querySelector('#sharelink');
  let applying = false;

  // The settings as a hash, in KEYS' order.
  function hash() {
    const all = { ...train.settings(), ...gen.options() };
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(KEYS)) {
      const x = all[v];
      if (x === undefined || x === null || x === '') continue;
      // numbers as their shortest decimals (an f32's 0.8, not 0.800000011920929)
      q.set(k, typeof x === 'number' && !Number.isInteger(x) ? String(shortF32(x)) : String(x));
    }
    return `#${q}`;
  }
  function update() {
    if (applying) return;
    const h = hash();
    if (location.hash !== h) history.replaceState(null, '', h);
  }

  // Applies a hash's fields; returns the ignored ones' descriptions.
  function apply(h) {
    const bad = [];
    let q;
    try {
      q = new URLSearchParams(h.replace(/^#/, ''));
    } catch {
      return ['the whole link (not a list of settings)'];
    }
    const got = {};
    for (const [k, v] of q) {
      if (!(k in KEYS)) bad.push(`“${k}” (not a setting)`);
      else got[KEYS[k]] = v;
    }
    applying = true;
    try {
      for (const name of [...train.apply(got), ...gen.apply(got)]) bad.push(`${NAME[name]}=“${got[name]}”`);
    } finally {
      applying = false;
    }
    return bad;
  }

  // Opens the page's own link's settings (at start-up, once the model and defaults are there).
  function restore() {
    if (location.hash.length > 1) {
      const bad = apply(location.hash);
      if (bad.length) {
        notice.textContent = `The link's ${bad.length === 1 ? 'setting' : 'settings'} ${bad.join(', ')} ${bad.length === 1 ? 'was' : 'were'} not understood and ignored; the rest of the link applies.`;
        notice.hidden = false;
      }
    }
    update();
  }

  button.onclick = async () => {
    update();
    field.value = location.href;
    field.hidden = false;
    field.select();
    try {
      await navigator.clipboard.writeText(location.href);
      button.textContent = 'Copied';
    } catch {
      // no clipboard permission: the link is selected in the field beside the button
      button.textContent = 'Copy the link beside';
    }
    setTimeout(() => { button.textContent = 'Copy link'; }, 2000);
  };
  // every edit of a control (and the choices the page makes for them) updates the hash
  document.addEventListener('input', update);
  document.addEventListener('change', update);
  state.on('settings', update);
  return { restore, update };
}
