// The training panel's "Model and recipe": a new model's shape (a size preset or custom) and
// tokenizer, and the recipe (batch, learning rate, steps, weight decay, dropout). The presets,
// the tasks' recipes, the tokenizers and every starting value are the engine's (`defaults()`) or
// those of the model just loaded; the recipe's other settings (warm-up, the final learning
// rate, how often to evaluate) come from the last of those picked. Created with its fieldset.
import { byId, numberFor } from '../dom.js';
import { pageError } from '../engine.js';
import { shortF32 } from '../format.js';

const SHAPE = { n_layer: 'nlayer', n_head: 'nhead', n_embd: 'nembd', block_size: 'blocksize' };
const RECIPE = { batch_size: 'batch', lr: 'lr', steps: 'steps', weight_decay: 'wd', dropout: 'dropout' };

// "bpe:512" -> "BPE, 512"; "char" -> "characters".
const tokenizerLabel = (t) => (t === 'char' ? 'characters' : t.replace('bpe:', 'BPE, '));

// `changed()` is called on every edit (a prepared run no longer matches the settings).
// `picked()` when the user picks a size or types a shape of their own.
// `stepsTyped()` when the user types a step count (it wins over a time budget).
export function createRecipe(root, { state, changed, picked = () => {}, stepsTyped = () => {} }) {
  const $ = byId(root);
  const presets = () => state.defaults.presets;
  let base = null; // a task's TrainConfig (or an autosave's settings): its schedule goes with the form's fields
  const sameShape = (a, b) => Object.keys(SHAPE).every((k) => Number(a[k]) === Number(b[k]));

  function setShape(m) {
    for (const [k, id] of Object.entries(SHAPE)) $(id).value = m[k];
    const p = presets().find((q) => sameShape(q.model, m));
    $('sizepreset').value = p ? p.name : 'custom';
  }
  function setRecipe(tc) {
    for (const [k, id] of Object.entries(RECIPE)) if (tc[k] !== undefined) $(id).value = Number.isInteger(tc[k]) ? tc[k] : shortF32(tc[k]);
  }

  // A new model's shape: {n_layer, n_head, n_embd, block_size, pos, tokenizer}.
  const model = () => ({ ...Object.fromEntries(Object.entries(SHAPE).map(([k, id]) => [k, Number($(id).value)])), pos: $('pos').value, tokenizer: $('tokenizer').value });
  // The recipe: the form's fields, over a task's warm-up, schedule and evaluation interval (the
  // final learning rate keeps its ratio to the peak, the warm-up at most a tenth of the steps);
  // the engine fills in the rest (on a text: the final rate a tenth of the peak, the warm-up
  // min(100, steps / 10)).
  function train(seed) {
    const form = Object.fromEntries(Object.entries(RECIPE).map(([k, id]) => [k, Number($(id).value)]));
    const out = { ...form, seed: seed || state.defaults.train.seed };
    if (base) {
      Object.assign(out, { beta2: base.beta2, eval_interval: base.eval_interval, warmup: Math.min(base.warmup, Math.floor(form.steps / 10)) });
      if (base.lr > 0) out.min_lr = shortF32((base.min_lr * form.lr) / base.lr);
    }
    return out;
  }

  // The page's own checks, said in its words (the engine checks everything again).
  function validate(m, t) {
    if (m.n_embd % m.n_head !== 0) throw pageError('config', `The width (${m.n_embd}) must be divisible by the number of heads (${m.n_head}).`);
    if (!(t.lr > 0 && t.lr < 1)) throw pageError('config', `The learning rate must be between 0 and 1; got ${t.lr}.`);
    if (!(t.steps >= 1)) throw pageError('config', 'Train for at least one step.');
    if (!(t.weight_decay >= 0)) throw pageError('config', `The weight decay must be 0 or more; got ${t.weight_decay}.`);
  }

  // The engine's presets and tokenizers as options, its recipe as the starting values.
  function setDefaults(d) {
    const size = $('sizepreset');
    size.textContent = '';
    for (const name of [...d.presets.map((p) => p.name), 'custom']) size.append(new Option(name, name));
    const tok = $('tokenizer');
    tok.textContent = '';
    for (const t of d.tokenizers) tok.append(new Option(tokenizerLabel(t), t));
    // until a model is loaded, whose shape and recipe then show
    setShape(d.presets[0].model);
    setRecipe(d.train);
  }

  // A loaded checkpoint's shape, tokenizer and recipe.
  function showModel(i) {
    setShape(i);
    $('pos').value = i.pos;
    const tok = i.tokenizer === 'char' ? 'char' : `bpe:${i.vocab_size}`;
    if (state.defaults.tokenizers.includes(tok)) $('tokenizer').value = tok;
    if (i.train) setRecipe(i.train);
  }

  // Puts the settings back as they were when an autosave was written.
  function restore(s) {
    if (s.warmup !== undefined) base = { ...s };
    for (const [k, id] of Object.entries({ ...SHAPE, ...RECIPE, pos: 'pos', tokenizer: 'tokenizer' })) if (s[k] !== undefined) $(id).value = s[k];
    setShape(model());
  }

  $('sizepreset').onchange = () => {
    const p = presets().find((q) => q.name === $('sizepreset').value);
    if (p) for (const [k, id] of Object.entries(SHAPE)) $(id).value = p.model[k];
    picked();
  };
  // the tokenizer of a task's model is the task's own; a text has no task schedule
  function setTask(on) {
    if (!on) base = null;
    $('tokenizer').disabled = on;
    $('tokenizer').title = on ? 'A task has its own tokens' : '';
  }
  for (const id of Object.values(SHAPE)) $(id).addEventListener('input', () => { $('sizepreset').value = 'custom'; picked(); });
  for (const id of ['batch', 'pos']) $(id).addEventListener('input', () => picked());
  $('steps').addEventListener('input', () => stepsTyped());
  root.addEventListener('input', changed);
  // After a NaN step: the learning rate halved; returns it as shown.
  function halveLr() {
    $('lr').value = String(Number($('lr').value) / 2);
    return $('lr').value;
  }

  // A task's shape ({n_layer, n_head, n_embd, block_size, pos}) and recipe, as the engine
  // defines them.
  function useRecipe(m, tc) {
    setShape(m);
    $('pos').value = m.pos;
    setRecipe(tc);
    base = tc;
  }

  // The time budget sets the steps (typing a count chooses all of the recipe's steps instead);
  // back on all of the recipe's steps, a preset's shape gets its recipe's count.
  function setSteps(n) {
    if (Number($('steps').value) === n) return;
    $('steps').value = n;
    changed();
  }
  function lockSteps(on) {
    $('steps').title = on ? 'Set by the time budget: the time over the time of a step (type a count to train exactly that many)' : '';
  }
  function restoreSteps() {
    const p = presets().find((q) => sameShape(q.model, model()));
    if (p) $('steps').value = p.train.steps;
  }

  // The settings a link carries: the shape, the tokenizer and the form's recipe.
  const settings = () => ({ ...model(), ...Object.fromEntries(Object.entries(RECIPE).map(([k, id]) => [k, $(id).value])) });
  // A link's settings ({name: text}); returns the names it rejected. A shape in it is the
  // user's own (the time budget no longer picks one).
  function apply(got) {
    const bad = [];
    let shape = false;
    for (const [k, id] of Object.entries({ ...SHAPE, ...RECIPE })) {
      if (got[k] === undefined) continue;
      const v = numberFor($(id), got[k]);
      if (v === null || (k === 'lr' && !(v > 0 && v < 1))) bad.push(k);
      else {
        $(id).value = v;
        if (k in SHAPE) shape = true;
      }
    }
    for (const [k, id] of [['pos', 'pos'], ['tokenizer', 'tokenizer']]) {
      if (got[k] === undefined) continue;
      if ([...$(id).options].some((o) => o.value === got[k]) && !$(id).disabled) {
        $(id).value = got[k];
        shape = true;
      } else if (!$(id).disabled) bad.push(k);
    }
    setShape(model());
    if (shape) picked();
    changed();
    return bad;
  }

  state.on('defaults', setDefaults);
  return {
    settings,
    apply, model, train, validate, showModel, restore, halveLr, useRecipe, setTask, setSteps, lockSteps, restoreSteps, changed: () => changed(), setShape };
}
