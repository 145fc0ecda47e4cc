//! Model and training configuration: plain structs with commented defaults, named presets,
//! and `validate()` whose errors say what was expected and what was given.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// How positions are encoded before the first block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PosEncoding {
    /// Vaswani et al.: PE[pos,2i] = sin(pos/10000^(2i/C)), PE[pos,2i+1] = cos(pos/10000^(2i/C)).
    Sinusoidal,
    /// A trained table `wpe` [block_size, C], as GPT-2.
    Learned,
}

impl std::str::FromStr for PosEncoding {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "sinusoidal" => Ok(PosEncoding::Sinusoidal),
            "learned" => Ok(PosEncoding::Learned),
            _ => Err(Error::Config(format!("position encoding: expected 'sinusoidal' or 'learned', got '{s}'"))),
        }
    }
}

impl std::fmt::Display for PosEncoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PosEncoding::Sinusoidal => "sinusoidal",
            PosEncoding::Learned => "learned",
        })
    }
}

/// Upper bounds that keep a typo (or a hostile file) from asking for absurd memory.
pub const MAX_LAYERS: usize = 128;
pub const MAX_HEADS: usize = 128;
pub const MAX_EMBD: usize = 8192;
/// Channels per attention head (GPT-2's are 64 at every size).
pub const MAX_HEAD_SIZE: usize = 64;
pub const MAX_BLOCK: usize = 8192;
pub const MAX_VOCAB: usize = 1 << 20;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Number of token ids (set from the tokenizer).
    pub vocab_size: usize,
    /// Transformer blocks.
    pub n_layer: usize,
    /// Attention heads per block; must divide n_embd.
    pub n_head: usize,
    /// Width of the residual stream, C.
    pub n_embd: usize,
    /// Longest context the model sees (T max).
    pub block_size: usize,
    /// Positional encoding.
    pub pos: PosEncoding,
}

impl Default for ModelConfig {
    /// The `baby` preset's shape with a placeholder vocab.
    fn default() -> Self {
        ModelConfig { vocab_size: 65, n_layer: 4, n_head: 4, n_embd: 128, block_size: 64, pos: PosEncoding::Learned }
    }
}

impl ModelConfig {
    pub fn head_size(&self) -> usize {
        self.n_embd / self.n_head
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        let range = |name: &str, v: usize, max: usize| -> Result<()> {
            if v == 0 || v > max {
                return Err(Error::Config(format!("{name}: expected 1..={max}, got {v}")));
            }
            Ok(())
        };
        range("vocab_size", self.vocab_size, MAX_VOCAB)?;
        range("n_layer", self.n_layer, MAX_LAYERS)?;
        range("n_head", self.n_head, MAX_HEADS)?;
        range("n_embd", self.n_embd, MAX_EMBD)?;
        range("block_size", self.block_size, MAX_BLOCK)?;
        if self.n_embd % self.n_head != 0 {
            return bad(format!(
                "n_embd must be divisible by n_head: got n_embd {} and n_head {} (remainder {})",
                self.n_embd,
                self.n_head,
                self.n_embd % self.n_head
            ));
        }
        if self.head_size() > MAX_HEAD_SIZE {
            // the GPU's fused attention holds a head's channels in 64-wide tiles
            return bad(format!(
                "head size n_embd/n_head must be at most {MAX_HEAD_SIZE}: got n_embd {} / n_head {} = {}",
                self.n_embd,
                self.n_head,
                self.head_size()
            ));
        }
        Ok(())
    }

    /// Number of trainable parameters (wte counted once: the LM head is tied to it).
    pub fn num_params(&self) -> usize {
        let (v, c, l, t) = (self.vocab_size, self.n_embd, self.n_layer, self.block_size);
        let wpe = if self.pos == PosEncoding::Learned { t * c } else { 0 };
        let block = 2 * c + (3 * c * c + 3 * c) + (c * c + c) + 2 * c + (4 * c * c + 4 * c) + (4 * c * c + c);
        v * c + wpe + l * block + 2 * c
    }
}

/// Fields missing from JSON (the page, a checkpoint) take their defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainConfig {
    /// Sequences per step, B.
    pub batch_size: usize,
    /// Optimizer steps in the run (also the end of the cosine decay).
    pub steps: usize,
    /// Peak learning rate, reached after warmup.
    pub lr: f32,
    /// Learning rate at the end of the cosine decay.
    pub min_lr: f32,
    /// Linear warmup steps.
    pub warmup: usize,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    /// Decoupled weight decay, applied to 2-D weights only (not biases or LayerNorm).
    pub weight_decay: f32,
    /// Clip the global gradient norm to this; 0 disables.
    pub grad_clip: f32,
    /// Dropout probability in training, on the embeddings and on each block's two projection
    /// outputs (GPT-2's embd_pdrop and resid_pdrop); 0 disables. Evaluation and generation
    /// never drop.
    pub dropout: f32,
    /// Steps between validation estimates; 0 disables.
    pub eval_interval: usize,
    /// Batches averaged in each validation estimate (nanoGPT's eval_iters).
    pub eval_batches: usize,
    /// Seeds the initial weights, the batch sampler and nothing else.
    pub seed: u64,
}

impl Default for TrainConfig {
    /// The `baby` preset's recipe (nanoGPT's CPU shakespeare-char run).
    fn default() -> Self {
        TrainConfig {
            batch_size: 12,
            steps: 2000,
            lr: 1e-3,
            min_lr: 1e-4,
            warmup: 100,
            beta1: 0.9,
            beta2: 0.99,
            eps: 1e-8,
            weight_decay: 0.1,
            grad_clip: 1.0,
            dropout: 0.0,
            eval_interval: 250,
            eval_batches: 20,
            seed: 1337,
        }
    }
}

impl TrainConfig {
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if self.batch_size == 0 || self.batch_size > 4096 {
            return bad(format!("batch_size: expected 1..=4096, got {}", self.batch_size));
        }
        if !(self.lr.is_finite() && self.lr > 0.0 && self.lr < 10.0) {
            return bad(format!("lr: expected a number in (0, 10), got {}", self.lr));
        }
        if !(self.min_lr.is_finite() && self.min_lr >= 0.0 && self.min_lr <= self.lr) {
            return bad(format!("min_lr: expected 0..=lr ({}), got {}", self.lr, self.min_lr));
        }
        for (name, b) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(0.0..1.0).contains(&b) {
                return bad(format!("{name}: expected [0, 1), got {b}"));
            }
        }
        if !(self.eps > 0.0 && self.eps.is_finite()) {
            return bad(format!("eps: expected > 0, got {}", self.eps));
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return bad(format!("weight_decay: expected >= 0, got {}", self.weight_decay));
        }
        if !(0.0..0.95).contains(&self.dropout) {
            return bad(format!("dropout: expected [0, 0.95), got {}", self.dropout));
        }
        if !(self.grad_clip >= 0.0 && self.grad_clip.is_finite()) {
            return bad(format!("grad_clip: expected >= 0 (0 = off), got {}", self.grad_clip));
        }
        Ok(())
    }

    /// nanoGPT's schedule: linear warmup to `lr`, then cosine decay to `min_lr` at `steps`.
    /// `step` is 0-based.
    pub fn lr_at(&self, step: usize) -> f32 {
        if step < self.warmup {
            // in f32: warmup + 1 must not overflow for any warmup a file may hold
            return self.lr * (step as f32 + 1.0) / (self.warmup as f32 + 1.0);
        }
        if step >= self.steps || self.steps <= self.warmup {
            return self.min_lr;
        }
        let ratio = (step - self.warmup) as f32 / (self.steps - self.warmup) as f32;
        let coeff = 0.5 * (1.0 + (std::f32::consts::PI * ratio).cos());
        self.min_lr + coeff * (self.lr - self.min_lr)
    }
}

/// A named recipe: a model shape plus its training settings.
#[derive(Clone, Debug)]
pub struct Preset {
    pub name: &'static str,
    pub model: ModelConfig,
    pub train: TrainConfig,
}

pub const PRESET_NAMES: [&str; 5] = ["tiny", "toy", "baby", "page", "small"];

/// `tiny`: 2 layers, 2 heads, 64 wide, context 32 (seconds per hundred steps on a CPU; the
/// page's quick size). `toy`: 3/4/64, context 32, a high learning rate (the toy tasks' size
/// before each task had its own recipe, src/tasks/). `baby`: nanoGPT's CPU
/// shakespeare-char recipe. `page`: the page's default model (6/6/192, context 128, about
/// 2.7M parameters: 5.4 MB as f16; dropout 0.1), trained on a 2-core CPU in under 90 minutes
/// with `--more-train` (the page's corpus alone is too little text for this size). `small`:
/// nanoGPT's GPU recipe (6/6/384, block 256, batch 64, 5000 steps, same schedule; dropout 0 here,
/// where nanoGPT's uses 0.2: `--dropout 0.2`).
pub fn preset(name: &str) -> Result<Preset> {
    match name {
        "tiny" => Ok(Preset {
            name: "tiny",
            model: ModelConfig { n_layer: 2, n_head: 2, n_embd: 64, block_size: 32, ..ModelConfig::default() },
            train: TrainConfig::default(),
        }),
        "toy" => Ok(Preset {
            name: "toy",
            model: ModelConfig { n_layer: 3, n_head: 4, n_embd: 64, block_size: 32, ..ModelConfig::default() },
            train: TrainConfig { batch_size: 16, steps: 2500, lr: 4e-3, min_lr: 4e-4, eval_interval: 500, ..TrainConfig::default() },
        }),
        "baby" => Ok(Preset { name: "baby", model: ModelConfig::default(), train: TrainConfig::default() }),
        "page" => Ok(Preset {
            name: "page",
            model: ModelConfig { n_layer: 6, n_head: 6, n_embd: 192, block_size: 128, ..ModelConfig::default() },
            train: TrainConfig { batch_size: 16, steps: 8000, lr: 2e-3, min_lr: 2e-4, warmup: 200, eval_interval: 500, dropout: 0.1, ..TrainConfig::default() },
        }),
        "small" => Ok(Preset {
            name: "small",
            model: ModelConfig { n_layer: 6, n_head: 6, n_embd: 384, block_size: 256, ..ModelConfig::default() },
            train: TrainConfig { batch_size: 64, steps: 5000, eval_interval: 500, ..TrainConfig::default() },
        }),
        _ => Err(Error::Config(format!("preset: expected one of {}, got '{name}'", PRESET_NAMES.join(", ")))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_validate_and_bad_configs_say_why() {
        for n in PRESET_NAMES {
            let p = preset(n).unwrap();
            p.model.validate().unwrap();
            p.train.validate().unwrap();
        }
        assert!(preset("huge").unwrap_err().to_string().contains("tiny, toy, baby, page, small"));
        let c = ModelConfig { n_embd: 130, n_head: 4, ..ModelConfig::default() };
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("n_embd 130") && e.contains("n_head 4"), "{e}");
        // the GPU's fused attention holds at most 64 channels per head
        let c = ModelConfig { n_embd: 130, n_head: 2, ..ModelConfig::default() };
        assert!(c.validate().unwrap_err().to_string().contains("head size n_embd/n_head must be at most 64"));
        ModelConfig { n_embd: 130, n_head: 5, ..ModelConfig::default() }.validate().unwrap();
        let c = ModelConfig { n_layer: 1_000_000_000, ..ModelConfig::default() };
        assert!(c.validate().unwrap_err().to_string().contains("got 1000000000"));
        let c = ModelConfig { block_size: 0, ..ModelConfig::default() };
        assert!(c.validate().is_err());
        let t = TrainConfig { lr: f32::NAN, ..TrainConfig::default() };
        assert!(t.validate().is_err());
    }

    #[test]
    fn lr_schedule_warms_up_then_decays_to_min() {
        let t = TrainConfig::default();
        assert!((t.lr_at(0) - 1e-3 / 101.0).abs() < 1e-9);
        assert!((t.lr_at(99) - 1e-3 * 100.0 / 101.0).abs() < 1e-9);
        assert!((t.lr_at(100) - 1e-3).abs() < 1e-9);
        assert!((t.lr_at(1050) - 5.5e-4).abs() < 1e-6);
        assert!((t.lr_at(2000) - 1e-4).abs() < 1e-9);
        let mut prev = f32::MAX;
        for s in 100..2000 {
            assert!(t.lr_at(s) <= prev);
            prev = t.lr_at(s);
        }
    }

    #[test]
    fn param_count_matches_gpt2_small_formula() {
        // GPT-2 124M: 124,439,808 parameters with a learned wpe.
        let c = ModelConfig { vocab_size: 50257, n_layer: 12, n_head: 12, n_embd: 768, block_size: 1024, pos: PosEncoding::Learned };
        assert_eq!(c.num_params(), 124_439_808);
    }
}
