// The page: the engine's client, the shared state and the panels, wired together; then the
// engine starts and a model is loaded. Each panel owns its part of the page (www/js/panels/).
// All model output, file names and corpus text go into the page with textContent only.
import { createEngine } from './engine.js';
import { createState } from './state.js';
import { createMessages, describe } from './messages.js';
import { createGenerate } from './panels/generate.js';
import { createAttention } from './panels/attention.js';
import { createPE } from './panels/pe.js';
import { createTrain } from './panels/train.js';
import { createModel } from './panels/model.js';
import { createDevice } from './panels/device.js';
import { createAblation } from './lab.js';
import { createLens } from './panels/lens.js';
import { createLab } from './panels/lab.js';
import { createScrubber } from './panels/scrubber.js';
import { createRuns } from './panels/runs.js';
import { createPlacement } from './placement.js';
import * as store from './store.js';
import { createShare } from './share.js';

async function main() {
  const part = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  const engine = createEngine();
  const state = createState();
  const msg = createMessages(document.body);
  engine.listen('crash', (why) => msg.showError(`The model worker failed: ${why}. Reload the page to start again.`));

  const deps = { engine, state, msg, describe };
  const device = createDevice(part('device'), { ...deps, badge: part('badge'), notice: part('notice') });
  const gen = createGenerate(part('gen'), deps);
  const ablation = createAblation(deps);
  createAttention(part('att'), { ...deps, ablation });
  const lab = createLab(part('lab'), { ...deps, ablation });
  createLens(part('lab'), { ...deps, ablation, onNext: lab.showNext });
  const scrubber = createScrubber(part('scrub'), { ...deps, probe: lab.probe });
  createPE(part('pe'), deps);
  // ?cpu / ?gpu force a backend; otherwise the model starts on the CPU (ready at once, no
  // shader compiles before the first token) and moves once the WebGPU adapter is timed faster
  const forced = params.has('cpu') ? 'cpu' : params.has('gpu') ? 'gpu' : null;
  // the page tests' made-up timings: ?testhooks&fakecal=cpuTrain,cpuToken,gpuTrain,gpuToken
  const f = params.has('testhooks') && params.get('fakecal') ? params.get('fakecal').split(',').map(Number) : null;
  const fake = f && { cpu: { train_step_ms: f[0], decode_token_ms: f[1] }, gpu: { train_step_ms: f[2], decode_token_ms: f[3] } };
  const placement = createPlacement({ engine, state, device, forced, fake });
  gen.setPlacement(placement);
  // every training run kept in this browser; Open loads a run's model as an upload would
  const openModel = async (bytes, label) => {
    try {
      await train.stop();
      const i = await engine.load_checkpoint(bytes.slice(0), label);
      state.loaded(i, 'upload');
      msg.status(`Loaded ${label}. Generate with it, or Resume to train it further on the selected corpus.`);
    } catch (e) {
      msg.showError(describe(e));
    }
  };
  const runs = createRuns(part('runs'), { ...deps, openModel });
  const train = createTrain(part('train'), { ...deps, seed: () => gen.options().seed, setPrompt: gen.setPrompt, device, placement, runs, workers: params.get('workers') === '1' ? 1 : 2 });
  const model = createModel(part('model'), { ...deps, pauseTraining: train.stop, clearOutput: gen.clearOutput });
  model.prefetch();
  msg.onRecover(train.recover);
  // Hooks the page tests use to inject faults (only with ?testhooks in the URL).
  if (params.has('testhooks')) {
    window.tinygptTest = { fault: (kind) => engine.test_fault(kind), stallSaves: () => store.testStallSaves(), memory: () => engine.memory(), defaults: () => engine.defaults(), snapshots: () => scrubber.forTest(), setProfiling: (on) => engine.set_profiling(on), profile: () => engine.profile(), runs };
  }

  const preferGpu = forced !== 'cpu';
  let dev;
  try {
    dev = await engine.init(forced === 'gpu');
    if (!forced) dev.reason = 'the model starts on the CPU while the WebGPU adapter, if any, is timed';
    // the controls' starting values, the size presets and the tokenizers are the engine's
    state.setDefaults(await engine.defaults());
  } catch (e) {
    msg.showError(`The model engine could not start: ${describe(e)}`);
    return;
  }
  device.setDevice(dev, preferGpu, forced === 'gpu');
  // An autosave from an earlier visit wins over the default model.
  const meta = await model.restoreAutosave();
  if (meta) {
    model.dropDefault();
    train.restoreSettings(meta);
  } else await model.loadDefault();
  train.ready();
  // a link's settings win over the loaded model's (share.js)
  createShare(part('share'), { state, notice: part('linknotice'), train, gen }).restore();
  document.body.dataset.ready = state.info ? '1' : '0';
  if (state.info) {
    const w = train.workload();
    placement.start(w.shape, w.batch);
  }
}

main();
