// The Model panel: what the model is, its download and upload as .safetensors, Hugging Face
// GPT-2 folders (picked or dropped on the page), and the autosave line. Also the loads at
// start-up: the autosave from an earlier visit, else the default model.
import { byId } from '../dom.js';
import { fmtParams, fmtBytes } from '../format.js';
import * as store from '../store.js';
import { pageError } from '../engine.js';
import { fullStop } from '../messages.js';

const MAX_CKPT = 1024 * 1024 * 1024; // checkpoints
const DEFAULT_MODEL = 'shakespeare.safetensors';

// The files of a picked folder: only its top level (a cloned repository also holds .git/ and
// other subfolders, whose files may share a name with the ones wanted).
function topLevel(files) {
  return files.filter((f) => (f.webkitRelativePath || f.name).split('/').length <= 2);
}

// The files of a dropped folder (its top level).
function dirFiles(dir) {
  const reader = dir.createReader();
  const all = [];
  return new Promise((resolve, reject) => {
    // readEntries answers in batches until it gives an empty one
    const more = () => reader.readEntries((batch) => {
      if (!batch.length) {
        Promise.all(all.filter((e) => e.isFile).map((e) => new Promise((res, rej) => e.file(res, rej)))).then(resolve, reject);
        return;
      }
      all.push(...batch);
      more();
    }, reject);
    more();
  });
}

// `pauseTraining()` stops a training run and resolves once it has (a load replaces its model);
// `clearOutput()` empties the Generate panel's output.
export function createModel(root, { engine, state, msg, describe, pauseTraining, clearOutput }) {
  const $ = byId(root);
  let hfName = ''; // the picked GPT-2 folder's name, when the browser says it
  let loadingHf = false;

  function showInfo(i) {
    $('modelinfo').textContent = i.source === 'hf'
      ? `GPT-2 (Hugging Face)${hfName ? ` “${hfName}”` : ''}: ${i.n_layer} layers × ${i.n_head} heads, ${i.n_embd} wide, vocab ${i.vocab_size}, ` +
        `context ${i.block_size}, ${fmtParams(i.params)} params.`
      : `${i.n_layer} layers × ${i.n_head} heads, width ${i.n_embd}, context ${i.block_size}, ` +
        `${i.pos} positions, vocabulary ${i.vocab_size}${i.tokenizer === 'bpe' ? ' (byte-level BPE)' : ''}, ${i.params.toLocaleString()} parameters, ${i.step} steps trained.`;
    $('download').disabled = false;
    if (i.source !== 'hf') {
      // a checkpoint or a new model replaced the GPT-2: its notes no longer apply
      hfName = '';
      $('modelnotes').hidden = true;
    }
  }

  async function download() {
    msg.clearError();
    try {
      const bytes = await engine.checkpoint_bytes();
      const a = document.createElement('a');
      a.href = URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
      a.download = `tinygpt-step${state.info ? state.info.step : 0}.safetensors`;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10000);
    } catch (e) {
      msg.showError(describe(e));
    }
  }

  async function upload(f = $('upload').files[0]) {
    msg.clearError();
    if (!f) return;
    try {
      if (f.size === 0) throw pageError('checkpoint', `“${f.name}” is empty.`);
      if (f.size > MAX_CKPT) throw pageError('checkpoint', `“${f.name}” is ${(f.size / 1048576).toFixed(0)} MB, over the ${MAX_CKPT / 1048576} MB the page loads.`);
      await pauseTraining();
      const i = await engine.load_checkpoint(await f.arrayBuffer(), f.name);
      state.loaded(i, 'upload');
      msg.status(`Loaded “${f.name}” (step ${i.step}). Generate with it, or Resume to train it further on the selected corpus.`);
    } catch (e) {
      msg.showError(`Could not load “${f.name}”: ${describe(e)} The previous model is still loaded.`);
    } finally {
      $('upload').value = '';
    }
  }

  // Hands the picked File objects to the worker as they are: Files cross into a worker without
  // their bytes, and the engine reads model.safetensors slice by slice from there.
  async function loadHf(files, folder = '') {
    if (loadingHf || !files.length) return;
    msg.clearError();
    const weights = files.find((f) => f.name === 'model.safetensors');
    const names = files.map((f) => f.name).join(', ');
    loadingHf = true;
    document.body.dataset.loading = '1';
    for (const id of ['hfupload', 'hffolder', 'upload']) $(id).disabled = true;
    state.emit('loading', true);
    const t0 = performance.now();
    const what = weights ? `reading model.safetensors (${fmtBytes(weights.size)})` : `reading ${files.length === 1 ? files[0].name : `${files.length} files`}`;
    const progress = () => { $('hfprogress').textContent = `${what}… ${((performance.now() - t0) / 1000).toFixed(0)} s`; };
    progress();
    msg.status(`Opening the GPT-2 model: ${what}… (a big model takes a while)`); // announced once; the panel's line counts the seconds
    const tick = setInterval(progress, 1000);
    try {
      await pauseTraining();
      const i = await engine.load_hf(files);
      hfName = folder;
      clearOutput();
      state.loaded(i, 'hf');
      const notes = i.notes || [];
      $('modelnotes').textContent = notes.join(' ');
      $('modelnotes').hidden = notes.length === 0;
      const secs = ((performance.now() - t0) / 1000).toFixed(1);
      // a GPT-2 too big for the GPU, or no GPU at all: the CPU; say it the way the badge does
      const where = i.fallback || state.device.dev.backend !== 'webgpu' ? 'the CPU (WebAssembly)' : 'WebGPU';
      msg.status(`Loaded the GPT-2 model in ${secs} s; it runs on ${where}. Type a prompt (or pick a template) and press Generate.`);
      $('hfprogress').textContent = '';
    } catch (e) {
      $('hfprogress').textContent = '';
      msg.status('');
      const picked = files.length <= 3 ? ` (picked: ${names})` : '';
      msg.showError(`Could not open the GPT-2 model${picked}: ${fullStop(describe(e))} The previous model is still loaded.`);
    } finally {
      clearInterval(tick);
      loadingHf = false;
      document.body.dataset.loading = '0';
      for (const id of ['hfupload', 'hffolder', 'upload']) $(id).disabled = false;
      state.emit('loading', false);
      $('hfupload').value = '';
      $('hffolder').value = '';
    }
  }

  // Files dropped on the page: a lone .safetensors is a checkpoint; anything else is taken as a
  // GPT-2 folder's files (a dropped folder is opened, its top level only).
  async function dropped(dt) {
    const entries = [...dt.items].map((it) => (it.kind === 'file' && it.webkitGetAsEntry ? it.webkitGetAsEntry() : null));
    const dirs = entries.filter((e) => e && e.isDirectory);
    let files, folder = '';
    if (dirs.length === 1 && entries.length === 1) {
      folder = dirs[0].name;
      files = await dirFiles(dirs[0]);
    } else {
      files = [...dt.files];
    }
    if (files.length === 1 && files[0].name.endsWith('.safetensors') && files[0].name !== 'model.safetensors') return upload(files[0]);
    return loadHf(files, folder);
  }

  function setupDrop() {
    const hasFiles = (e) => e.dataTransfer && [...e.dataTransfer.types].includes('Files');
    let depth = 0; // dragenter/dragleave fire for every child crossed
    document.addEventListener('dragenter', (e) => { if (hasFiles(e)) { depth++; document.body.classList.add('dropping'); } });
    document.addEventListener('dragleave', (e) => { if (hasFiles(e) && --depth <= 0) { depth = 0; document.body.classList.remove('dropping'); } });
    document.addEventListener('dragover', (e) => { if (hasFiles(e)) { e.preventDefault(); e.dataTransfer.dropEffect = 'copy'; } });
    document.addEventListener('drop', (e) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      depth = 0;
      document.body.classList.remove('dropping');
      dropped(e.dataTransfer).catch((err) => msg.showError(`Could not read the dropped files: ${describe(err)}`));
    });
  }

  // The autosave from an earlier visit, loaded: its meta (the training settings it was made
  // with), or null when there is none or it cannot be read.
  async function restoreAutosave() {
    try {
      const pending = early?.saved;
      if (early) early.saved = null;
      const saved = await (pending || store.restore());
      if (!saved) return null;
      const i = await engine.load_checkpoint(saved.bytes, 'autosave');
      state.loaded(i, 'autosave');
      const when = saved.savedAt ? ` from ${new Date(saved.savedAt).toLocaleString()}` : '';
      msg.status(`Restored your autosaved model (step ${i.step}${when}) instead of the default one. Resume continues its training; Reset forgets it.`);
      $('savestate').textContent = `Restored from the autosave in this browser (step ${i.step}).`;
      return saved.meta || {};
    } catch (e) {
      msg.showError(`Your autosave could not be restored (${describe(e)}); loading the default model.`);
      return null;
    }
  }

  const fetchDefault = (signal) => fetch(`models/${DEFAULT_MODEL}`, { signal }).then((r) => {
    if (!r.ok) throw pageError('io', `HTTP ${r.status}`);
    return r.arrayBuffer();
  });

  // At boot, before the engine has started: the autosave lookup and the default model's
  // download begin at once and run while the worker compiles the wasm module, instead of one
  // after the other after it. `dropDefault` cancels the download when an autosave wins.
  let early = null;
  function prefetch() {
    const ctl = new AbortController();
    early = { saved: store.restore(), bytes: fetchDefault(ctl.signal), abort: () => ctl.abort() };
    // each failure is reported where its promise is awaited, if it is
    early.saved.catch(() => {});
    early.bytes.catch(() => {});
  }
  function dropDefault() {
    early?.abort();
  }

  async function loadDefault() {
    try {
      const bytes = await (early ? early.bytes : fetchDefault());
      early = null;
      state.loaded(await engine.load_checkpoint(bytes, DEFAULT_MODEL), 'default');
      const { dev, preferGpu } = state.device;
      if (dev.backend === 'webgpu' || !preferGpu) msg.status('Ready: a small Shakespeare model is loaded. Type a prompt and press Generate.');
    } catch (e) {
      msg.showError(`The default model could not be loaded: ${describe(e)}`);
    }
  }

  $('download').onclick = download;
  $('upload').onchange = () => upload();
  $('hfupload').onchange = () => loadHf([...$('hfupload').files]);
  $('hffolder').onchange = () => {
    const files = [...$('hffolder').files];
    loadHf(topLevel(files), files[0] ? files[0].webkitRelativePath.split('/')[0] : '');
  };
  setupDrop();
  state.on('info', showInfo);
  state.on('saved', (text) => { $('savestate').textContent = text; });
  return { prefetch, restoreAutosave, loadDefault, dropDefault };
}
