// The Generate panel: the prompt and its templates, the sampling settings, the output (each
// token tinted by its probability) and the popover of a token's alternatives.
import { byId, el, numberFor } from '../dom.js';
import { showChar, pct } from '../format.js';

// The GPT-2 paper's zero-shot prompts (Radford et al., 2019). The summary's article is a
// stand-in, selected so that pasting replaces it.
const ARTICLE = 'The city council voted on Tuesday to turn the old railway yard into a public park. Work begins next spring and is expected to take two years. (Paste your own article here.)';
const TEMPLATES = {
  summarise: { text: `${ARTICLE}\nTL;DR:`, select: [0, ARTICLE.length] },
  qa: { text: 'Q: What is the capital of France?\nA:' },
  translate: { text: 'English: The house is blue.\nFrench:' },
};

// The sampling options and the controls that set them.
const CONTROLS = { max_tokens: 'maxtokens', temperature: 'temperature', top_k: 'topk', top_p: 'topp', seed: 'seed' };

export function createGenerate(root, { engine, state, msg, describe }) {
  const $ = byId(root);
  const out = $('output');
  const tokData = new WeakMap(); // a drawn span -> {text, prob, parts}
  let onToken = () => {};
  let placement = null; // moves the model to the backend measured faster at generating
  engine.listen('token', (m) => onToken(m));

  const options = () => Object.fromEntries(Object.entries(CONTROLS).map(([k, id]) => [k, Number($(id).value)]));

  // One span per character: byte-level BPE tokens can end inside a character; those come
  // with text "" and are drawn with the token that completes it, so no span is ever empty.
  function tokenSpan(parts) {
    const token = parts[parts.length - 1];
    const prob = parts.reduce((p, t) => p * t.prob, 1);
    const s = el('span', 'tok', token.text);
    s.style.setProperty('--p', prob.toFixed(3));
    s.title = `“${showChar(token.text)}” p = ${pct(prob)}${parts.length > 1 ? ` (${parts.length} tokens)` : ''}\n` + parts[0].top.map((a) => `${showChar(a.text)}  ${pct(a.prob)}`).join('\n');
    tokData.set(s, { text: token.text, prob, parts });
    return s;
  }

  async function generate() {
    if (state.generating) return;
    msg.clearError();
    const prompt = $('prompt').value;
    out.textContent = '';
    out.append(el('span', 'prompt', prompt));
    state.generated = '';
    state.generating = true;
    document.body.dataset.generating = '1';
    out.dataset.done = '0';
    hidePop();
    $('generate').disabled = true;
    $('stop').disabled = false;
    const t0 = performance.now();
    let n = 0;
    let partial = [];
    // Spans are added once per frame: asking for the layout (to keep the view scrolled to the
    // end) after every token made each one cost as much as the whole text (10k tokens: minutes).
    let queued = [], frame = 0;
    const flush = () => {
      frame = 0;
      if (!queued.length) return;
      const stick = out.scrollTop + out.clientHeight >= out.scrollHeight - 4;
      out.append(...queued);
      queued = [];
      if (stick) out.scrollTop = out.scrollHeight;
    };
    onToken = ({ token }) => {
      n++;
      state.generated += token.text;
      if (n % 8 === 0) state.setText({});
      if (token.text === '') { partial.push(token); return; }
      queued.push(tokenSpan([...partial, token]));
      partial = [];
      if (!frame) frame = requestAnimationFrame(flush);
    };
    try {
      if (placement && !state.training) await placement.placeFor('generate');
      await engine.generate(prompt, options(), { stream: 'main' });
      const secs = (performance.now() - t0) / 1000;
      msg.status(`Generated ${n} tokens in ${secs.toFixed(1)} s (${(n / secs).toFixed(0)} tokens/s).`);
    } catch (e) {
      msg.showError(describe(e));
    } finally {
      cancelAnimationFrame(frame);
      flush();
      state.generating = false;
      $('generate').disabled = false;
      $('stop').disabled = true;
      out.dataset.done = '1';
      document.body.dataset.generating = '0';
      state.setText({});
    }
  }

  // The popover with a generated character's top-5 alternatives (hover, focus or tap).
  function showPop(span) {
    const token = tokData.get(span);
    if (!token) return;
    const pop = $('tokpop');
    pop.textContent = '';
    // a character spread over several tokens: its probability is theirs multiplied, and the
    // alternatives are those to the first token, where the character began
    const first = token.parts[0];
    pop.append(el('div', 'pophead', token.parts.length > 1
      ? `“${showChar(token.text)}” took ${token.parts.length} tokens, picked at ${token.parts.map((t) => pct(t.prob)).join(' × ')}; alternatives to the first:`
      : `“${showChar(token.text)}” was picked at ${pct(token.prob)}`));
    for (const a of first.top.slice(0, 5)) {
      const row = el('div', 'poprow' + (a.text === first.text && first.text !== '' ? ' picked' : ''));
      const bar = el('span', 'popbar');
      bar.style.setProperty('--w', Math.max(0.02, a.prob).toFixed(3));
      row.append(el('code', '', showChar(a.text)), bar, el('span', '', pct(a.prob)));
      pop.append(row);
    }
    pop.hidden = false;
    const box = span.getBoundingClientRect();
    const host = pop.offsetParent ? pop.offsetParent.getBoundingClientRect() : { left: 0, top: 0 };
    const x = Math.min(box.left - host.left, (pop.offsetParent?.clientWidth || 300) - pop.offsetWidth - 4);
    pop.style.setProperty('--x', `${Math.max(0, x)}px`);
    pop.style.setProperty('--y', `${box.bottom - host.top + 4}px`);
  }
  function hidePop() {
    $('tokpop').hidden = true;
  }

  function useTemplate(name) {
    const t = TEMPLATES[name];
    const p = $('prompt');
    p.value = t.text;
    p.focus();
    if (t.select) p.setSelectionRange(...t.select);
    else p.setSelectionRange(t.text.length, t.text.length);
    state.setText({ prompt: t.text, generated: '' });
  }

  $('generate').onclick = generate;
  $('stop').onclick = () => engine.stop_generation();
  $('prompt').addEventListener('input', () => state.setText({ prompt: $('prompt').value, generated: '' }));
  $('prompt').addEventListener('keydown', (e) => { if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) generate(); });
  out.addEventListener('mouseover', (e) => { if (e.target.classList.contains('tok')) showPop(e.target); });
  out.addEventListener('click', (e) => { if (e.target.classList.contains('tok')) showPop(e.target); });
  out.addEventListener('mouseleave', hidePop);
  document.addEventListener('keydown', (e) => { if (e.key === 'Escape') hidePop(); });
  $('templates').addEventListener('click', (e) => { const b = e.target.closest('button[data-template]'); if (b) useTemplate(b.dataset.template); });
  state.prompt = $('prompt').value;

  // the engine's sampling defaults fill the controls
  state.on('defaults', ({ sample: d }) => {
    for (const [k, id] of Object.entries(CONTROLS)) $(id).value = d[k];
  });
  state.on('info', (i) => {
    $('generate').disabled = false;
    // the GPT-2 paper's prompts mean something only to a model that reads any text (BPE)
    $('templates').hidden = i.tokenizer !== 'bpe';
  });
  // while a GPT-2 folder is read, nothing generates
  state.on('loading', (on) => { $('generate').disabled = on || !state.info || state.generating; });

  // A link's sampling settings ({name: text}); returns the names it rejected.
  function apply(got) {
    const bad = [];
    for (const [k, id] of Object.entries(CONTROLS)) {
      if (got[k] === undefined) continue;
      const v = numberFor($(id), got[k]);
      if (v === null) bad.push(k);
      else $(id).value = v;
    }
    return bad;
  }

  return {
    options,
    apply,
    setPlacement(p) {
      placement = p;
    },
    // A new prompt (a new vocabulary may not cover the old one); the output is cleared. Both
    // change no view by themselves: whoever calls them redraws what a new model needs.
    setPrompt(text) {
      $('prompt').value = text;
      state.prompt = text;
      state.generated = '';
      out.textContent = '';
    },
    clearOutput() {
      state.generated = '';
      out.textContent = '';
    },
  };
}
