// The Web Worker that owns the wasm Engine, so the page never freezes.
// Engine methods must never overlap (wasm-bindgen borrows the engine for each call), so every
// request runs on one promise chain; only "stop" and "pause" act at once, by setting flags.
import init, { Engine } from '../pkg/tinygpt.js';

let engine = null;
let wasm = null; // the module's exports (its memory, for the page tests' memory checks)
let chain = Promise.resolve();
let stopGen = false;
let training = false;

const post = (msg) => self.postMessage(msg);

function enqueue(fn) {
  chain = chain.then(fn, fn);
  return chain;
}

async function reply(id, fn) {
  try {
    post({ id, ok: true, result: await fn() });
  } catch (e) {
    // the engine's errors carry a kind (and its fields): relay them whole
    const err = e && typeof e === 'object' ? { ...e, kind: e.kind ?? 'page', message: String(e.message ?? e) } : { kind: 'page', message: String(e) };
    post({ id, ok: false, error: err.message, errorInfo: err });
  }
}

// On the CPU backend the engine's promises resolve without ever leaving the microtask queue, so
// a "stop" or "pause" message would wait for the whole loop; a macrotask hop lets it in.
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

const handlers = {
  async start({ preferGpu }) {
    wasm = await init();
    engine = new Engine();
    const r = await engine.init(preferGpu);
    if (r.backend === 'webgpu') r.gpu = await adapterInfo();
    r.webgpuApi = 'gpu' in navigator;
    return r;
  },
  // After a GPU fault: a fresh engine state on a new device (or the CPU) with the last save.
  async restart({ preferGpu, bytes, name }) {
    const r = await engine.init(preferGpu);
    if (r.backend === 'webgpu') r.gpu = await adapterInfo();
    r.webgpuApi = 'gpu' in navigator;
    r.info = await engine.load_checkpoint(new Uint8Array(bytes), name);
    return r;
  },
  // Bytes of wasm memory (it never shrinks: growth across a long run would be a leak).
  memory() {
    return wasm.memory.buffer.byteLength;
  },
  fault() {
    return engine.fault() ?? null;
  },
  testFault({ kind }) {
    engine.test_fault(kind);
    return null;
  },
  async load({ bytes, name }) {
    return await engine.load_checkpoint(new Uint8Array(bytes), name);
  },
  // A Hugging Face GPT-2 folder's File objects, passed on as they are: the engine reads them
  // with FileReaderSync a slice at a time, so the weights are never copied whole into JS.
  async loadHf({ files }) {
    return await engine.load_hf(files);
  },
  info() {
    return engine.info();
  },
  async save() {
    const bytes = await engine.checkpoint_bytes();
    return bytes.buffer;
  },
  async attention({ text }) {
    return await engine.attention(text);
  },
  async pe() {
    return await engine.pe_table();
  },
  encode({ text }) {
    return Array.from(engine.encode(text));
  },
  // Generates after `prompt`; with `stream` each token is also posted as it comes. `stopAt`
  // ends the generation after a token containing that text (greedy answers end at a newline).
  async generate({ prompt, opts, stream, stopAt }) {
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
  async prepareTraining({ corpus, model, train, continueModel }) {
    return await engine.prepare_training(corpus, model, train, continueModel);
  },
  // Runs up to `steps` optimizer steps (until paused), posting each step's metrics. The
  // engine's train_chunk holds the policy (pipelining, settling before evaluations, the
  // cadence); this relays its events one step at a time so a pause is noticed at once.
  async train({ steps }) {
    training = true;
    let last = null;
    for (let i = 0; i < steps && training; i++) {
      const r = await engine.train_chunk(1);
      for (const ev of r.events) {
        if (ev.type === 'step') {
          last = { ...ev };
          delete last.type;
        } else if (ev.type === 'eval' && last && last.step === ev.step) {
          Object.assign(last, { val_loss: ev.val_loss, val_acc: ev.val_acc });
        }
      }
      if (last) post({ type: 'step', metrics: last });
      if (r.done) break;
      await yieldToEvents();
    }
    const paused = !training;
    training = false;
    return { last, paused };
  },
};

self.onmessage = (e) => {
  const msg = e.data;
  if (msg.type === 'stop') { stopGen = true; return; }
  if (msg.type === 'pause') { training = false; return; }
  const h = handlers[msg.type];
  if (!h) { post({ id: msg.id, ok: false, error: `unknown request ${msg.type}` }); return; }
  enqueue(() => reply(msg.id, () => h(msg)));
};
