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
