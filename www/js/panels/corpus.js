// The training panel's corpus: Shakespeare, pasted text, an uploaded .txt or a toy task (the
// engine's: `defaults().tasks`), with a preview of what was picked. Created with its fieldset.
import { byId } from '../dom.js';
import { pageError } from '../engine.js';

const MAX_UPLOAD = 20 * 1024 * 1024; // corpus files

// `changed(kind)` is called whenever the pick changes (kind 'toy' also when the task changes).
export function createCorpus(root, { state, msg, describe, changed }) {
  const $ = byId(root);
  const kind = () => root.querySelector('input[name=corpus]:checked').value;
  const tasks = () => state.defaults?.tasks || [];
  // The picked task's description (defaults().tasks), when a task is picked.
  const task = () => (kind() === 'toy' ? tasks().find((t) => t.name === $('toytask').value) || null : null);

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

  // The picked corpus: {text, task: null}, or {text: null, task} for a toy task (its
  // description; the engine makes its examples).
  async function read() {
    switch (kind()) {
      case 'shakespeare': {
        const r = await fetch('data/shakespeare.txt');
        if (!r.ok) throw pageError('io', 'The Shakespeare corpus is missing (run ./build.sh web).');
        return { text: await r.text(), task: null };
      }
      case 'paste': {
        const t = $('corpustext').value;
        if (!t) throw pageError('data', 'Paste some text to train on first.');
        return { text: t, task: null };
      }
      case 'upload':
        return { text: await readUpload(), task: null };
      case 'toy': {
        const t = task();
        if (!t) throw pageError('config', 'Pick a toy task.');
        return { text: null, task: t };
      }
    }
  }

  // What a task asks and trains: its example, the skill, its held-out set.
  function describeTask(t) {
    const train = t.train_examples ? `${t.train_examples.toLocaleString()} training examples` : 'fresh examples every batch';
    $('corpusinfo').textContent = `${t.label}: ${t.skill}. The loss is taken on the answers only; ${train}, ${t.heldout.toLocaleString()} held out and scored by exact match (greedy decoding of the prompt gives exactly the answer).`;
    $('corpuspreview').textContent = `${t.example.prompt}${t.example.answer}\n  (prompt “${t.example.prompt.replace(/\n/g, '↵')}”, answer “${t.example.answer}”)`;
  }

  // Says what training was prepared on.
  function showPrepared(text, t) {
    if (t) describeTask(t);
    else preview(text, kind() === 'upload' ? $('corpusfile').files[0].name : '');
  }

  // Puts the pick back as it was when an autosave was written.
  function restore(meta) {
    if (meta.corpus) {
      const r = root.querySelector(`input[name=corpus][value="${meta.corpus === 'toy' ? 'toy' : 'shakespeare'}"]`);
      if (r) { r.checked = true; r.onchange(); }
    }
    if (meta.toy && tasks().some((t) => t.name === meta.toy)) $('toytask').value = meta.toy;
  }

  // the engine's tasks in the picker
  state.on('defaults', (d) => {
    $('toytask').textContent = '';
    for (const t of d.tasks) {
      const o = new Option(`${t.name}: ${t.label}`, t.name);
      o.title = t.skill;
      $('toytask').append(o);
    }
  });
  for (const r of root.querySelectorAll('input[name=corpus]')) {
    r.onchange = () => {
      changed(kind());
      $('corpustext').hidden = kind() !== 'paste';
      $('corpusfile').hidden = kind() !== 'upload';
      $('corpuspreview').textContent = '';
      $('corpusinfo').textContent = '';
      if (task()) describeTask(task());
    };
  }
  // picking a task picks the toy corpus, as choosing that radio button does
  $('toytask').onchange = () => {
    const r = root.querySelector('input[name=corpus][value=toy]');
    r.checked = true;
    r.onchange();
  };
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

  // The pick as a link carries it (never the text itself).
  const settings = () => ({ corpus: kind(), task: kind() === 'toy' ? $('toytask').value : null });
  // A link's pick ({corpus, task}); returns the names it rejected.
  function apply(got) {
    const bad = [];
    if (got.task !== undefined) {
      if (tasks().some((t) => t.name === got.task)) {
        $('toytask').value = got.task;
        if (got.corpus === undefined) got = { ...got, corpus: 'toy' };
      } else bad.push('task');
    }
    if (got.corpus !== undefined) {
      const r = root.querySelector(`input[name=corpus][value="${CSS.escape(got.corpus)}"]`);
      if (r) {
        r.checked = true;
        r.onchange();
      } else bad.push('corpus');
    }
    return bad;
  }
  return { kind, read, showPrepared, restore, task, settings, apply };
}
