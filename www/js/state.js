// The page's shared state in one object, and its change events. Components read
// `state.info` etc. and listen with `state.on(name, fn)`; what one component alone needs stays
// inside it.
//
// Events:
//   'defaults' (defaults)     the engine's defaults() arrived (once, at start-up)
//   'info'    (info, origin)  the model's info changed (any reason)
//   'model'   (info, origin)  a model was loaded from outside training: origin 'default',
//                             'autosave', 'upload' or 'hf' (after its 'info')
//   'text'    ()              the prompt or the generated text changed
//   'training' (on)           training started or stopped
//   'weights' (final)         training changed the weights: after each chunk, final at the end
//   'saved'   (text)          what the autosave last did, said for the model panel
//   'chunk'   (chunk)         a train_chunk answer {events, step, total, done}, between chunks
//   'prepared' (corpus)       training was prepared on this corpus text
//   'ablation' (heads)        the ablated heads changed ([[layer, head]], sorted)
//   'scores'  (scores)        the head scores of the probe (head_scores), with the ablation
//   'scrub'   (snapshot|null) the training scrubber shows a snapshot (null: live)
//   'placement' (placement)   what calibration found and where each job runs (placement.js)
//   'workers' (text)          how many workers the training run uses, and why
export function createState() {
  const events = new EventTarget();
  const state = {
    defaults: null, // the engine's defaults(): {train, sample, presets, tokenizers}; the page copies none
    info: null, // the model's info(), null before one is loaded
    modelEpoch: 0, // bumped with every info: answers asked of an older model are dropped
    device: null, // {dev, preferGpu}: where the model runs now (the engine's init / move_to answer)
    placement: null, // {state, cal, check, forced, error}: the backend choice by measurement
    prompt: '',
    generated: '', // the text generated after the prompt
    generating: false,
    training: false,
    ablation: [], // the engine's ablated heads, [[layer, head]] sorted (the page's copy)
    scores: null, // the probe's head scores now: {previous_token, first_token, induction}
    scrub: null, // the training snapshot the views show, or null for the live model

    on(name, fn) {
      events.addEventListener(name, (e) => fn(...e.detail));
    },
    emit(name, ...args) {
      events.dispatchEvent(new CustomEvent(name, { detail: args }));
    },
    setDefaults(d) {
      state.defaults = d;
      state.emit('defaults', d);
    },
    setInfo(info, origin = 'update') {
      state.info = info;
      state.modelEpoch++;
      state.emit('info', info, origin);
    },
    // A model loaded from a file, a folder, the autosave or the default checkpoint.
    loaded(info, origin) {
      state.setInfo(info, origin);
      state.emit('model', info, origin);
    },
    setText({ prompt = state.prompt, generated = state.generated }) {
      state.prompt = prompt;
      state.generated = generated;
      state.emit('text');
    },
    setTraining(on) {
      state.training = on;
      state.emit('training', on);
    },
    setAblation(heads) {
      state.ablation = heads;
      state.emit('ablation', heads);
    },
    setScores(scores) {
      state.scores = scores;
      state.emit('scores', scores);
    },
    setPlacement(p) {
      state.placement = p;
      state.emit('placement', p);
    },
    setScrub(snap) {
      state.scrub = snap;
      state.emit('scrub', snap);
    },
  };
  return state;
}
