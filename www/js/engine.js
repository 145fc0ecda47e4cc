// The client of the worker that owns the wasm Engine: one function per Engine method, with the
// Engine's own names and arguments (src/web/mod.rs documents them), each a promise of its result.
// Calls run one at a time in the worker, in the order made. A failure rejects with an Error
// whose `kind` is the engine's ("config", "data", "tokenizer", "unknown_char", "checkpoint",
// "io", "numeric", "gpu", "state") and which carries that kind's fields.

// An error in the engine's shape, for the page's own failures (bad settings, an empty file).
export function pageError(kind, message, fields = {}) {
  return Object.assign(new Error(message), fields, { kind });
}

// `listen(name, fn)` sets what the worker's own messages do: 'token' (a streamed generation
// token) and 'crash' (the worker died: its message).
export function createEngine() {
  const url = new URL('./worker.js', import.meta.url);
  // the worker picks its build of the module; ?norelaxed asks for the plain-SIMD one
  if (new URLSearchParams(location.search).has('norelaxed')) url.searchParams.set('norelaxed', '1');
  const worker = new Worker(url, { type: 'module' });
  const listeners = { token: () => {}, crash: () => {} };
  let nextId = 1;
  const pending = new Map();
  worker.onmessage = (e) => {
    const m = e.data;
    if (m.type === 'token') return listeners.token(m);
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.ok) p.resolve(m.result);
    else p.reject(pageError(m.error.kind, m.error.message, m.error));
  };
  worker.onerror = (e) => listeners.crash(e.message || 'unknown error');
  const call = (method, args = [], transfer = []) => {
    const id = nextId++;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      worker.postMessage({ id, method, args }, transfer);
    });
  };
  const method = (name) => (...args) => call(name, args);

  return {
    listen(name, fn) {
      listeners[name] = fn;
    },
    // {backend, adapter, reason} plus what the browser says: gpu (the adapter's info), webgpuApi,
    // and simd: {build: 'relaxed' | 'simd128', why}, the module build the worker loaded.
    init: method('init'),
    defaults: method('defaults'),
    self_check: method('self_check'),
    // The CPU's fast matmul (the WebAssembly SIMD kernel) against its plain loops: [{op, rel_err}].
    cpu_check: method('cpu_check'),
    // Moves the model (and where new models go) to a GPU device (true) or the CPU; answers as init.
    move_to: method('move_to'),
    // {workload, cpu: {train_step_ms, decode_token_ms}, gpu, gpu_error, train, generate, why}.
    calibrate: method('calibrate'),
    // The choice calibrate makes, from given timings: {train, generate, why}.
    choose_backends: method('choose_backends'),
    describe_backend: method('describe_backend'),
    // `bytes` (an ArrayBuffer) is moved to the worker, not copied.
    load_checkpoint: (bytes, name) => call('load_checkpoint', [bytes, name], [bytes]),
    load_hf: method('load_hf'),
    // An ArrayBuffer.
    checkpoint_bytes: method('checkpoint_bytes'),
    info: method('info'),
    // start_generation + next_token until done, in the worker; with `stream` each token also
    // goes to the 'token' listener, `stopAt` ends after a token containing that text.
    // {tokens, stopped}.
    generate: (prompt, opts, { stream = '', stopAt = '' } = {}) => call('generate', [prompt, opts, { stream, stopAt }]),
    // Ends the generation in progress after its current token (at once, not queued).
    stop_generation: () => worker.postMessage({ method: 'stop_generation' }),
    attention: method('attention'),
    pe_table: method('pe_table'),
    encode: method('encode'),
    // The lab (src/web/mod.rs): the logit lens, per-token surprisal, head scores, head ablation.
    lens: method('lens'),
    surprisal: method('surprisal'),
    head_scores: method('head_scores'),
    set_ablation: method('set_ablation'),
    ablation: method('ablation'),
    prepare_training: method('prepare_training'),
    // A toy task (defaults().tasks): prepare_task(name, model, recipe, continue); and the
    // greedy answers to its held-out prompts, [{prompt, answer, got, right}].
    prepare_task: method('prepare_task'),
    task_samples: method('task_samples'),
    // {events, step, total, done}.
    train_chunk: method('train_chunk'),
    // The run ends within `minutes` of its first chunk (0: none): it fixes its step count
    // from its own first steps and says so in a {type: 'plan'} event.
    set_budget: method('set_budget'),
    // A training step of {model, batch} timed on the CPU, in ms; and every size preset's
    // time and the plan for a budget from such a step (budget::plan).
    time_cpu_step: method('time_cpu_step'),
    plan_budget: method('plan_budget'),
    // Data-parallel training (two workers, each with half of every batch; see train.js):
    // `port` (a MessagePort to the other worker) is moved there.
    connect_peer: (port, k, of) => call('connect_peer', [port, k, of], [port]),
    disconnect_peer: method('disconnect_peer'),
    // The other worker's step loop; rejects only when a step fails.
    peer_run: method('peer_run'),
    // The CPU per-op profile (bench.mjs --profile): on (clears it) or off; [{op, calls, ms}].
    set_profiling: method('set_profiling'),
    profile: method('profile'),
    fault: method('fault'),
    test_fault: method('test_fault'),
    // Bytes of wasm memory (the page tests' leak check; not an Engine method).
    memory: method('memory'),
    // Ends the worker (a calibration probe, once it has answered, or stopped while it times):
    // calls still waiting reject.
    terminate: () => {
      worker.terminate();
      for (const p of pending.values()) p.reject(pageError('state', 'the worker was stopped'));
      pending.clear();
    },
  };
}
