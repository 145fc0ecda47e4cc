//! The lab's calls on the session's model: surprisal, head scores, the logit lens, ablation.

use super::{no_model, token_label, AnyModel, Session};
use crate::error::Result;

impl Session {
    /// The tokens of `text` as labels, its per-token surprisal (None for the first) and the mean
    /// (`lab::surprisal`). An empty text is an error.
    pub async fn surprisal(&mut self, text: &str) -> Result<(Vec<String>, Vec<Option<f32>>, f32)> {
        let ids = self.encode_some(text)?;
        let model = self.model.as_mut().ok_or_else(no_model)?;
        let (s, mean) = with_model!(model, m => crate::lab::surprisal(m, &ids).await)?;
        Ok((self.labels(&ids), s, mean))
    }

    /// Every head's previous-token, first-token and induction scores on `text` (`lab::head_scores`).
    pub async fn head_scores(&mut self, text: &str) -> Result<crate::lab::HeadScores> {
        let ids = self.encode_some(text)?;
        let model = self.model.as_mut().ok_or_else(no_model)?;
        with_model!(model, m => crate::lab::head_scores(m, &ids).await)
    }

    /// The logit lens of `text`: the tokens it reads (its last block_size), their ids, and for
    /// each residual stream 0..=L and position the `k` most likely next tokens (id, label, prob).
    /// The bool says whether the text was cut to the context.
    #[allow(clippy::type_complexity)]
    pub async fn lens(&mut self, text: &str, k: usize) -> Result<(Vec<u32>, Vec<Vec<Vec<(u32, String, f32)>>>, bool)> {
        let ids = self.encode_some(text)?;
        let bs = self.config()?.block_size;
        let cut = ids.len() > bs;
        let ids = ids[ids.len().saturating_sub(bs)..].to_vec();
        let model = self.model.as_mut().ok_or_else(no_model)?;
        let streams = with_model!(model, m => crate::lab::lens(m, &ids, k).await)?;
        let tok = self.tok.as_ref().ok_or_else(no_model)?;
        let named = streams.into_iter().map(|s| s.into_iter().map(|p| p.into_iter().map(|(i, pr)| (i, token_label(tok, i), pr)).collect()).collect()).collect();
        Ok((ids, named, cut))
    }

    /// Ablates `heads` (layer, head) in every computation from now on (generation, eval, lens,
    /// surprisal, attention, scores), replacing the earlier set; `&[]` clears it. Out of range:
    /// an error, the set in force kept. A generation in progress ends (its KV cache was
    /// computed without the new set).
    pub fn set_ablation(&mut self, heads: &[(usize, usize)]) -> Result<()> {
        let model = self.model.as_mut().ok_or_else(no_model)?;
        with_model!(model, m => m.set_ablation(heads))?;
        self.generator = None;
        Ok(())
    }

    /// The ablated heads, (layer, head) sorted.
    pub fn ablation(&self) -> Vec<(usize, usize)> {
        self.model.as_ref().map_or_else(Vec::new, |m| with_model!(m, x => x.ablation()))
    }

}
