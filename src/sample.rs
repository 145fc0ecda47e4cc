//! Sampling: temperature, top-k, top-p and a seed, streamed token by token through a
//! callback, with a KV cache so each new token costs one position.
//!
//! The context window: the model sees at most block_size tokens. A prompt longer than that is
//! cut to its last block_size tokens; when generation fills the window, it slides to keep the
//! last 3/4 of it and those are re-encoded once (so the cache is rebuilt every block_size/4
//! tokens, not every token). With `use_cache: false` the whole window is re-run every token
//! (the slow reference); both modes see the same windows and give the same tokens.

use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::model::Gpt;
use crate::rng::Rng;

#[derive(Clone, Debug, PartialEq)]
pub struct SampleConfig {
    /// Tokens to generate.
    pub max_tokens: usize,
    /// Softmax temperature; 0 means greedy (argmax).
    pub temperature: f32,
    /// Keep only the k most likely tokens; 0 keeps all.
    pub top_k: usize,
    /// Keep the smallest set of tokens whose probability reaches p; 1 keeps all.
    pub top_p: f32,
    pub seed: u64,
    /// Reuse keys and values of earlier positions (the fast path).
    pub use_cache: bool,
    /// How many alternatives each event reports.
    pub report_top: usize,
    /// Read back attention probabilities for each step (for the page's heatmaps).
    pub with_attention: bool,
}

impl Default for SampleConfig {
    fn default() -> Self {
        SampleConfig { max_tokens: 200, temperature: 0.8, top_k: 0, top_p: 1.0, seed: 1337, use_cache: true, report_top: 5, with_attention: false }
    }
}

impl SampleConfig {
    pub fn validate(&self) -> Result<()> {
        if !(self.temperature.is_finite() && self.temperature >= 0.0 && self.temperature <= 100.0) {
            return Err(Error::Config(format!("temperature: expected 0..=100 (0 = greedy), got {}", self.temperature)));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(Error::Config(format!("top_p: expected (0, 1], got {}", self.top_p)));
        }
        Ok(())
    }
}

/// One generated token, as the callback sees it.
#[derive(Clone, Debug)]
pub struct TokenEvent {
    pub id: u32,
    /// Probability of the chosen token under softmax(logits / temperature) (temperature 1 when
    /// greedy), before top-k/top-p filtering.
    pub prob: f32,
    /// The most likely tokens and their probabilities, most likely first.
    pub top: Vec<(u32, f32)>,
    /// Index into the whole sequence (prompt + generated) of the window's first token.
    pub window_start: usize,
    /// When asked for: attention rows computed for this step, per layer [NH, rows, keys],
    /// where rows are the window's last `rows` positions and keys are the window's first
    /// `keys` positions (after a slide or on the first step rows = keys = window length).
    pub attention: Option<Attention>,
}

#[derive(Clone, Debug)]
pub struct Attention {
    pub rows: usize,
    pub keys: usize,
    pub layers: Vec<Vec<f32>>,
}

/// Probabilities softmax(logits / temperature) (temperature 0 is treated as 1 here).
pub fn softmax_t(logits: &[f32], temperature: f32) -> Vec<f32> {
    let t = if temperature > 0.0 { temperature } else { 1.0 };
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut p: Vec<f32> = logits.iter().map(|&x| ((x - max) / t).exp()).collect();
    let s: f32 = p.iter().sum();
    p.iter_mut().for_each(|x| *x /= s);
    p
}

/// Ids sorted by probability, most likely first (ties: lower id first).
fn ranked(p: &[f32]) -> Vec<u32> {
    let mut ids: Vec<u32> = (0..p.len() as u32).collect();
    ids.sort_by(|&a, &b| p[b as usize].total_cmp(&p[a as usize]).then(a.cmp(&b)));
    ids
}

/// The index of the largest logit, the first where several are equal (as the cross-entropy's
/// hits count a prediction): greedy decoding.
pub fn argmax(logits: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in logits.iter().enumerate() {
        if x > logits[best] {
            best = i;
        }
    }
    best
}

/// Picks the next token from logits with the config's temperature / top-k / top-p.
pub fn pick(logits: &[f32], cfg: &SampleConfig, rng: &mut Rng) -> u32 {
    if cfg.temperature == 0.0 {
        return ranked(logits)[0];
    }
    let p = softmax_t(logits, cfg.temperature);
    let order = ranked(&p);
    let mut keep = if cfg.top_k > 0 { cfg.top_k.min(order.len()) } else { order.len() };
    if cfg.top_p < 1.0 {
        let mut cum = 0.0;
        for (i, &id) in order[..keep].iter().enumerate() {
            cum += p[id as usize];
            if cum >= cfg.top_p {
                keep = i + 1;
                break;
            }
        }
    }
    let kept = &order[..keep];
    let total: f32 = kept.iter().map(|&id| p[id as usize]).sum();
    let mut u = rng.uniform_f32() * total;
    for &id in kept {
        u -= p[id as usize];
        if u < 0.0 {
            return id;
        }
    }
    *kept.last().expect("at least one token kept")
}

/// A generation in progress: call `next` for each token (the page's worker does, so it can
/// post each token and notice a stop request between them); `generate` loops over it.
pub struct Generator {
    cfg: SampleConfig,
    rng: Rng,
    /// prompt + generated ids
    seq: Vec<u32>,
    /// index in seq of the window's first token
    ws: usize,
    /// positions of the window already in the KV cache
    cached: usize,
    produced: usize,
}

impl Generator {
    pub fn new(prompt: &[u32], cfg: &SampleConfig, block_size: usize) -> Result<Self> {
        cfg.validate()?;
        if prompt.is_empty() {
            return Err(Error::Config("prompt is empty: give at least one character to start from".into()));
        }
        Ok(Generator {
            cfg: cfg.clone(),
            rng: Rng::new(cfg.seed),
            seq: prompt.to_vec(),
            ws: prompt.len().saturating_sub(block_size),
            cached: 0,
            produced: 0,
        })
    }

    /// The whole sequence so far (prompt + generated).
    pub fn sequence(&self) -> &[u32] {
        &self.seq
    }

    pub fn is_done(&self) -> bool {
        self.produced >= self.cfg.max_tokens
    }

    /// Generates one token; None once max_tokens have been produced.
    pub async fn next<B: Backend>(&mut self, model: &mut Gpt<B>) -> Result<Option<TokenEvent>> {
        if self.is_done() {
            return Ok(None);
        }
        let bs = model.cfg.block_size;
        if self.seq.len() - self.ws > bs {
            self.ws = self.seq.len() - (bs - bs / 4).max(1);
            self.cached = 0;
        }
        if !self.cfg.use_cache {
            self.cached = 0;
        }
        let window = &self.seq[self.ws..];
        let new = &window[self.cached..];
        let logits = model.decode_with(new, self.cached, self.cfg.with_attention).await?;
        let attention = if self.cfg.with_attention {
            Some(Attention { rows: new.len(), keys: window.len(), layers: model.read_decode_attention(new.len(), window.len()).await })
        } else {
            None
        };
        self.cached = window.len();
        let id = pick(&logits, &self.cfg, &mut self.rng);
        let p = softmax_t(&logits, self.cfg.temperature);
        let top = ranked(&p).into_iter().take(self.cfg.report_top).map(|i| (i, p[i as usize])).collect();
        let ev = TokenEvent { id, prob: p[id as usize], top, window_start: self.ws, attention };
        self.seq.push(id);
        self.produced += 1;
        Ok(Some(ev))
    }
}

/// Generates up to `cfg.max_tokens` tokens after `prompt`, calling `on_token` for each; the
/// callback returns false to stop early. Returns the generated ids (prompt excluded).
pub async fn generate<B: Backend>(model: &mut Gpt<B>, prompt: &[u32], cfg: &SampleConfig, mut on_token: impl FnMut(&TokenEvent) -> bool) -> Result<Vec<u32>> {
    let mut g = Generator::new(prompt, cfg, model.cfg.block_size)?;
    let mut out = Vec::new();
    while let Some(ev) = g.next(model).await? {
        out.push(ev.id);
        if !on_token(&ev) {
            break;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_top_p_and_greedy_respect_their_sets() {
        let logits = [0.0f32, 3.0, 1.0, 2.9, -5.0];
        let mut rng = Rng::new(1);
        let greedy = SampleConfig { temperature: 0.0, ..Default::default() };
        assert_eq!(pick(&logits, &greedy, &mut rng), 1);
        let k2 = SampleConfig { temperature: 1.0, top_k: 2, ..Default::default() };
        for _ in 0..200 {
            let id = pick(&logits, &k2, &mut rng);
            assert!(id == 1 || id == 3);
        }
        // p(1) ≈ 0.47, p(3) ≈ 0.43: top_p 0.5 needs both, top_p 0.3 only the first.
        let p3 = SampleConfig { temperature: 1.0, top_p: 0.3, ..Default::default() };
        for _ in 0..50 {
            assert_eq!(pick(&logits, &p3, &mut rng), 1);
        }
        let all = SampleConfig { temperature: 1.0, ..Default::default() };
        let mut seen = [0usize; 5];
        for _ in 0..4000 {
            seen[pick(&logits, &all, &mut rng) as usize] += 1;
        }
        let p = softmax_t(&logits, 1.0);
        for i in 0..5 {
            assert!((seen[i] as f32 / 4000.0 - p[i]).abs() < 0.03, "{seen:?} vs {p:?}");
        }
        assert!(SampleConfig { top_p: 0.0, ..Default::default() }.validate().is_err());
        assert!(SampleConfig { temperature: -1.0, ..Default::default() }.validate().is_err());
    }
}
