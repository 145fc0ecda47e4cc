// The Web Worker that owns the wasm Engine, so the page never freezes. It relays: each request
// {id, method, args} calls the Engine method of that name and answers {id, ok, result} or
// {id, ok: false, error: {kind, message, ...fields}}. Engine methods must never overlap
// (wasm-bindgen borrows the engine for each call), so every request runs on one promise
// chain; only "stop" (a generation) acts at once, by setting a flag.

// Two builds of the module (build.sh): www/pkg with WebAssembly SIMD, and www/pkg-relaxed with
// relaxed SIMD too, whose f32x4.relaxed_madd is a fused multiply-add on CPUs that have one, in
// the matmul kernel. The relaxed one where the browser validates this module of one function
// that uses f32x4.relaxed_madd (opcode 0xfd 0x105) on three splats; `?norelaxed` (passed on by
// engine.js) takes the plain one.
const RELAXED_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // "\0asm", version 1
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, // types: () -> v128
  0x03, 0x02, 0x01, 0x00, // one function of type 0
  0x0a, 0x13, 0x01, 0x11, 0x00, // code: one body of 17 bytes, no locals
  0x41, 0x00, 0xfd, 0x0f, 0x41, 0x00, 0xfd, 0x0f, 0x41, 0x00, 0xfd, 0x0f, // 3x i8x16.splat(i32.const 0)
  0xfd, 0x85, 0x02, 0x0b, // f32x4.relaxed_madd, end
]);
const relaxedSimd = () => {
  try {
    return WebAssembly.validate(RELAXED_PROBE);
  } catch {
    return false;
  }
};
let Engine = null;
let simd = null; // which build runs: 'relaxed' or 'simd128', and why
async function loadModule() {
  const off = new URL(self.location.href).searchParams.has('norelaxed');
  const relaxed = !off && relaxedSimd();
  let m;
  if (relaxed) {
    try {
      m = await import('../pkg-relaxed/tinygpt.js');
      simd = { build: 'relaxed', why: 'this browser has relaxed SIMD: fused multiply-adds in the matmul kernel' };
    } catch (e) {
      simd = { build: 'simd128', why: `the relaxed-SIMD build could not be loaded (${e.message}): plain SIMD` };
    }
  } else {
    simd = { build: 'simd128', why: off ? 'plain SIMD, as ?norelaxed asks' : 'this browser has no relaxed SIMD: plain SIMD' };
  }
  m ||= await import('../pkg/tinygpt.js');
  Engine = m.Engine;
  return await m.default();
}

let engine = null;
let wasm = null; // the module's exports (its memory, for the page tests' memory checks)
let chain = Promise.resolve();
let stopGen = false;

const post = (msg, transfer = []) => self.postMessage(msg, transfer);

function enqueue(fn) {
  chain = chain.then(fn, fn);
  return chain;
}

// The engine's errors carry their kind and its fields (own properties of the JS Error); the
// message is not enumerable, so it is copied by name. Anything else (a wasm trap) says so.
function relayError(e) {
  if (e && typeof e === 'object' && typeof e.kind === 'string') return { ...e, kind: e.kind, message: String(e.message) };
  return { kind: 'internal', message: String(e && e.message ? e.message : e) };
}

async function reply(id, fn) {
  try {
    const result = await fn();
    // bytes (a checkpoint) are moved to the page, not copied
    post({ id, ok: true, result }, result instanceof ArrayBuffer ? [result] : []);
  } catch (e) {
    post({ id, ok: false, error: relayError(e) });
  }
}

// On the CPU backend the engine's promises resolve without ever leaving the microtask queue, so
// a "stop" message would wait for the whole generation; a macrotask hop lets it in.
const hop = new MessageChannel();
const hops = [];
hop.port1.onmessage = () => hops.shift()?.();
const yieldToEvents = () => new Promise((resolve) => { hops.push(resolve); hop.port2.postMessage(null); });

// What the browser says about its WebGPU adapter (wgpu leaves the name empty in browsers).
async function adapterInfo() {
  try {
    const a = await navigator.gpu?.requestAdapter();
    if (!a) return null;
    const i = a.info || (a.requestAdapterInfo ? await a.requestAdapterInfo() : {});
    return { vendor: i.vendor || '', architecture: i.architecture || '', device: i.device || '', description: i.description || '', fallback: Boolean(i.isFallbackAdapter ?? a.isFallbackAdapter) };
  } catch {
    return null;
  }
}

// Data-parallel training: the MessagePort to the other training worker, the parts it sent
// ahead (it may finish a step first) and the exchange waiting for its part.
let peerPort = null;
const arrived = [];
let waiting = null;

// `lr`: the learning rate this worker would apply; every worker applies worker 0's.
function exchange(step, loss_sum, hit_sum, positions, grads, lr) {
  return new Promise((resolve, reject) => {
    waiting = { step, resolve, reject };
    peerPort.postMessage({ step, loss_sum, hit_sum, positions, grads, lr }, [grads.buffer]);
    deliver();
  });
}
function deliver() {
  if (!waiting || !arrived.length) return;
  const m = arrived.shift();
  const w = waiting;
  waiting = null;
  if (m.step !== w.step) w.reject(new Error(`the workers are out of step (${m.step} and ${w.step})`));
  else w.resolve(m);
}

// Requests that are more than a call of the same name.
const special = {
  // Joins data-parallel training as worker k of `of`, linked to the other worker by `port`.
  connect_peer(port, k, of) {
    peerPort = port;
    arrived.length = 0;
    port.onmessage = (e) => { arrived.push(e.data); deliver(); };
    engine.set_data_parallel(k, of, exchange);
  },
  disconnect_peer() {
    engine.set_data_parallel(0, 0, null);
    peerPort?.close();
    peerPort = null;
    waiting = null;
  },
  // The other worker's loop: one data-parallel step after another, until it is terminated.
  async peer_run() {
    for (;;) await engine.peer_step();
  },
  // The first call loads the module and makes the Engine; later ones (after a GPU fault) pick
  // the backend again for the next model. The answer adds what the browser says of its GPU.
  async init(preferGpu) {
    if (!engine) {
      wasm = await loadModule();
      engine = new Engine();
    }
    const r = await engine.init(preferGpu);
    if (r.backend === 'webgpu') r.gpu = await adapterInfo();
    r.webgpuApi = 'gpu' in navigator;
    r.simd = simd;
    return r;
  },
  async load_checkpoint(bytes, name) {
    return await engine.load_checkpoint(new Uint8Array(bytes), name);
  },
  async checkpoint_bytes() {
    const bytes = await engine.checkpoint_bytes();
    return bytes.buffer;
  },
  encode(text) {
    return Array.from(engine.encode(text));
  },
  // Bytes of wasm memory (it never shrinks: growth across a long run would be a leak).
  memory() {
    return wasm.memory.buffer.byteLength;
  },
  // start_generation, then next_token until the end; with `stream` each token is also posted
  // as it comes. `stopAt` ends the generation after a token containing that text (greedy
  // answers end at a newline).
  async generate(prompt, opts, { stream = '', stopAt = '' } = {}) {
    stopGen = false;
    engine.start_generation(prompt, opts);
    const out = [];
    for (;;) {
      if (stream) await yieldToEvents();
      if (stopGen) break;
      const ev = await engine.next_token();
      if (!ev) break;
      out.push(ev);
      if (stream) post({ type: 'token', stream, token: ev });
      if (stopAt && ev.text.includes(stopAt)) break;
    }
    return { tokens: out, stopped: stopGen };
  },
};

// The Engine's own methods, called as they are.
function method(name) {
  if (special[name]) return special[name];
  if (name === 'constructor' || name === 'free' || typeof Engine.prototype[name] !== 'function') {
    throw { kind: 'state', message: `the engine has no method ${name}` };
  }
  if (!engine) throw { kind: 'state', message: `${name}: the engine has not started` };
  return (...args) => engine[name](...args);
}

self.onmessage = (e) => {
  const { id, method: name, args = [] } = e.data;
  if (name === 'stop_generation') { stopGen = true; return; }
  enqueue(() => reply(id, () => method(name)(...args)));
};
