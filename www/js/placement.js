// Which backend runs each job, chosen by measurement, not by presence: once the page is
// ready, a probe worker (an engine of its own, so the page stays responsive) times a training
// step and a generated token on the CPU and on the WebGPU adapter (Engine::calibrate) and runs
// the kernel self-check there (Engine::self_check: every op against the CPU); the main engine
// checks its WebAssembly SIMD matmul against the plain loops (Engine::cpu_check). Before a
// training run or a generation the model is moved to the faster backend for that job
// (Engine::move_to: weights, AdamW moments and step go with it). `?cpu` and `?gpu` force a
// backend and skip the timing. The probe times on the same cores as training: a run that
// starts while it times stops it (pauseProbe), and it is timed again once the run pauses or
// ends (resumeProbe); until then the run stays where the model is.
import { createEngine } from './engine.js';

// `forced`: 'cpu', 'gpu' or null; `fake`: made-up timings for the page tests
// ({cpu, gpu} as Engine::choose_backends takes them), used instead of measuring.
export function createPlacement({ engine, state, device, forced, fake }) {
  let choice = null; // {train, generate}: 'gpu' | 'cpu'
  let probe = null; // the probe engine while it times
  let paused = false; // a run stopped the probe; it is redone when the run pauses or ends
  let workload = null; // {shape, batch}: what start was asked to time
  const set = (p) => state.setPlacement({ ...state.placement, ...p });
  const here = () => (state.device?.dev.backend === 'webgpu' ? 'gpu' : 'cpu');

  // The workload: the Train panel's shape and batch (what a run would train) with the loaded
  // model's vocabulary.
  async function measure(shape, batch) {
    if (fake) {
      const c = await engine.choose_backends(fake.cpu, fake.gpu);
      return { cal: { workload: 'made-up timings (page test)', cpu: fake.cpu, gpu: fake.gpu, gpu_error: null, ...c }, check: null, adapter: { gpu: null, adapter: 'made up' } };
    }
    probe = createEngine();
    try {
      const dev = await probe.init(true);
      if (dev.backend !== 'webgpu') {
        // the fallback, announced as when WebGPU was asked for at start
        device.setDevice({ ...state.device.dev, reason: dev.reason, webgpuApi: dev.webgpuApi }, true, true);
        return { cal: null, check: null, why: `no WebGPU adapter here (${dev.reason}): the CPU for both` };
      }
      const cal = await probe.calibrate(shape, batch);
      // every op at a small odd shape and at this workload's training shape
      const check = await probe.self_check(shape, batch);
      return { cal, check, adapter: { gpu: dev.gpu, adapter: dev.adapter } };
    } finally {
      probe?.terminate();
      probe = null;
    }
  }

  async function start(shape, batch) {
    // the CPU's own SIMD kernel against its plain loops, on this CPU (milliseconds)
    engine.cpu_check().then((cpuCheck) => set({ cpuCheck }), (e) => set({ cpuCheck: null, cpuCheckError: String(e.message || e) }));
    if (forced) {
      choice = { train: forced, generate: forced };
      set({ state: 'forced', forced });
      if (forced === 'gpu' && here() === 'gpu') runCheckOnly(shape, batch);
      return;
    }
    if (!fake && !('gpu' in navigator)) {
      choice = { train: 'cpu', generate: 'cpu' };
      device.setDevice({ ...state.device.dev, reason: 'this browser has no WebGPU', webgpuApi: false }, true, true);
      set({ state: 'done', cal: null, why: 'this browser has no WebGPU: the CPU for both' });
      return;
    }
    workload = { shape, batch };
    await measureAndChoose();
  }

  async function measureAndChoose() {
    const { shape, batch } = workload;
    set({ state: 'measuring', workload });
    try {
      const m = await measure(shape, batch);
      const { cal, check, adapter = null } = m;
      choice = cal ? { train: cal.train, generate: cal.generate } : { train: 'cpu', generate: 'cpu' };
      const why = !cal ? m.why : cal.gpu_error ? `GPU: ${cal.gpu_error}` : cal.why;
      set({ state: 'done', cal, check, adapter, why });
      if (!state.training && !state.generating) await placeFor('generate');
    } catch (e) {
      choice = { train: here(), generate: here() };
      if (paused) set({ state: 'paused' });
      else set({ state: 'failed', error: String(e.message || e) });
    }
  }

  // A run starts: a probe still timing stops (its worker ends, freeing its core).
  function pauseProbe() {
    if (state.placement?.state !== 'measuring' || !probe) return;
    paused = true;
    probe.terminate();
    probe = null;
  }
  // The run paused or ended: a stopped probe times again.
  function resumeProbe() {
    if (!paused) return;
    paused = false;
    measureAndChoose();
  }

  // With ?gpu the model is already on the GPU: only the self-check, in a probe.
  async function runCheckOnly(shape, batch) {
    const probe = createEngine();
    try {
      await probe.init(true);
      set({ check: await probe.self_check(shape, batch) });
    } catch (e) {
      set({ checkError: String(e.message || e) });
    } finally {
      probe.terminate();
    }
  }

  // Moves the model to the backend chosen for `job` ('train' or 'generate') when it is not
  // there yet. A failed move keeps the model where it is, and the Device panel says why.
  async function placeFor(job) {
    const want = choice?.[job];
    if (!want || want === here()) return;
    try {
      const dev = await engine.move_to(want === 'gpu');
      device.setDevice(dev, state.device.preferGpu, false);
      set({ moved: `${job === 'train' ? 'Training' : 'Generation'} runs on the ${want === 'gpu' ? 'GPU' : 'CPU'}: it was measured faster for it.` });
    } catch (e) {
      choice = { ...choice, [job]: here() };
      set({ moved: `Could not move the model to the ${want === 'gpu' ? 'GPU' : 'CPU'} (${e.message}); it stays where it is.` });
    }
  }

  // The user chose where to go on (after a GPU failure): both jobs stay there.
  function pin(where) {
    choice = { train: where, generate: where };
    set({ moved: `After the GPU failure everything runs on the ${where === 'gpu' ? 'new GPU device' : 'CPU'}, as chosen.` });
  }

  return { start, placeFor, pin, pauseProbe, resumeProbe };
}
