// The Device panel, the backend badge in the header and the notice under it: where the model
// runs (WebGPU and its adapter, or the CPU and why).
import { byId, el } from '../dom.js';

export function createDevice(root, { badge, notice, state, msg }) {
  const $ = byId(root);

  // What the engine started on; `announce` says so in the status line when it is the CPU fallback.
  function show(dev, preferGpu, announce = true) {
    const g = dev.gpu;
    const gpuName = g ? [g.vendor, g.architecture, g.device || g.description].filter(Boolean).join(' ') : '';
    const name = gpuName || dev.adapter.replace(/^WebGPU: /, '');
    badge.textContent = dev.backend === 'webgpu' ? `WebGPU · ${name}${g && g.fallback ? ' (software)' : ''}` : 'CPU (WebAssembly) fallback';
    badge.title = dev.reason ? `Why the CPU: ${dev.reason}` : dev.adapter;
    badge.dataset.backend = dev.backend;
    const rows = [['Backend', dev.backend === 'webgpu' ? 'WebGPU (compute shaders)' : 'CPU (WebAssembly) fallback']];
    if (dev.backend === 'webgpu') {
      rows.push(['Adapter', name || 'unnamed']);
      if (g) rows.push(['Kind', g.fallback ? 'software (fallback) adapter' : 'hardware adapter']);
      rows.push(['wgpu says', dev.adapter]);
    } else {
      rows.push(['Why', dev.reason || 'unknown']);
      rows.push(['WebGPU API', dev.webgpuApi ? 'present, but no usable adapter' : 'not in this browser']);
    }
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

  state.on('model', (i, origin) => { if (origin === 'hf') showModel(i); });
  // a checkpoint or a new model replaced the GPT-2: its CPU notice no longer applies
  state.on('info', (i) => { if (i.source !== 'hf' && !notice.hidden) showModel(null); });
  return { setDevice };
}
