// The Device panel, the backend badge in the header and the notice under it: where the model
// runs (WebGPU and its adapter, or the CPU and why).
import { byId, el } from '../dom.js';

export function createDevice(root, { badge, notice, state, msg }) {
  const $ = byId(root);

  const adapterName = (g, adapter = '') => {
    const n = g ? [g.vendor, g.architecture, g.device || g.description].filter(Boolean).join(' ') : '';
    return (n || adapter.replace(/^WebGPU: /, '') || 'unnamed') + (g && g.fallback ? ' (software)' : '');
  };

  // Where the model runs now; `announce` says so in the status line when it is the CPU
  // fallback. On the CPU the label says whether that is a fallback (no adapter, or ?cpu) or
  // the measured choice (placement.js found the adapter slower).
  let simd = null; // the module build the worker loaded (init says; later moves do not repeat it)
  function show(dev, preferGpu, announce = true) {
    const p = state.placement;
    const rows = [];
    simd = dev.simd || simd;
    if (dev.backend === 'webgpu') {
      const name = adapterName(dev.gpu, dev.adapter);
      badge.textContent = `WebGPU · ${name}`;
      badge.title = dev.adapter;
      rows.push(['Backend', 'WebGPU (compute shaders)'], ['Adapter', name]);
      if (dev.gpu) rows.push(['Kind', dev.gpu.fallback ? 'software (fallback) adapter' : 'hardware adapter']);
      rows.push(['wgpu says', dev.adapter]);
      if (dev.compiled_ahead) rows.push(['Shaders', `${dev.compiled_ahead} pipelines compiled ahead when the model moved here, so its next job waits for none`]);
    } else {
      const measured = p && p.state === 'done' && p.adapter;
      const timing = p && (p.state === 'measuring' || p.state === 'paused');
      badge.textContent = measured ? 'CPU (WebAssembly) · measured faster here' : timing ? 'CPU (WebAssembly) · timing the GPU…' : 'CPU (WebAssembly) fallback';
      badge.title = measured ? p.why : `Why the CPU: ${dev.reason || 'unknown'}`;
      rows.push(['Backend', measured ? 'CPU (WebAssembly), measured faster than the GPU here' : 'CPU (WebAssembly) fallback']);
      rows.push(['Why', measured ? p.why : dev.reason || 'unknown']);
      if (measured) rows.push(['WebGPU adapter', adapterName(p.adapter.gpu, p.adapter.adapter)]);
      else if (!timing) rows.push(['WebGPU API', dev.webgpuApi ? 'present, but no usable adapter' : 'not in this browser']);
    }
    if (simd) rows.push(['WebAssembly', `${simd.build === 'relaxed' ? 'SIMD + relaxed SIMD' : 'SIMD'}: ${simd.why}`]);
    badge.dataset.backend = dev.backend;
    $('devinfo').dataset.simd = simd ? simd.build : '';
    const dl = $('devinfo');
    dl.textContent = '';
    for (const [k, v] of rows) dl.append(el('dt', '', k), el('dd', '', v));
    if (announce && dev.backend !== 'webgpu' && preferGpu) msg.status('No WebGPU here, so the model runs on the CPU (WebAssembly): slower, but everything works. The Device panel says why.');
  }

  // Where the model runs after a load: a GPT-2 too big for the WebGPU adapter is put on the
  // CPU, which the badge and a notice say (a fact to know, not an error). `null`: as the
  // device started.
  function showModel(i) {
    if (i && i.fallback) {
      notice.textContent = i.fallback;
      notice.hidden = false;
      badge.textContent = 'CPU (WebAssembly): model too big for the GPU';
      badge.title = i.fallback;
      badge.dataset.backend = 'cpu';
    } else {
      notice.hidden = true;
      notice.textContent = '';
      if (state.device) show(state.device.dev, state.device.preferGpu, false);
    }
  }

  // A new device: the engine's start, or a restart after a GPU fault.
  function setDevice(dev, preferGpu, announce = true) {
    state.device = { dev, preferGpu };
    show(dev, preferGpu, announce);
  }

  // The backend choice by measurement (placement.js): both figures, the choice and why.
  const ms = (x, d = 1) => (x == null ? '–' : `${x.toFixed(d)} ms`);
  function showPlacement(p) {
    const box = $('devchoice');
    box.textContent = '';
    box.dataset.state = p.state || '';
    const line = (t) => box.append(el('p', '', t));
    if (p.state === 'forced') line(`Forced by ?${p.forced} in the address: everything runs on the ${p.forced === 'gpu' ? 'GPU (WebGPU)' : 'CPU (WebAssembly)'}; nothing was timed.`);
    else if (p.state === 'measuring') line('Timing a training step and a generated token on each backend…');
    else if (p.state === 'paused') line('The timing is paused while training runs (it shares the cores); it is done again when the run pauses or ends. The run stays on the CPU until then.');
    else if (p.state === 'failed') line(`The timing failed (${p.error}); the model stays where it started.`);
    else if (p.state === 'done' && !p.cal) line(`${capitalFirst(p.why)}.`);
    else if (p.state === 'done') {
      const c = p.cal;
      const t = el('table', 'devtable');
      t.dataset.train = c.train;
      t.dataset.generate = c.generate;
      const row = (cells, tag = 'td') => { const r = el('tr'); for (const x of cells) r.append(el(tag, '', x)); t.append(r); };
      row(['', 'training step', 'generated token'], 'th');
      row(['CPU (WebAssembly)', ms(c.cpu?.train_step_ms), ms(c.cpu?.decode_token_ms, 2)]);
      row(['GPU (WebGPU)', c.gpu ? ms(c.gpu.train_step_ms) : 'not timed', c.gpu ? ms(c.gpu.decode_token_ms, 2) : '']);
      row(['chosen', c.train === 'gpu' ? 'GPU' : 'CPU', c.generate === 'gpu' ? 'GPU' : 'CPU']);
      box.append(t);
      if (c.workload) line(`Workload: ${c.workload}.`);
      line(`Why: ${c.gpu_error ? `GPU: ${c.gpu_error}` : c.why}.`);
    }
    if (p.moved) line(p.moved);
    const check = $('devcheck');
    check.textContent = '';
    if (p.check && p.check.length) {
      const worst = Math.max(...p.check.map((r) => r.rel_err));
      const t = el('table', 'devtable');
      t.dataset.worst = String(worst);
      const r0 = el('tr');
      for (const h of ['op', 'shape (B,T,C,NH)', 'largest relative error']) r0.append(el('th', '', h));
      t.append(r0);
      for (const r of p.check) {
        const tr = el('tr');
        tr.dataset.op = r.op;
        tr.dataset.shape = r.shape;
        tr.append(el('td', '', r.op), el('td', '', r.shape), el('td', r.rel_err < 1e-3 ? 'ok' : 'bad', r.rel_err.toExponential(1)));
        t.append(tr);
      }
      const shapes = [...new Set(p.check.map((r) => r.shape))];
      check.append(el('p', '', `${p.check.length} checks (every op at ${shapes.join(' and ')}: a small odd shape and the training shape); the largest error is ${worst.toExponential(1)} (${worst < 1e-3 ? 'all within 1e-3' : 'over 1e-3: this adapter computes some ops wrongly'}).`), t);
    } else if (p.checkError) {
      check.append(el('p', '', `The self-check could not run: ${p.checkError}.`));
    } else {
      check.append(el('p', 'hint', p.state === 'measuring' || p.forced === 'gpu' ? 'Running…' : p.state === 'paused' ? 'Paused while training runs.' : 'No WebGPU adapter was checked.'));
    }
  }
  // The CPU's SIMD matmul against its plain loops, on this CPU (Engine::cpu_check).
  function showCpuCheck(p) {
    const box = $('devcpucheck');
    if (p.cpuCheckError) {
      box.textContent = `The CPU kernel check could not run: ${p.cpuCheckError}.`;
      return;
    }
    if (!p.cpuCheck) return;
    const worst = Math.max(...p.cpuCheck.map((r) => r.rel_err));
    box.dataset.worst = String(worst);
    box.textContent = `${p.cpuCheck.map((r) => `${r.op} ${r.rel_err.toExponential(1)}`).join(', ')}: ${worst < 1e-4 ? 'all within 1e-4 (float rounding)' : 'over 1e-4: the SIMD kernel is wrong on this CPU'}.`;
    box.className = worst < 1e-4 ? '' : 'bad';
  }
  const capitalFirst = (t) => t.charAt(0).toUpperCase() + t.slice(1);

  state.on('workers', (text) => { $('devworkers').textContent = text; });
  state.on('placement', (p) => {
    showPlacement(p);
    showCpuCheck(p);
    if (state.device && notice.hidden) show(state.device.dev, state.device.preferGpu, false);
  });
  state.on('model', (i, origin) => { if (origin === 'hf') showModel(i); });
  // a checkpoint or a new model replaced the GPT-2: its CPU notice no longer applies
  state.on('info', (i) => { if (i.source !== 'hf' && !notice.hidden) showModel(null); });
  return { setDevice };
}
