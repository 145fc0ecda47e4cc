// The Train panel: the corpus, the model's shape and recipe, the training run (pause, resume,
// reset; autosaves; the ways on after a failure), its metrics, loss chart, samples and the
// toy task's score.
import { byId } from '../dom.js';
import { lineChart, pushDecimated } from '../viz.js';
import * as store from '../store.js';
import { createCorpus } from './corpus.js';

const SIZES = { tiny: [2, 2, 64, 32], baby: [4, 4, 128, 64] };
const SETTING_IDS = { n_layer: 'nlayer', n_head: 'nhead', n_embd: 'nembd', block_size: 'blocksize', pos: 'pos', tokenizer: 'tokenizer', batch_size: 'batch', lr: 'lr', steps: 'steps' };
const SAVE_EVERY = 50; // steps between autosaves

// `seed()` is the Generate panel's seed (it seeds training too); `setPrompt(text)` replaces
// the prompt when a new vocabulary cannot read it; `device` is the Device panel.
export function createTrain(root, { engine, state, msg, clean, seed, setPrompt, device }) {
  const $ = byId(root);
  let prepared = false; // the engine holds the data and recipe of the current settings
  let resumable = false; // the model came from a checkpoint: Start continues it
  let toy = null; // {name, test} when training a toy task
  let losses = [], vals = [], accs = [];
  let trainStart = 0, trainSteps0 = 0, totalSteps = 0;
  let lastGood = null; // {bytes, step}: the last save, what a GPU fault goes back to
  let loop = null; // the running training, a promise
  const corpus = createCorpus($('corpus'), { msg, clean, seed, changed: () => { prepared = false; } });

  const modelSettings = () => ({ n_layer: Number($('nlayer').value), n_head: Number($('nhead').value), n_embd: Number($('nembd').value), block_size: Number($('blocksize').value), pos: $('pos').value, tokenizer: $('tokenizer').value });
  function trainSettings() {
    const lr = Number($('lr').value);
    const steps = Number($('steps').value);
    // Every TrainConfig field: the engine's deserializer does not fill in defaults.
    return {
      batch_size: Number($('batch').value), steps, lr, min_lr: lr / 10, warmup: Math.min(100, Math.floor(steps / 10)),
      beta1: 0.9, beta2: 0.99, eps: 1e-8, weight_decay: 0.1, grad_clip: 1.0, eval_interval: 0, eval_batches: 4,
      seed: seed() || 1337,
    };
  }
  function validate(m, t) {
    if (m.n_embd % m.n_head !== 0) throw new Error(`The width (${m.n_embd}) must be divisible by the number of heads (${m.n_head}).`);
    if (!(t.lr > 0 && t.lr < 1)) throw new Error(`The learning rate must be between 0 and 1; got ${t.lr}.`);
    if (!(t.steps >= 1)) throw new Error('Train for at least one step.');
  }
  function applySize() {
    const s = SIZES[$('sizepreset').value];
    if (s) [$('nlayer').value, $('nhead').value, $('nembd').value, $('blocksize').value] = s;
  }

  async function prepare(fresh) {
    const c = await corpus.read();
    toy = c.toy;
    const m = modelSettings(), t = trainSettings();
    validate(m, t);
    state.setInfo(await engine.prepare_training(c.text, m, t, !fresh), 'prepare');
    // a new vocabulary may not cover the prompt: start from a line of the new corpus instead
    try {
      await engine.encode(state.prompt);
    } catch {
      setPrompt(toy ? toy.test[0][0] : c.text.split('\n').find((l) => l.trim()).slice(0, 40) || c.text.slice(0, 20));
    }
    corpus.describe(c.text, toy);
    prepared = true;
    totalSteps = t.steps;
    if (fresh) { losses = []; vals = []; accs = []; }
  }

  function start() {
    if (state.training) return;
    loop = run();
    return loop;
  }

  async function run() {
    msg.clearError();
    msg.hideRecovery();
    try {
      if (!prepared) await prepare(!resumable);
      resumable = false;
    } catch (e) {
      msg.showError(clean(e));
      return;
    }
    // a save of the starting point, so a GPU fault before the first autosave loses nothing
    lastGood = null;
    await save(state.info.step);
    state.setTraining(true);
    $('trainstart').disabled = true;
    $('trainpause').disabled = false;
    $('trainreset').disabled = false;
    trainStart = performance.now();
    trainSteps0 = state.info.step;
    totalSteps = trainSettings().steps;
    document.body.dataset.training = '1';
    msg.status('Training… (Pause keeps the model; it is autosaved in this browser every 50 steps.)');
    let finished = false, failure = null;
    try {
      finished = await steps();
    } catch (e) {
      failure = await failed(e);
    }
    state.setTraining(false);
    $('trainpause').disabled = true;
    // the message and the ways on are at the top of the page: bring them into view
    if (failure === 'gpu' || failure === 'lr') msg.revealError();
    if (failure === 'gpu') {
      // the device's memory is gone: nothing to sample or save until a new device has the model
      document.body.dataset.training = '0';
      msg.offerRecovery(lastGood ? ['gpu', 'cpu'] : []);
      msg.status('The GPU failed; choose how to go on.');
      return;
    }
    if (failure === 'lr') msg.offerRecovery(['lr']);
    await wrapUp(finished);
  }

  // Trains until paused or done (true when done), sampling and autosaving on the way.
  async function steps() {
    const evalEvery = Math.max(10, Math.min(250, Math.floor(totalSteps / 10)));
    const sampleEvery = Math.max(50, Math.min(500, Math.floor(totalSteps / 8)));
    let lastSave = state.info.step, lastSample = state.info.step;
    while (state.training) {
      const r = await engine.train(10, evalEvery, totalSteps);
      if (!r.last) break;
      const step = r.last.step;
      if (step >= totalSteps) return true;
      if (r.paused) break;
      if (step - lastSample >= sampleEvery) { lastSample = step; await sample(step); }
      if (step - lastSave >= SAVE_EVERY) { lastSave = step; await save(step); }
      state.emit('weights', false);
    }
    return false;
  }

  // Says why training stopped; 'gpu' (the device failed), 'lr' (a NaN step) or 'other'.
  async function failed(e) {
    const gpuFault = await engine.fault().catch(() => null);
    const m = clean(e).replace(/^./, (c) => c.toUpperCase());
    if (gpuFault) {
      const at = lastGood ? `step ${lastGood.step}, its last save` : 'its last save';
      msg.showError(`${m} — training stopped. The model as of ${at}, is kept: continue on a new GPU device or on the CPU.`);
      return 'gpu';
    }
    msg.showError(/last good step/.test(m) ? `${m} Training stopped.` : `${m} — training stopped; the model is as of the last good step.`);
    return /may be too high/.test(String(e && e.message)) ? 'lr' : 'other';
  }

  // After a run that ended or paused: the model's info, a sample, a save and the toy score.
  async function wrapUp(finished) {
    try {
      state.setInfo(await engine.info());
      await sample(state.info.step);
      await save(state.info.step);
      if (toy) await scoreToy();
    } catch (e) {
      msg.showError(clean(e));
    }
    if (finished) {
      prepared = false;
      $('trainstart').textContent = 'Start';
      msg.status(`Training finished at step ${state.info.step}. Start trains a new model from scratch.`);
    } else {
      $('trainstart').textContent = 'Resume';
      msg.status(`Paused at step ${state.info.step}; the model is saved in this browser. Resume continues.`);
    }
    $('trainstart').disabled = false;
    document.body.dataset.training = '0';
    state.emit('weights', true);
  }

  // The ways on after a failure: 'lr' halves the learning rate; 'gpu' and 'cpu' start a new
  // device from the last save.
  async function recover(kind) {
    msg.hideRecovery();
    msg.clearError();
    if (kind === 'lr') {
      $('lr').value = String(Number($('lr').value) / 2);
      prepared = false;
      resumable = true;
      msg.status(`Learning rate halved to ${$('lr').value}; training continues from step ${state.info.step}.`);
      return start();
    }
    const preferGpu = kind === 'gpu';
    msg.status(`Starting again from step ${lastGood.step} on ${preferGpu ? 'a new GPU device' : 'the CPU'}…`);
    try {
      const dev = await engine.restart(preferGpu, lastGood.bytes.slice(0), `autosave (step ${lastGood.step})`);
      device.setDevice(dev, preferGpu, false);
      state.setInfo(dev.info, 'restart');
      prepared = false;
      resumable = true;
      $('trainstart').disabled = false;
      msg.status(`Continuing from step ${state.info.step} on ${dev.backend === 'webgpu' ? 'a new WebGPU device' : 'the CPU (WebAssembly)'}.`);
      return start();
    } catch (e) {
      msg.showError(`Could not start again: ${clean(e)}`);
      msg.offerRecovery(preferGpu ? ['cpu'] : ['gpu', 'cpu']);
    }
  }

  // Greedy answers to a toy task's held-out prompts: [[prompt, answer, got]].
  async function answers(pairs) {
    const out = [];
    for (const [p, a] of pairs) {
      const r = await engine.generate(p, { max_tokens: a.length + 2, temperature: 0, seed: 1 }, { stopAt: '\n' });
      out.push([p, a, r.tokens.map((t) => t.text).join('').split('\n')[0]]);
    }
    return out;
  }

  async function sample(step) {
    try {
      let text;
      if (toy) {
        text = (await answers(toy.test.slice(0, 3))).map(([p, a, got]) => `${p}${got}   ${got === a ? '✓' : `✗ (want ${a})`}`).join('\n');
      } else {
        const r = await engine.generate('\n', { max_tokens: 160, temperature: 0.8, seed: step });
        text = r.tokens.map((t) => t.text).join('').replace(/^\n+/, '');
      }
      $('sample').textContent = `— sample at step ${step} —\n${text}`;
    } catch {
      /* a prompt character outside a new vocabulary: no sample */
    }
  }

  async function scoreToy() {
    const right = (await answers(toy.test)).filter(([, a, got]) => got === a).length;
    $('toyscore').textContent = `Held-out exact match: ${right} / ${toy.test.length} (${((100 * right) / toy.test.length).toFixed(0)}%).`;
  }

  async function save(step) {
    try {
      const bytes = await engine.checkpoint_bytes();
      lastGood = { bytes, step };
      await store.autosave(bytes, { step, corpus: corpus.kind(), toy: toy ? toy.name : null, settings: { ...modelSettings(), ...trainSettings() } });
      state.emit('saved', `Autosaved at step ${step}, ${new Date().toLocaleTimeString()}.`);
    } catch (e) {
      msg.showError(clean(e));
    }
  }

  function showStep(s) {
    $('mstep').textContent = s.step;
    $('mloss').textContent = s.loss.toFixed(4);
    if (!losses.length) $('mloss').dataset.first = s.loss.toFixed(4);
    $('macc').textContent = `${(s.acc * 100).toFixed(1)}%`;
    $('mms').textContent = s.ms.toFixed(0);
    const tokens = Number($('batch').value) * Number($('blocksize').value);
    $('mtps').textContent = ((tokens * 1000) / s.ms).toFixed(0);
    const perStep = (performance.now() - trainStart) / Math.max(1, s.step - trainSteps0);
    const left = (Math.max(0, totalSteps - s.step) * perStep) / 1000;
    $('meta').textContent = left > 90 ? `${(left / 60).toFixed(1)} min` : `${left.toFixed(0)} s`;
    pushDecimated(losses, [s.step, s.loss]);
    pushDecimated(accs, [s.step, s.acc]);
    if (s.val_loss !== undefined) {
      $('mval').textContent = s.val_loss.toFixed(4);
      pushDecimated(vals, [s.step, s.val_loss]);
    }
    drawChart();
  }

  function drawChart() {
    lineChart($('losschart'), [
      { label: 'train loss', color: '#e76f51', points: losses },
      { label: 'val loss', color: '#2a9d8f', points: vals, dots: true },
      { label: 'accuracy (right axis)', color: '#e9c46a', points: accs, right: true },
    ], { yLabel: 'loss', xMax: totalSteps || null, empty: 'Press Start: the loss and accuracy curves appear here.' });
  }

  function pause() {
    engine.pause();
    state.setTraining(false);
  }
  // Pauses a run and resolves once it has stopped (nothing when none runs).
  async function stop() {
    if (!state.training) return;
    pause();
    if (loop) await loop;
  }

  async function reset() {
    pause();
    if (loop) await loop;
    prepared = false;
    $('trainstart').textContent = 'Start';
    $('mstep').textContent = '0';
    $('mloss').textContent = $('mval').textContent = $('macc').textContent = '–';
    losses = []; vals = []; accs = [];
    delete $('mloss').dataset.first;
    $('mtps').textContent = $('mms').textContent = $('meta').textContent = '–';
    drawChart();
    $('sample').textContent = '';
    $('toyscore').textContent = '';
    try {
      await store.clear();
      state.emit('saved', 'Autosave cleared; the next Start trains a new model.');
    } catch { /* nothing saved */ }
    resumable = false;
  }

  // Puts the settings back as they were when an autosave was written.
  function restoreSettings(meta) {
    corpus.restore(meta);
    const s = meta.settings;
    if (!s) return;
    for (const [k, id] of Object.entries(SETTING_IDS)) if (s[k] !== undefined) $(id).value = s[k];
    $('sizepreset').value = Object.keys(SIZES).find((k) => SIZES[k].join() === [s.n_layer, s.n_head, s.n_embd, s.block_size].join()) || 'custom';
    totalSteps = s.steps || 0;
  }

  engine.listen('step', showStep);
  $('trainstart').onclick = start;
  $('trainpause').onclick = pause;
  $('trainreset').onclick = reset;
  $('sizepreset').onchange = applySize;
  for (const id of ['nlayer', 'nhead', 'nembd', 'blocksize']) $(id).addEventListener('input', () => { $('sizepreset').value = 'custom'; });
  $('recipe').addEventListener('input', () => { prepared = false; });
  // a model loaded from a file or the autosave continues training; a GPT-2 does not
  state.on('model', (i, origin) => {
    if (origin === 'default') return;
    prepared = false;
    resumable = origin !== 'hf';
    $('trainstart').textContent = resumable ? 'Resume' : 'Start';
  });

  return {
    recover,
    stop,
    restoreSettings,
    // Training can start once the first model is there.
    ready() {
      $('trainstart').disabled = false;
      $('trainreset').disabled = false;
      drawChart();
    },
  };
}
