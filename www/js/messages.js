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

// What an error says to a reader. Errors carry a `kind` (the engine's, or the page's own in
// the same shape); the page reads the fields of a kind to say it in its own words, and never
// looks into the message text.
export function describe(e) {
  if (!e || typeof e !== 'object') return String(e);
  switch (e.kind) {
    case 'unknown_char': {
      const code = e.ch.codePointAt(0).toString(16).toUpperCase().padStart(4, '0');
      return `The text has “${e.ch}” (U+${code}, character ${e.pos + 1}), which this model never saw: it knows only the ${e.vocab} characters of its training text. Remove it, or train a model on text that has it.`;
    }
    default:
      return String(e.message);
  }
}

// `m` with a capital first letter.
export const capital = (m) => m.charAt(0).toUpperCase() + m.slice(1);

// `m` ending with a full stop (or the stop it has).
export const fullStop = (m) => (m.endsWith('.') || m.endsWith('!') || m.endsWith('?') ? m : `${m}.`);
