// The training panel's corpus: Shakespeare, pasted text, an uploaded .txt or a toy task, with
// a preview of what was picked. Created with its fieldset.
import { byId } from '../dom.js';
import { TASKS, makeTask } from '../toy.js';
import { pageError } from '../engine.js';

const MAX_UPLOAD = 20 * 1024 * 1024; // corpus files

// `seed()` seeds a toy task's examples; `changed(kind)` is called whenever the pick changes.
export function createCorpus(root, { msg, describe, seed, changed }) {
  const $ = byId(root);
  const kind = () => root.querySelector('input[name=corpus]:checked').value;

  async function readUpload() {
    const f = $('corpusfile').files[0];
    if (!f) throw pageError('data', 'Choose a .txt file to train on.');
    if (f.size === 0) throw pageError('data', `“${f.name}” is empty.`);
    if (f.size > MAX_UPLOAD) throw pageError('data', `“${f.name}” is ${(f.size / 1048576).toFixed(0)} MB; the page trains on files up to ${MAX_UPLOAD / 1048576} MB.`);
    const bytes = await f.arrayBuffer();
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      throw pageError('data', `“${f.name}” is not UTF-8 text.`);
    }
  }

  function preview(text, name) {
    const chars = new Set(text).size;
    $('corpusinfo').textContent = `${name ? `“${name}”: ` : ''}${text.length.toLocaleString()} characters, ${chars} distinct.`;
    $('corpuspreview').textContent = text.slice(0, 300) + (text.length > 300 ? ' …' : '');
  }

  // The picked corpus: {text, toy} where toy is {name, test} for a toy task (held-out
  // [prompt, answer] pairs to score), else null.
  async function read() {
    switch (kind()) {
      case 'shakespeare': {
        const r = await fetch('data/shakespeare.txt');
        if (!r.ok) throw pageError('io', 'The Shakespeare corpus is missing (run ./build.sh web).');
        return { text: await r.text(), toy: null };
      }
      case 'paste': {
        const t = $('corpustext').value;
        if (!t) throw pageError('data', 'Paste some text to train on first.');
        return { text: t, toy: null };
      }
      case 'upload':
        return { text: await readUpload(), toy: null };
      case 'toy': {
        const name = $('toytask').value;
        const task = makeTask(name, 3000, 20, seed() || 1);
        return { text: task.text, toy: { name, test: task.test } };
      }
    }
  }

  // Says what training was prepared on.
  function showPrepared(text, toy) {
    preview(text, kind() === 'upload' ? $('corpusfile').files[0].name : '');
    if (toy) $('corpusinfo').textContent = `${text.length.toLocaleString()} characters of “${TASKS[toy.name].label}” examples; ${toy.test.length} more held out for scoring.`;
  }

  // Puts the pick back as it was when an autosave was written.
  function restore(meta) {
    if (meta.corpus) {
      const r = root.querySelector(`input[name=corpus][value="${meta.corpus === 'toy' ? 'toy' : 'shakespeare'}"]`);
      if (r) { r.checked = true; r.onchange(); }
    }
    if (meta.toy && TASKS[meta.toy]) $('toytask').value = meta.toy;
  }

  for (const [k, t] of Object.entries(TASKS)) {
    const o = document.createElement('option');
    o.value = k;
    o.textContent = t.label;
    $('toytask').append(o);
  }
  for (const r of root.querySelectorAll('input[name=corpus]')) {
    r.onchange = () => {
      changed(kind());
      $('corpustext').hidden = kind() !== 'paste';
      $('corpusfile').hidden = kind() !== 'upload';
      $('corpuspreview').textContent = '';
      $('corpusinfo').textContent = '';
    };
  }
  $('corpusfile').onchange = async () => {
    changed();
    msg.clearError();
    try {
      preview(await readUpload(), $('corpusfile').files[0].name);
    } catch (e) {
      $('corpuspreview').textContent = '';
      msg.showError(describe(e));
    }
  };
  $('corpustext').oninput = changed;
  return { kind, read, showPrepared, restore };
}
