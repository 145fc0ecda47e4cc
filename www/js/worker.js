// The Web Worker that owns the wasm Engine, so the page never freezes.
// Engine methods must never overlap (wasm-bindgen borrows the engine for each call), so every
// request runs on one promise chain; only "stop" and "pause" act at once, by setting flags.
import init, { Engine } from '../pkg/tinygpt.js';

let engine = null;
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
    post({ id, ok: false, error: String(e && e.message ? e.message : e) });
  }
}

const handlers = {
  async start({ preferGpu }) {
    await init();
    engine = new Engine();
    return await engine.init(preferGpu);
  },
  async load({ bytes, name }) {
    return await engine.load_checkpoint(new Uint8Array(bytes), name);
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
  async generate({ prompt, opts, stream }) {
    stopGen = false;
    engine.start_generation(prompt, opts);
    const out = [];
    for (;;) {
      if (stopGen) break;
      const ev = await engine.next_token();
      if (!ev) break;
      out.push(ev);
      if (stream) post({ type: 'token', stream, token: ev });
    }
    return { tokens: out, stopped: stopGen };
  },
  async prepareTraining({ corpus, model, train, continueModel }) {
    return await engine.prepare_training(corpus, model, train, continueModel);
  },
  // Runs up to `steps` optimizer steps (until paused), posting each step's metrics.
  async train({ steps, evalEvery, total }) {
    training = true;
    let last = null;
    for (let i = 0; i < steps && training; i++) {
      const t0 = performance.now();
      const s = await engine.train_step();
      s.ms = performance.now() - t0;
      if (evalEvery > 0 && (s.step % evalEvery === 0 || s.step >= total)) {
        Object.assign(s, await engine.estimate_val());
      }
      post({ type: 'step', metrics: s });
      last = s;
      if (s.step >= total) break;
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
