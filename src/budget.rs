//! Training for a time budget: what a step of each size preset costs on this device (fitted
//! to steps measured here), and the shape and recipe a natural corpus gets for a budget (the
//! `quick` recipe). The run itself fixes its step count from its own first steps
//! (`Session::set_budget`); this is the plan shown before Start, and the shape it picks.

use crate::config::{preset, ModelConfig, TrainConfig, PRESET_NAMES};
use crate::error::{Error, Result};
use serde::Serialize;

/// The page's "Train for" choices, in minutes, and the one it starts with.
pub const BUDGETS_MINUTES: [f64; 4] = [1.0, 3.0, 10.0, 30.0];
pub const DEFAULT_BUDGET_MINUTES: f64 = 3.0;

/// Floating-point operations of one training step of `m` on a batch of `batch` sequences:
/// forward and backward (3x the forward) of every matmul (2 per weight per token, the tied LM
/// head included) and of causal attention (QK^T and AV over, on average, half the context).
/// Elementwise work, the optimizer and dispatch are left out: they are the fixed part of
/// `Cost`'s fit.
pub fn step_flops(m: &ModelConfig, batch: usize) -> f64 {
    let (l, c, t, v) = (m.n_layer as f64, m.n_embd as f64, m.block_size as f64, m.vocab_size as f64);
    let matmul = 2.0 * (12.0 * l * c * c + v * c);
    let attention = 2.0 * 2.0 * l * c * (t / 2.0);
    3.0 * (matmul + attention) * batch as f64 * t
}

/// A step's measured time for one shape and batch: the estimates are fitted to these.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct Measured {
    pub model: ModelConfig,
    pub batch: usize,
    pub ms: f64,
}

/// A step's time as `per_flop * step_flops + fixed_ms`, least squares over the measured steps:
/// the fixed part is what small shapes pay anyway (dispatch, small matmuls' overhead, the
/// optimizer), so one measured step of a small shape alone would overstate how much cheaper
/// a smaller one is. One step measured: in proportion to the flops.
#[derive(Clone, Copy, Debug)]
pub struct Cost {
    pub per_flop: f64,
    pub fixed_ms: f64,
}

impl Cost {
    pub fn fit(measured: &[Measured]) -> Result<Cost> {
        if measured.is_empty() {
            return Err(Error::Config("no measured step to estimate from".into()));
        }
        let mut pts = Vec::new();
        for m in measured {
            m.model.validate()?;
            if !(m.ms.is_finite() && m.ms > 0.0) {
                return Err(Error::Config(format!("a measured step time must be a positive number of milliseconds, got {}", m.ms)));
            }
            pts.push((step_flops(&m.model, m.batch.max(1)), m.ms));
        }
        let n = pts.len() as f64;
        let (mx, my) = (pts.iter().map(|p| p.0).sum::<f64>() / n, pts.iter().map(|p| p.1).sum::<f64>() / n);
        let sxx: f64 = pts.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum();
        let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
        let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
        let fixed = my - slope * mx;
        // a fit that makes bigger shapes cheaper, or has a negative fixed part, is noise:
        // in proportion to the flops of the largest measured shape then
        if slope > 0.0 && fixed >= 0.0 {
            return Ok(Cost { per_flop: slope, fixed_ms: fixed });
        }
        let big = pts.iter().copied().fold((0.0, 0.0), |a, p| if p.0 > a.0 { p } else { a });
        Ok(Cost { per_flop: big.1 / big.0, fixed_ms: 0.0 })
    }

    pub fn ms(&self, m: &ModelConfig, batch: usize) -> f64 {
        self.per_flop * step_flops(m, batch.max(1)) + self.fixed_ms
    }
}

/// One size preset's estimated cost on this device.
#[derive(Clone, Debug, Serialize)]
pub struct PresetTime {
    pub name: &'static str,
    /// Estimated time of one training step.
    pub ms_per_step: f64,
    /// Its own recipe's steps, and how long they would take.
    pub recipe_steps: usize,
    pub recipe_ms: f64,
    /// Steps that fit the budget (none: the recipe's).
    pub budget_steps: usize,
}

/// Every preset's time on this device for a budget (`None`: each preset's recipe whole), and
/// the quick plan for a natural corpus.
#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    pub presets: Vec<PresetTime>,
    /// The preset picked for the budget, and its recipe with the steps that fit.
    pub pick: &'static str,
    pub model: ModelConfig,
    pub train: TrainConfig,
    /// Why this preset, in a line.
    pub why: String,
    /// The time of a step of the shape asked about (the form's, which may be no preset's),
    /// and its steps in the budget.
    pub current: Option<(f64, usize)>,
}

/// The least steps each preset needs in a budget to beat the next smaller one on a natural
/// corpus with the quick recipe (see docs/benchmarks.md, "time budgets"): a bigger model
/// trained for too few steps loses to a smaller one trained for more.
fn min_steps(name: &str) -> usize {
    match name {
        "page" => 4000,
        "baby" => 1500,
        _ => 0,
    }
}

/// The presets a budget may pick, smallest first (`toy` is the toy tasks' old size, `small`
/// nanoGPT's GPU recipe: it is listed with its time, never picked).
const QUICK_SHAPES: [&str; 3] = ["tiny", "baby", "page"];

/// The quick recipe for a preset trained `steps` steps: its batch, shape and weight decay, a
/// higher peak learning rate than its long recipe (short runs gain most from it), a warm-up of
/// 2% of the steps (at most 100) and a cosine decay to a tenth.
pub fn quick_recipe(name: &str, steps: usize) -> Result<TrainConfig> {
    let p = preset(name)?;
    let lr = match name {
        "tiny" => 3e-3,
        "baby" => 2e-3,
        "page" => 2e-3,
        _ => p.train.lr,
    };
    let steps = steps.max(1);
    Ok(TrainConfig { steps, lr, min_lr: lr / 10.0, warmup: (steps / 50).clamp(1, 100), dropout: 0.0, ..p.train })
}

/// Fits the measured steps (`Cost::fit`) and estimates every preset (with `vocab_size` the
/// corpus's), then plans `minutes` of training: each preset's steps in the budget, the largest
/// quick shape that gets its `min_steps`, and its quick recipe. `minutes: None` plans each
/// preset's own recipe. `current`: a shape and batch to estimate as well (the form's).
pub fn plan(measured: &[Measured], vocab_size: usize, minutes: Option<f64>, current: Option<(&ModelConfig, usize)>) -> Result<Plan> {
    let cost = Cost::fit(measured)?;
    if let Some(m) = minutes {
        if !(m.is_finite() && m > 0.0) {
            return Err(Error::Config(format!("a time budget must be a positive number of minutes, got {m}")));
        }
    }
    let mut presets = Vec::new();
    for name in PRESET_NAMES {
        let p = preset(name)?;
        let model = ModelConfig { vocab_size, ..p.model };
        let ms = cost.ms(&model, p.train.batch_size);
        let budget_steps = minutes.map_or(p.train.steps, |m| (m * 60_000.0 / ms).floor() as usize);
        presets.push(PresetTime { name: p.name, ms_per_step: ms, recipe_steps: p.train.steps, recipe_ms: ms * p.train.steps as f64, budget_steps });
    }
    let current = match current {
        Some((c, b)) => {
            c.validate()?;
            let ms = cost.ms(c, b);
            Some((ms, minutes.map_or(0, |m| (m * 60_000.0 / ms).floor() as usize)))
        }
        None => None,
    };
    if minutes.is_none() {
        let p = preset("baby")?;
        let why = "each preset's own recipe, its steps whole".to_string();
        return Ok(Plan { presets, pick: p.name, model: ModelConfig { vocab_size, ..p.model }, train: p.train, why, current });
    }
    let steps_of = |n: &str| presets.iter().find(|p| p.name == n).map_or(0, |p| p.budget_steps);
    let pick = QUICK_SHAPES.iter().rev().copied().find(|n| steps_of(n) >= min_steps(n)).unwrap_or("tiny");
    let steps = steps_of(pick).max(1);
    let why = match QUICK_SHAPES.iter().position(|&n| n == pick).and_then(|i| QUICK_SHAPES.get(i + 1)) {
        Some(bigger) => format!("{pick}, as {bigger} would get only {} steps and needs {} to do better", steps_of(bigger), min_steps(bigger)),
        None => format!("{pick}, the largest, gets the steps it needs"),
    };
    let p = preset(pick)?;
    Ok(Plan { presets, pick, model: ModelConfig { vocab_size, ..p.model }, train: quick_recipe(pick, steps)?, why, current })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(name: &str, ms: f64) -> Measured {
        let p = preset(name).unwrap();
        Measured { model: p.model, batch: p.train.batch_size, ms }
    }
    fn baby_at(ms: f64) -> Vec<Measured> {
        vec![at("baby", ms)]
    }

    #[test]
    fn two_measured_steps_give_the_fixed_part_too() {
        let c = Cost::fit(&[at("tiny", 15.0), at("baby", 80.0)]).unwrap();
        let ms = |n: &str| c.ms(&preset(n).unwrap().model, preset(n).unwrap().train.batch_size);
        assert!((ms("tiny") - 15.0).abs() < 1e-6 && (ms("baby") - 80.0).abs() < 1e-6);
        assert!(c.fixed_ms > 0.0 && ms("page") > 80.0);
        // noise that would make a bigger shape cheaper: in proportion to the bigger one's flops
        let c = Cost::fit(&[at("tiny", 90.0), at("baby", 80.0)]).unwrap();
        assert_eq!(c.fixed_ms, 0.0);
        assert!((c.ms(&preset("baby").unwrap().model, 12) - 80.0).abs() < 1e-6);
        assert!(Cost::fit(&[]).is_err());
    }

    #[test]
    fn the_measured_preset_keeps_its_time_and_bigger_ones_cost_more() {
        let plan = plan(&baby_at(80.0), 65, Some(3.0), None).unwrap();
        let t = |n: &str| plan.presets.iter().find(|p| p.name == n).unwrap().ms_per_step;
        assert!((t("baby") - 80.0).abs() < 1e-9);
        assert!(t("tiny") < t("baby") && t("baby") < t("page") && t("page") < t("small"));
        // the 3-minute budget on a 2-core CPU: baby, about 180 s / 80 ms steps
        assert_eq!(plan.pick, "baby");
        assert_eq!(plan.train.steps, 2250);
        assert_eq!(plan.train.warmup, 45);
        assert!((plan.train.min_lr - plan.train.lr / 10.0).abs() < 1e-9);
        // a shape of no preset's is estimated too: baby's twice as wide costs more
        let wide = ModelConfig { n_embd: 256, ..preset("baby").unwrap().model };
        let (ms, steps) = super::plan(&baby_at(80.0), 65, Some(3.0), Some((&wide, 12))).unwrap().current.unwrap();
        assert!(ms > 200.0 && steps < 900, "{ms} {steps}");
    }

    #[test]
    fn a_minute_on_a_2_core_cpu_is_tiny_s_and_three_are_baby_s() {
        let here = [at("tiny", 15.0), at("baby", 80.0)];
        assert_eq!(plan(&here, 65, Some(1.0), None).unwrap().pick, "tiny");
        assert_eq!(plan(&here, 65, Some(3.0), None).unwrap().pick, "baby");
        assert_eq!(plan(&here, 65, Some(30.0), None).unwrap().pick, "baby");
    }

    #[test]
    fn a_faster_device_or_a_longer_budget_picks_a_bigger_shape_and_a_slow_one_a_smaller() {
        assert_eq!(plan(&baby_at(2.0), 65, Some(10.0), None).unwrap().pick, "page");
        assert_eq!(plan(&baby_at(500.0), 65, Some(1.0), None).unwrap().pick, "tiny");
        let whole = plan(&baby_at(80.0), 65, None, None).unwrap();
        assert_eq!(whole.train, preset("baby").unwrap().train);
        assert!(whole.presets.iter().all(|p| p.budget_steps == p.recipe_steps));
    }

    #[test]
    fn bad_measurements_and_budgets_say_what_was_wrong() {
        for ms in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let e = plan(&baby_at(ms), 65, Some(3.0), None).unwrap_err().to_string();
            assert!(e.contains("measured step time"), "{e}");
        }
        for m in [0.0, -3.0, f64::NAN] {
            let e = plan(&baby_at(80.0), 65, Some(m), None).unwrap_err().to_string();
            assert!(e.contains("time budget"), "{e}");
        }
    }
}
