// Small DOM helpers for the components. A component looks up elements only inside its own
// root, and text (generated, file names, corpus) goes in through textContent, never innerHTML.

// `$('id')` inside `root` (an element or the document).
export const byId = (root) => (id) => root.querySelector(`#${id}`);

// A new element with a class name and text.
export function el(tag, className = '', text = '') {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text) e.textContent = text;
  return e;
}

// `text` as the value of the number input `input` when it is a number within the input's
// min and max (and whole where its step is), else null.
export function numberFor(input, text) {
  if (typeof text !== 'string' || !/^-?(\d+\.?\d*|\.\d+)(e-?\d+)?$/i.test(text.trim())) return null;
  const v = Number(text);
  if (!Number.isFinite(v)) return null;
  if (input.min !== '' && v < Number(input.min)) return null;
  if (input.max !== '' && v > Number(input.max)) return null;
  const step = input.step === '' ? 1 : input.step;
  if (step !== 'any' && Number(step) === 1 && !Number.isInteger(v)) return null;
  return v;
}
