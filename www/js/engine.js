// The client of the worker that owns the wasm Engine: one function per Engine method, each a
// promise of its result. Calls run one at a time in the worker, in the order made.
// `listen(name, fn)` sets what the worker's own messages do: 'token' (a streamed generation
// token), 'step' (a training step's metrics), 'crash' (the worker died: its message).
export function createEngine() {
  const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  const listeners = { token: () => {}, step: () => {}, crash: () => {} };
  let nextId = 1;
  const pending = new Map();
  worker.onmessage = (e) => {
    const m = e.data;
    if (m.type === 'token') return listeners.token(m);
    if (m.type === 'step') return listeners.step(m.metrics);
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    m.ok ? p.resolve(m.result) : p.reject(new Error(m.error));
  };
  worker.onerror = (e) => listeners.crash(e.message || 'unknown error');
  const call = (type, payload = {}, transfer = []) => {
    const id = nextId++;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      worker.postMessage({ id, type, ...payload }, transfer);
    });
  };

  return {
    listen(name, fn) {
      listeners[name] = fn;
    },
    // The backend: {backend, adapter, reason, gpu, webgpuApi}.
    init: (preferGpu) => call('start', { preferGpu }),
    // After a GPU fault: init on a new device (or the CPU), then the last save loaded.
    restart: (preferGpu, bytes, name) => call('restart', { preferGpu, bytes, name }),
    // `bytes` (an ArrayBuffer) is moved to the worker, not copied.
    load_checkpoint: (bytes, name) => call('load', { bytes, name }, [bytes]),
    load_hf: (files) => call('loadHf', { files }),
    checkpoint_bytes: () => call('save'),
    info: () => call('info'),
    // start_generation + next_token until done; `stream` posts each token to onToken,
    // `stopAt` ends after a token containing that text. {tokens, stopped}.
    generate: (prompt, opts, { stream = '', stopAt = '' } = {}) => call('generate', { prompt, opts, stream, stopAt }),
    // Ends the generation in progress after its current token.
    stop_generation: () => worker.postMessage({ type: 'stop' }),
    attention: (text) => call('attention', { text }),
    pe_table: () => call('pe'),
    encode: (text) => call('encode', { text }),
    prepare_training: (corpus, modelCfg, trainCfg, continueModel) => call('prepareTraining', { corpus, model: modelCfg, train: trainCfg, continueModel }),
    // The worker's training loop (steps posted to onStep) and its pause.
    train: (steps, evalEvery, total) => call('train', { steps, evalEvery, total }),
    pause: () => worker.postMessage({ type: 'pause' }),
    fault: () => call('fault'),
    test_fault: (kind) => call('testFault', { kind }),
    // Bytes of wasm memory (the page tests' leak check).
    memory: () => call('memory'),
  };
}
