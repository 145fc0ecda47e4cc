// The training panel's time budget: "Train for" 1, 3, 10 or 30 minutes or all of the recipe's
// steps; every size preset's time per step and ETA on this device, before Start; and on a
// natural corpus the shape and quick recipe the engine plans for the time (budget::plan).
// Estimates are fitted to steps timed here (budget::Cost: a part in proportion to the flops and
// a fixed part): on the CPU a step of `tiny` and of `baby` at the batch each worker computes,
// on the GPU the calibration's step, and after a run that run's own steps. The run
// itself fixes its step count from its first steps (Engine::set_budget). Created with its
// fieldset.
import { byId } from '../dom.js';

const fmtMs = (ms) => (ms >= 90_000 ? `${(ms / 60_000).toFixed(ms >= 600_000 ? 0 : 1)} min` : `${(ms / 1000).toFixed(ms >= 10_000 ? 0 : 1)} s`);
const shapeOf = (m) => `${m.n_layer}×${m.n_head}×${m.n_embd}, context ${m.block_size}`;

// `recipe` is the Model and recipe fieldset's component; `isTask()` says a toy task is picked
// (its own recipe is tuned in steps: it starts at "all"); `workers()` how many workers train on
// the CPU path.
export function createBudget(root, { engine, state, recipe, isTask, workers }) {
  const $ = byId(root);
  let measured = null; // {points: [{model, batch, ms}], where, how}: the steps the estimates fit
  let plan = null; // the engine's plan for the budget and the form's shape
  let follow = true; // the shape and recipe follow the plan until the user picks their own
  let timing = null; // the CPU timing in flight

  // The budget in minutes, or null for all of the recipe's steps.
  const minutes = () => ($('budget').value === 'all' ? null : Number($('budget').value));

  function setDefaults(d) {
    const sel = $('budget');
    sel.textContent = '';
    for (const m of d.budgets) sel.append(new Option(`${m} min`, String(m)));
    sel.append(new Option("all of the recipe's steps", 'all'));
    sel.value = String(d.budget);
  }

  // Times a step of `tiny` and of `baby` on the CPU, at the rows one worker computes, once a
  // model (and so a vocabulary) is there; the engine is busy for a few of their steps.
  function timeCpu() {
    if (timing || !state.info) return timing;
    const names = ['tiny', 'baby'];
    timing = (async () => {
      const points = [];
      for (const name of names) {
        const p = state.defaults.presets.find((q) => q.name === name);
        const model = { ...p.model, vocab_size: state.info.vocab_size };
        // the time of a data-parallel step is about that of one worker's rows
        const ms = await engine.time_cpu_step(model, Math.ceil(p.train.batch_size / workers()));
        points.push({ model, batch: p.train.batch_size, ms });
      }
      if (!measured || measured.where === 'cpu') {
        measured = { points, where: 'cpu', how: `steps of ${names.join(' and ')} timed on the CPU${workers() > 1 ? ', each of 2 workers computing half the batch' : ''} (${points.map((q) => `${q.ms.toFixed(0)} ms`).join(', ')})` };
      }
      return refresh();
    })().catch(() => { timing = null; });
    return timing;
  }

  // Fills the table and the plan; on a natural corpus with a time, the form gets the plan's
  // shape and recipe (until the user picks a size of their own).
  let seq = 0; // the latest refresh: an older one, answered late, must not set the form
  async function refresh() {
    const gen = ++seq;
    const mins = minutes();
    recipe.lockSteps(mins !== null);
    if (!measured || !state.info) return;
    const m = recipe.model();
    const current = { model: { ...m, vocab_size: state.info.vocab_size }, batch: recipe.train().batch_size };
    try {
      plan = await engine.plan_budget(measured.points, state.info.vocab_size, mins || 0, current);
    } catch (e) {
      if (gen === seq) $('budgetplan').textContent = `No estimate for these settings: ${e.message}`;
      return;
    }
    if (gen !== seq) return;
    if (mins !== null && follow && !isTask() && !state.training) {
      recipe.useRecipe(plan.model, plan.train);
      plan = await engine.plan_budget(measured.points, state.info.vocab_size, mins, { model: { ...recipe.model(), vocab_size: state.info.vocab_size }, batch: recipe.train().batch_size });
      if (gen !== seq) return;
    }
    const [ms, steps] = plan.current;
    if (mins !== null && !state.training) recipe.setSteps(Math.max(1, steps));
    drawTable(mins);
    const basis = `Estimates fit ${measured.how}.`;
    $('budgetplan').dataset.steps = mins !== null ? Math.max(1, steps) : recipe.train().steps;
    $('budgetplan').dataset.msPerStep = ms.toFixed(1);
    $('budgetplan').textContent = mins !== null
      ? `About ${Math.max(1, steps).toLocaleString()} steps of ${ms.toFixed(0)} ms fit ${mins} min here; the run fixes its count from its own first steps. ${follow && !isTask() ? `The shape: ${plan.why}. ` : ''}${basis}`
      : `${recipe.train().steps.toLocaleString()} steps of about ${ms.toFixed(0)} ms: about ${fmtMs(ms * recipe.train().steps)} here. ${basis}`;
    state.emit('settings');
  }

  function drawTable(mins) {
    const body = root.querySelector('#etas tbody');
    body.textContent = '';
    for (const p of plan.presets) {
      const d = state.defaults.presets.find((q) => q.name === p.name);
      const tr = document.createElement('tr');
      tr.dataset.preset = p.name;
      tr.dataset.msPerStep = p.ms_per_step.toFixed(1);
      tr.dataset.etaMs = Math.round(p.recipe_ms);
      if (mins !== null) tr.dataset.budgetSteps = p.budget_steps;
      if (mins !== null && p.name === plan.pick && !isTask()) tr.className = 'picked';
      const use = document.createElement('button');
      use.type = 'button';
      use.className = 'secondary small';
      use.textContent = p.name;
      use.title = `Train ${p.name} with its own recipe, all ${p.recipe_steps.toLocaleString()} steps`;
      use.dataset.testid = 'use-preset';
      use.onclick = () => usePreset(p.name);
      const cells = [shapeOf(d.model), `${p.ms_per_step < 10 ? p.ms_per_step.toFixed(1) : p.ms_per_step.toFixed(0)}`,
        mins !== null ? p.budget_steps.toLocaleString() : '–', `${p.recipe_steps.toLocaleString()} steps ≈ ${fmtMs(p.recipe_ms)}`];
      const first = document.createElement('td');
      first.append(use);
      tr.append(first);
      for (const c of cells) {
        const td = document.createElement('td');
        td.textContent = c;
        tr.append(td);
      }
      body.append(tr);
    }
  }

  // A preset's own recipe, all of its steps (the page's `page` recipe is this, one click).
  function usePreset(name) {
    const p = state.defaults.presets.find((q) => q.name === name);
    follow = false;
    $('budget').value = 'all';
    recipe.useRecipe(p.model, p.train);
    recipe.changed();
    refresh();
  }

  state.on('defaults', setDefaults);
  $('budget').onchange = () => {
    follow = follow || minutes() !== null;
    if (minutes() === null) recipe.restoreSteps();
    recipe.changed();
    refresh();
  };

  return {
    minutes,
    refresh,
    timeCpu,
    // Resolves once the steps are timed and the plan applied: a Start clicked before that
    // would train the loaded model's shape (the default `page`) for the time.
    async ready() {
      if (!measured) await timeCpu();
      await refresh();
    },
    // The user picked a shape of their own: the plan no longer sets it.
    ownShape() { follow = false; refresh(); },
    // A task starts at its recipe's steps; a natural corpus at the default time.
    setTask(on) {
      $('budget').value = on ? 'all' : String(state.defaults.budget);
      if (!on) follow = true;
      refresh();
    },
    // Sets the budget (a link's): minutes, or 'all'; false when it is not one of the choices.
    set(v) {
      const s = String(v);
      if (![...$('budget').options].some((o) => o.value === s)) return false;
      $('budget').value = s;
      refresh();
      return true;
    },
    value: () => $('budget').value,
    // The calibration chose the GPU for training: its step is the basis.
    useGpuTiming(cal, shape, batch) {
      measured = { points: [{ model: shape, batch, ms: cal.gpu.train_step_ms }], where: 'gpu', how: `the GPU step the calibration timed (${cal.gpu.train_step_ms.toFixed(0)} ms)` };
      refresh();
    },
    // A run planned its steps from its own: the most faithful basis for the next.
    observed(model, batch, ms, where) {
      const same = (q) => ['n_layer', 'n_head', 'n_embd', 'block_size'].every((k) => q.model[k] === model[k]) && q.batch === batch;
      const points = measured && measured.where === where ? measured.points.filter((q) => !same(q)) : [];
      measured = { points: [...points, { model, batch, ms }], where, how: `the last run's own steps (${ms.toFixed(0)} ms a step)${points.length ? ' and the steps timed before' : ''}` };
    },
    // The form follows the plan again (a link or an autosave set its own settings: false).
    follow(on) { follow = on; },
  };
}
