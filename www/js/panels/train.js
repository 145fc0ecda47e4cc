// The Train panel: the corpus, the model's shape and recipe, the training run (pause, resume,
// reset; autosaves; the ways on after a failure), its metrics, loss chart, samples and a toy
// task's exact match (training and held-out) over the steps. The engine's train_chunk holds the training policy (the pipelined steps,
// the cadence of evaluations, samples and saves); this panel runs chunks and does what their
// events ask.
import { byId } from '../dom.js';
import { lineChart, pushDecimated } from '../viz.js';
import * as store from '../store.js';
import { capital } from '../messages.js';
import { showChar } from '../format.js';
import { bootPeer, startPeer, stopPeer, prepareOn } from '../peer.js';
import { createCorpus } from './corpus.js';
import { createRecipe } from './recipe.js';
import { createBudget } from './budget.js';

const CHUNK_MS = 300; // a chunk of steps about this long: a pause waits no longer
const MAX_CHUNK = 16;

// `seed()` is the Generate panel's seed (it seeds training too); `setPrompt(text)` replaces
// the prompt when a new vocabulary cannot read it; `device` is the Device panel; `placement`
// moves the model to the backend measured faster at training before a run (and pauses its
// probe while one runs); `runs` keeps every run (panels/runs.js).
export function createTrain(root, { engine, state, msg, describe, seed, setPrompt, device, placement, runs, workers = 2 }) {
  const $ = byId(root);
  let prepared = false; // the engine holds the data and recipe of the current settings
  let resumable = false; // the model came from a checkpoint: Start continues it
  let task = null; // the task's description (defaults().tasks) when training one
  let losses = [], vals = [], accs = [], trainExact = [], valExact = [];
  let trainStart = 0, trainSteps0 = 0, totalSteps = 0;
  let lastGood = null; // {bytes, step}: the last save, what a GPU fault goes back to
  let sampled = -1; // the step of the last sample
  let loop = null; // the running training, a promise
  let prep = null; // {text | task, m, t}: what the engine was last prepared with (the peer gets the same)
  let run0 = null; // the run being trained: {id, startedAt, ms (trained before this stretch), budget, planned}
  const unprepare = () => { prepared = false; };
  // idle, running, paused, done or failed: for people and for tests
  const setState = (st) => {
    $('trainstate').dataset.state = st;
    $('trainstate').textContent = st;
  };
  // a task starts from its own recipe (the engine's): a shape and schedule that learn it in minutes
  const corpus = createCorpus($('corpus'), {
    state, msg, describe,
    changed: (kind) => {
      unprepare();
      const t = corpus.task();
      if (kind === 'toy' && t) recipe.useRecipe(t.model, t.train);
      recipe.setTask(kind === 'toy');
      budget.setTask(kind === 'toy');
    },
  });
  const recipe = createRecipe($('recipe'), {
    state,
    changed: unprepare,
    picked: () => budget.ownShape(),
    stepsTyped: () => budget.set('all'),
  });
  const budget = createBudget($('budgetbox'), { engine, state, recipe, isTask: () => corpus.kind() === 'toy', workers: () => workers });

  async function prepare(fresh) {
    const c = await corpus.read();
    task = c.task;
    const m = recipe.model(), t = recipe.train(seed());
    recipe.validate(m, t);
    // a budget's steps (the form's estimate until the run times its own) come after the
    // model's own when it continues
    const mins = budget.minutes();
    if (mins !== null && !fresh) t.steps += state.info.step;
    const p = task ? { task: task.name, m, t } : { text: c.text, m, t };
    state.emit('prepared', c.text, task ? task.probe : null);
    state.setInfo(await prepareOn(engine, p, !fresh), 'prepare');
    prep = p;
    if (mins !== null) await engine.set_budget(mins);
    run0 = { id: null, startedAt: Date.now(), ms: 0, budget: mins, planned: null, fresh };
    // a task starts from its example's prompt; a new vocabulary may not cover the prompt:
    // start from a line of the new corpus instead
    if (task) setPrompt(task.example.prompt);
    else await engine.encode(state.prompt).catch(() => setPrompt(c.text.split('\n').find((l) => l.trim()).slice(0, 40) || c.text.slice(0, 20)));
    corpus.showPrepared(c.text, task);
    prepared = true;
    totalSteps = t.steps;
    if (fresh) { losses = []; vals = []; accs = []; trainExact = []; valExact = []; }
  }

  function start() {
    if (state.training) return;
    loop = run();
    return loop;
  }

  async function run() {
    msg.clearError();
    msg.hideRecovery();
    // the second worker loads its module while this one places and prepares the model
    const booting = bootPeer(workers, describe);
    // the backend probe times on the same cores: it waits until the run pauses or ends
    placement.pauseProbe();
    try {
      if (!prepared) await budget.ready();
      await placement.placeFor('train');
      if (!prepared) await prepare(!resumable);
      // a run paused before it planned its steps has the rest of its time
      else if (run0?.budget != null && !run0.planned) await engine.set_budget(Math.max(0.05, run0.budget - run0.ms / 60_000));
      resumable = false;
    } catch (e) {
      booting.then((b) => b.peer?.terminate());
      msg.showError(describe(e));
      placement.resumeProbe();
      return;
    }
    // a save of the starting point, so a GPU fault before the first autosave loses nothing
    lastGood = null;
    await save(state.info.step);
    const peer = await startPeer(await booting, { engine, state, describe, prep, bytes: lastGood.bytes });
    state.setTraining(true);
    setState('running');
    await beginRun(peer);
    $('trainstart').disabled = true;
    $('trainpause').disabled = false;
    $('trainreset').disabled = false;
    trainStart = performance.now();
    trainSteps0 = state.info.step;
    document.body.dataset.training = '1';
    msg.status('Training… (Pause keeps the model; it is autosaved in this browser as it goes.)');
    let finished = false, failure = null;
    try {
      finished = await chunks();
    } catch (e) {
      failure = await failed(e);
    }
    if (peer) await stopPeer(engine, peer);
    state.setTraining(false);
    $('trainpause').disabled = true;
    run0.ms += performance.now() - trainStart;
    if (failure) setState('failed');
    // the message and the ways on are at the top of the page: bring them into view
    if (failure === 'gpu' || failure === 'numeric') msg.revealError();
    if (failure === 'gpu') {
      // the device's memory is gone: nothing to sample or save until a new device has the model
      document.body.dataset.training = '0';
      msg.offerRecovery(lastGood ? ['gpu', 'cpu'] : []);
      msg.status('The GPU failed; choose how to go on.');
      await endRun('failed', lastGood?.bytes);
      placement.resumeProbe();
      return;
    }
    if (failure === 'numeric') msg.offerRecovery(['lr']);
    await wrapUp(finished);
    await endRun(failure ? 'failed' : finished ? 'done' : 'paused', lastGood?.bytes);
    if (!failure) setState(finished ? 'done' : 'paused');
    placement.resumeProbe();
  }

  // The run in the runs table: a record at a new run's first Start (a resumed one goes on
  // under its id), its curves at each evaluation, its model when it pauses or ends.
  async function beginRun(peer) {
    if (!runs) return;
    // a resumed run goes on under its id
    if (run0.id !== null) return runs.progress(run0.id, { state: 'running' });
    const c = corpus.kind();
    try {
      run0.id = await runs.begin({
        startedAt: run0.startedAt,
        state: 'running',
        source: { corpus: c, task: task ? task.name : null, label: task ? task.name : c },
        settings: { ...prep.m, ...prep.t },
        budget: run0.budget === null ? 'all' : run0.budget,
        backend: state.device.dev.backend,
        workers: peer ? 2 : 1,
        continued: !run0.fresh,
        step: state.info.step,
      });
    } catch (e) {
      msg.showError(describe(e));
    }
  }
  const best = (pts, lo) => (pts.length ? pts.reduce((b, p) => (lo ? Math.min(b, p[1]) : Math.max(b, p[1])), lo ? Infinity : -Infinity) : null);
  const runPatch = () => ({
    step: state.info.step,
    steps: totalSteps,
    durationMs: Math.round(run0.ms + (state.training ? performance.now() - trainStart : 0)),
    msPerStep: run0.planned?.ms_per_step ?? null,
    curve: { loss: losses.slice(), val: vals.slice(), trainExact: trainExact.slice(), valExact: valExact.slice() },
    bestVal: best(vals, true),
    bestExact: task ? best(valExact, false) : null,
  });
  async function endRun(st, bytes) {
    if (!runs || run0?.id == null) return;
    try {
      await runs.finish(run0.id, { ...runPatch(), state: st, sample: $('sample').textContent }, bytes ? bytes.slice(0) : null);
    } catch (e) {
      msg.showError(describe(e));
    }
  }

  // Runs chunks of steps until paused or done (true when done). A chunk of about CHUNK_MS,
  // from the last step's time; the first is one step.
  async function chunks() {
    let n = 1;
    while (state.training) {
      const r = await engine.train_chunk(n);
      totalSteps = r.total;
      for (const ev of r.events) {
        if (ev.type === 'step') {
          showStep(ev);
          n = Math.min(MAX_CHUNK, Math.max(1, Math.round(CHUNK_MS / Math.max(ev.ms, 1))));
        } else if (ev.type === 'eval') {
          showEval(ev);
          if (runs && run0?.id != null) runs.progress(run0.id, runPatch());
        } else if (ev.type === 'plan') {
          showPlan(ev);
        } else if (ev.type === 'sample') {
          await sample(ev.step);
        } else if (ev.type === 'save') {
          await save(ev.step);
        }
      }
      state.emit('chunk', r);
      if (r.done) return true;
      state.emit('weights', false);
    }
    return false;
  }

  // Says why training stopped; returns the failure's kind ('gpu' also for any error on a
  // faulted device).
  async function failed(e) {
    const kind = e.kind === 'gpu' || (await engine.fault().catch(() => null)) ? 'gpu' : e.kind;
    const m = capital(describe(e));
    if (kind === 'gpu') {
      const at = lastGood ? `step ${lastGood.step}, its last save` : 'its last save';
      msg.showError(`${m} — training stopped. The model as of ${at}, is kept: continue on a new GPU device or on the CPU.`);
    } else if (kind === 'numeric') {
      // the engine's message says the weights are the last good step's
      msg.showError(`${m} Training stopped.`);
    } else {
      msg.showError(`${m} — training stopped; the model is as of the last good step.`);
    }
    return kind;
  }

  // After a run that ended or paused: the model's info, a sample and a save (unless the
  // engine's cadence just asked for them).
  async function wrapUp(finished) {
    try {
      state.setInfo(await engine.info());
      const step = state.info.step;
      if (sampled !== step) await sample(step);
      if (!lastGood || lastGood.step !== step) await save(step);
    } catch (e) {
      msg.showError(describe(e));
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
      const lr = recipe.halveLr();
      prepared = false;
      resumable = true;
      msg.status(`Learning rate halved to ${lr}; training continues from step ${state.info.step}.`);
      return start();
    }
    const preferGpu = kind === 'gpu';
    msg.status(`Starting again from step ${lastGood.step} on ${preferGpu ? 'a new GPU device' : 'the CPU'}…`);
    try {
      // asked together, so nothing else reaches the engine between the two
      const [dev, info] = await Promise.all([engine.init(preferGpu), engine.load_checkpoint(lastGood.bytes.slice(0), `autosave (step ${lastGood.step})`)]);
      device.setDevice(dev, preferGpu, false);
      placement.pin(dev.backend === 'webgpu' ? 'gpu' : 'cpu');
      state.setInfo(info, 'restart');
      prepared = false;
      resumable = true;
      $('trainstart').disabled = false;
      msg.status(`Continuing from step ${state.info.step} on ${dev.backend === 'webgpu' ? 'a new WebGPU device' : 'the CPU (WebAssembly)'}.`);
      return start();
    } catch (e) {
      msg.showError(`Could not start again: ${describe(e)}`);
      msg.offerRecovery(preferGpu ? ['cpu'] : ['gpu', 'cpu']);
    }
  }

  async function sample(step) {
    sampled = step;
    try {
      let text;
      if (task) {
        // greedy answers to held-out prompts
        const line = (x) => `${showChar(x.prompt)} → ${x.got}   ${x.right ? '✓' : `✗ (want ${x.answer})`}`;
        text = (await engine.task_samples(3)).map(line).join('\n');
      } else {
        const r = await engine.generate('\n', { ...state.defaults.sample, max_tokens: 160, seed: step });
        text = r.tokens.map((t) => t.text).join('').replace(/^\n+/, '');
      }
      $('sample').textContent = `— sample at step ${step} —\n${text}`;
    } catch {
      /* a prompt character outside a new vocabulary: no sample */
    }
  }

  async function save(step) {
    try {
      const bytes = await engine.checkpoint_bytes();
      lastGood = { bytes, step };
      await store.autosave(bytes, { step, corpus: corpus.kind(), toy: task ? task.name : null, settings: { ...recipe.model(), ...recipe.train(seed()) } });
      state.emit('saved', `Autosaved at step ${step}, ${new Date().toLocaleTimeString()}.`);
    } catch (e) {
      msg.showError(describe(e));
    }
  }

  function showStep(s) {
    $('mstep').textContent = s.step;
    $('mloss').textContent = s.loss.toFixed(4);
    if (!losses.length) $('mloss').dataset.first = s.loss.toFixed(4);
    $('macc').textContent = `${(s.acc * 100).toFixed(1)}%`;
    $('mms').textContent = s.ms.toFixed(0);
    $('mtps').textContent = s.tokens_per_s.toFixed(0);
    const perStep = (performance.now() - trainStart) / Math.max(1, s.step - trainSteps0);
    const left = (Math.max(0, totalSteps - s.step) * perStep) / 1000;
    $('meta').textContent = left > 90 ? `${(left / 60).toFixed(1)} min` : `${left.toFixed(0)} s`;
    pushDecimated(losses, [s.step, s.loss]);
    pushDecimated(accs, [s.step, s.acc]);
    drawChart();
  }
  // The run timed its first steps and fixed its count.
  function showPlan(ev) {
    totalSteps = ev.steps;
    run0.planned = ev;
    $('trainstate').dataset.planned = ev.steps;
    $('budgetplan').textContent = `This run: ${ev.steps.toLocaleString()} steps in ${run0.budget} min, from its first ${ev.step} steps (${ev.ms_per_step.toFixed(0)} ms a step with the time between them).`;
    budget.observed({ ...prep.m, vocab_size: state.info.vocab_size }, prep.t.batch_size, ev.ms_per_step, state.device.dev.backend === 'webgpu' ? 'gpu' : 'cpu');
  }
  function showEval(ev) {
    $('mval').textContent = ev.val_loss.toFixed(4);
    pushDecimated(vals, [ev.step, ev.val_loss]);
    if (ev.val_exact !== null && ev.val_exact !== undefined) {
      pushDecimated(trainExact, [ev.step, ev.train_exact]);
      pushDecimated(valExact, [ev.step, ev.val_exact]);
      const score = $('toyscore');
      score.dataset.step = ev.step;
      score.dataset.trainExact = ev.train_exact;
      score.dataset.valExact = ev.val_exact;
      score.textContent = `Exact match at step ${ev.step}: held-out ${(100 * ev.val_exact).toFixed(1)}%, training ${(100 * ev.train_exact).toFixed(1)}% (greedy decoding of the prompt gives exactly the answer).`;
    }
    drawChart();
  }

  // A task's chart: the answers' loss, and exact match on training and held-out examples (the
  // gap between the two is memorisation; grokking is held-out rising long after training).
  function drawChart() {
    const exact = trainExact.length > 0;
    lineChart($('losschart'), [
      { label: exact ? 'train loss (answers)' : 'train loss', color: '#e76f51', points: losses },
      { label: exact ? 'held-out loss' : 'val loss', color: '#2a9d8f', points: vals, dots: true },
      exact
        ? { label: 'exact: training (right axis)', color: '#e9c46a', points: trainExact, right: true, dots: true }
        : { label: 'accuracy (right axis)', color: '#e9c46a', points: accs, right: true },
      { label: 'exact: held-out', color: '#9b5de5', points: exact ? valExact : [], right: true, dots: true },
    ], { yLabel: 'loss', empty: 'Press Start: the loss and accuracy curves appear here.' });
  }

  // Pausing is not calling train_chunk again: the chunk running ends, with no step in flight.
  function pause() {
    state.setTraining(false);
  }
  // Pauses a run and resolves once it has stopped (at once when none runs).
  async function stop() {
    if (!state.training) return;
    pause();
    if (loop) await loop;
  }

  async function reset() {
    pause();
    if (loop) await loop;
    prepared = false;
    run0 = null;
    setState('idle');
    delete $('trainstate').dataset.planned;
    $('trainstart').textContent = 'Start';
    $('mstep').textContent = '0';
    $('mloss').textContent = $('mval').textContent = $('macc').textContent = '–';
    losses = []; vals = []; accs = []; trainExact = []; valExact = [];
    delete $('mloss').dataset.first;
    $('mtps').textContent = $('mms').textContent = $('meta').textContent = '–';
    drawChart();
    $('sample').textContent = '';
    $('toyscore').textContent = '';
    for (const k of ['step', 'trainExact', 'valExact']) delete $('toyscore').dataset[k];
    try {
      await store.clear();
      state.emit('saved', 'Autosave cleared; the next Start trains a new model.');
    } catch { /* nothing saved */ }
    resumable = false;
  }

  // the calibration chose the GPU for training: its step is what the estimates scale
  state.on('placement', (p) => {
    if (p.state === 'done' && p.cal?.train === 'gpu' && p.cal.gpu && p.workload) budget.useGpuTiming(p.cal, p.workload.shape, p.workload.batch);
  });
  $('trainstart').onclick = start;
  $('trainpause').onclick = pause;
  $('trainreset').onclick = reset;
  // a model loaded from a file or the autosave continues training; a GPT-2 does not
  state.on('model', (i, origin) => {
    if (i.source === 'checkpoint') recipe.showModel(i);
    budget.timeCpu();
    if (origin === 'default') return;
    prepared = false;
    run0 = null;
    setState('idle');
    resumable = origin !== 'hf';
    // a model that continues keeps its own shape: the budget only sets its steps
    if (resumable) budget.follow(false);
    $('trainstart').textContent = resumable ? 'Resume' : 'Start';
  });

  // The settings a link carries (share.js), and a link's applied: the corpus or task first
  // (it brings its recipe), then the form's fields, then the time.
  const settings = () => ({ ...corpus.settings(), ...recipe.settings(), budget: budget.value() });
  function apply(got) {
    const bad = [...corpus.apply(got), ...recipe.apply(got)];
    if (got.budget !== undefined && !budget.set(got.budget)) bad.push('budget');
    return bad;
  }

  return {
    recover,
    stop,
    settings,
    apply,
    // Puts the corpus and settings back as they were when an autosave was written.
    restoreSettings(meta) {
      corpus.restore(meta);
      if (!meta.settings) return;
      recipe.restore(meta.settings);
      budget.follow(false);
      totalSteps = meta.settings.steps || 0;
    },
    // What a run would train now: the shape and batch of the settings, the model's vocabulary
    // (the workload calibration times).
    workload() {
      const m = recipe.model();
      const shape = { vocab_size: state.info.vocab_size, n_layer: m.n_layer, n_head: m.n_head, n_embd: m.n_embd, block_size: m.block_size, pos: m.pos };
      return { shape, batch: recipe.train(seed()).batch_size };
    },
    // Training can start once the first model is there.
    ready() {
      $('trainstart').disabled = false;
      $('trainreset').disabled = false;
      drawChart();
    },
  };
}
