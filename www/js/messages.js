// The lines at the top of the page: the error (role=alert), the ways on after a training
// failure, and the status line. Created with the element that holds them (the body).
import { byId } from './dom.js';

export function createMessages(root) {
  const $ = byId(root);
  let errorFrom = null; // which part of the page showed the error ('attention' clears its own)
  let onRecover = () => {};
  for (const k of ['gpu', 'cpu', 'lr']) $(`recover${k}`).onclick = () => onRecover(k);

  const api = {
    showError(msg, from = null) {
      errorFrom = from;
      const e = $('error');
      e.textContent = msg;
      e.hidden = false;
    },
    clearError() {
      $('error').hidden = true;
      $('error').textContent = '';
      // the lr offer goes with its message; a lost GPU still needs a choice
      if ($('recovergpu').hidden && $('recovercpu').hidden) $('recover').hidden = true;
    },
    // Clears the error if `from` showed it.
    clearErrorFrom(from) {
      if (errorFrom === from) api.clearError();
    },
    // Brings the error and the ways on into view (they are at the top of the page).
    revealError() {
      $('error').scrollIntoView({ block: 'start' });
    },
    status(msg) {
      $('status').textContent = msg;
    },
    // Offers the ways on after a fault: 'gpu' and 'cpu' (a new device), 'lr' (a NaN step).
    offerRecovery(kinds) {
      for (const k of ['gpu', 'cpu', 'lr']) $(`recover${k}`).hidden = !kinds.includes(k);
      $('recover').hidden = false;
    },
    hideRecovery() {
      $('recover').hidden = true;
    },
    // What a click on one of the ways on does (the training panel's recover).
    onRecover(fn) {
      onRecover = fn;
    },
  };
  return api;
}

// The engine's messages, with the most common one (an unknown character) said more plainly.
export function clean(e) {
  // the engine's errors start with their kind ("numeric error: ..."), which says nothing to a reader
  const msg = String(e && e.message ? e.message : e).replace(/^Error: /, '').replace(/^[a-z]+ error: /, '');
  const m = /character '(.+)' \(U\+([0-9A-Fa-f]+)\) at position (\d+) is not in the model's vocabulary of (\d+) characters/.exec(msg);
  if (m) return `The text has “${m[1]}” (U+${m[2]}, character ${Number(m[3]) + 1}), which this model never saw: it knows only the ${m[4]} characters of its training text. Remove it, or train a model on text that has it.`;
  return msg;
}
