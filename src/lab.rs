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
use crate::sample::softmax_t;
use serde::Serialize;

/// Heads written `l.h` (layer.head, from 0), comma-separated: "0.1,2.3". Empty: none.
pub fn parse_heads(s: &str) -> Result<Vec<(usize, usize)>> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let bad = || Error::Config(format!("ablate: expected heads as layer.head (e.g. 0.1,2.3), got '{p}'"));
            let (l, h) = p.split_once('.').ok_or_else(bad)?;
            Ok((l.parse().map_err(|_| bad())?, h.parse().map_err(|_| bad())?))
        })
        .collect()
}

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

/// The logit lens of `ids` (its last block_size tokens): for each residual stream 0..=L and
/// each position, the `k` most likely next tokens of softmax(ln_f(h_l[t])·wteᵀ) as (id, prob),
/// most likely first. Stream L is the model's own next-token distribution.
pub async fn lens<B: Backend>(m: &mut Gpt<B>, ids: &[u32], k: usize) -> Result<Vec<Vec<Vec<(u32, f32)>>>> {
    if ids.is_empty() {
        return Err(Error::Data("the text is empty".into()));
    }
    let x = &ids[ids.len().saturating_sub(m.cfg.block_size)..];
    let v = m.cfg.vocab_size;
    m.forward(x, None, 1, x.len()).await?;
    let mut out = Vec::with_capacity(m.cfg.n_layer + 1);
    for l in 0..=m.cfg.n_layer {
        let logits = m.lens_logits(l).await?;
        out.push(logits.chunks(v).map(|row| top_k(&softmax_t(row, 1.0), k)).collect());
    }
    Ok(out)
}

/// The k largest (index, value), largest first (ties: lower index first).
fn top_k(p: &[f32], k: usize) -> Vec<(u32, f32)> {
    let mut idx: Vec<u32> = (0..p.len() as u32).collect();
    let k = k.min(p.len());
    let cmp = |a: &u32, b: &u32| p[*b as usize].total_cmp(&p[*a as usize]).then(a.cmp(b));
    if k < idx.len() {
        idx.select_nth_unstable_by(k, cmp);
        idx.truncate(k);
    }
    idx.sort_by(cmp);
    idx.into_iter().map(|i| (i, p[i as usize])).collect()
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
    fn heads_parse_as_layer_dot_head() {
        assert_eq!(parse_heads("0.1, 2.3,").unwrap(), vec![(0, 1), (2, 3)]);
        assert_eq!(parse_heads("").unwrap(), vec![]);
        for bad in ["1", "a.b", "1.-2", "1.2.3"] {
            assert!(parse_heads(bad).unwrap_err().to_string().contains("layer.head"), "{bad}");
        }
    }

    #[test]
    fn top_k_is_ordered() {
        let p = softmax_t(&[1.0, 3.0, 2.0, 3.0], 1.0);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        let t = top_k(&p, 3);
        assert_eq!(t.iter().map(|x| x.0).collect::<Vec<_>>(), vec![1, 3, 2]);
        assert_eq!(top_k(&p, 10).len(), 4);
    }

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
