//! The lab: measurements of what a model does with a text, computed the same way on every
//! backend. Definitions (L layers, NH heads):
//! - surprisal of token t: -ln p(x_t | the tokens before it in its window), in nats, over the
//!   windows `eval` reads (consecutive non-overlapping windows of the context) plus a last,
//!   shorter window where the text does not fill one; the first token has none. On the same
//!   windows the mean surprisal is `eval`'s loss.
//! - head scores on a text cut to the context: previous-token = mean over t >= 1 of
//!   att[t][t-1]; first-token = mean over t >= 1 of att[t][0]; induction: the text cut to at
//!   most half the context (n tokens) is fed twice (2n tokens) and the score is the mean over t
//!   in [n, 2n) of att[t][t-n+1].

use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::model::Gpt;
use serde::Serialize;

/// The windows surprisal reads: (inputs, targets) of at most `t` tokens each, covering every
/// token after the first exactly once.
pub fn windows(ids: &[u32], t: usize) -> Vec<(&[u32], &[u32])> {
    let mut out = Vec::new();
    let mut i = 0;
    while i + 1 < ids.len() {
        let n = t.min(ids.len() - 1 - i);
        out.push((&ids[i..i + n], &ids[i + 1..i + n + 1]));
        i += n;
    }
    out
}

/// Per-token surprisal in nats (None for the first token) and its mean over the tokens that
/// have one.
pub async fn surprisal<B: Backend>(m: &mut Gpt<B>, ids: &[u32]) -> Result<(Vec<Option<f32>>, f32)> {
    if ids.len() < 2 {
        return Err(Error::Data(format!("surprisal needs at least two tokens (the first has none); the text has {}", ids.len())));
    }
    let v = m.cfg.vocab_size;
    let mut out = vec![None];
    let mut sum = 0.0f64;
    for (x, y) in windows(ids, m.cfg.block_size) {
        m.forward(x, None, 1, x.len()).await?;
        let logits = m.read_logits().await; // [n, V]
        for (row, &target) in logits.chunks(v).zip(y) {
            // -log_softmax(row)[target], stably
            let max = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
            let lse = max + row.iter().map(|&z| (z - max).exp()).sum::<f32>().ln();
            let s = lse - row[target as usize];
            sum += s as f64;
            out.push(Some(s));
        }
    }
    let mean = (sum / (ids.len() - 1) as f64) as f32;
    Ok((out, mean))
}

/// Each head's three scores, [L][NH].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HeadScores {
    pub previous_token: Vec<Vec<f32>>,
    pub first_token: Vec<Vec<f32>>,
    pub induction: Vec<Vec<f32>>,
}

/// Attention probabilities of every layer over `ids` (one window from position 0):
/// per layer [NH, T, T].
async fn attention<B: Backend>(m: &mut Gpt<B>, ids: &[u32]) -> Result<Vec<Vec<f32>>> {
    m.decode_with(ids, 0, true).await?;
    Ok(m.read_decode_attention(ids.len(), ids.len()).await)
}

/// Mean over rows r in `rows` of att[r][col(r)] for each layer and head.
fn mean_at(att: &[Vec<f32>], nh: usize, t: usize, rows: std::ops::Range<usize>, col: impl Fn(usize) -> usize) -> Vec<Vec<f32>> {
    let n = rows.len().max(1) as f32;
    att.iter()
        .map(|l| (0..nh).map(|h| rows.clone().map(|r| l[(h * t + r) * t + col(r)]).sum::<f32>() / n).collect())
        .collect()
}

/// The previous-token, first-token and induction scores of every head on `ids` (cut to the
/// context; the induction text to half of it).
pub async fn head_scores<B: Backend>(m: &mut Gpt<B>, ids: &[u32]) -> Result<HeadScores> {
    if ids.len() < 2 {
        return Err(Error::Data(format!("head scores need at least two tokens; the text has {}", ids.len())));
    }
    let (bs, nh) = (m.cfg.block_size, m.cfg.n_head);
    let x = &ids[..ids.len().min(bs)];
    let t = x.len();
    let att = attention(m, x).await?;
    let previous_token = mean_at(&att, nh, t, 1..t, |r| r - 1);
    let first_token = mean_at(&att, nh, t, 1..t, |_| 0);
    let n = ids.len().min(bs / 2);
    if n < 2 {
        return Err(Error::Config(format!("induction scores need a context of at least 4 tokens; the model's is {bs}")));
    }
    let twice: Vec<u32> = ids[..n].iter().chain(&ids[..n]).copied().collect();
    let att2 = attention(m, &twice).await?;
    let induction = mean_at(&att2, nh, 2 * n, n..2 * n, |r| r - n + 1);
    Ok(HeadScores { previous_token, first_token, induction })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_every_token_after_the_first_once() {
        let ids: Vec<u32> = (0..11).collect();
        let w = windows(&ids, 4);
        assert_eq!(w.len(), 3);
        assert_eq!(w[0], (&ids[0..4], &ids[1..5]));
        assert_eq!(w[1], (&ids[4..8], &ids[5..9]));
        assert_eq!(w[2], (&ids[8..10], &ids[9..11]), "a last, shorter window");
        let targets: Vec<u32> = w.iter().flat_map(|(_, y)| y.iter().copied()).collect();
        assert_eq!(targets, (1..11).collect::<Vec<u32>>());
        assert!(windows(&ids[..1], 4).is_empty());
    }
}
