//! Corpora: reading a text file safely, the 90/10 train/val split, and batches.

use crate::error::{Error, Result};
use crate::rng::Rng;
use std::path::Path;

/// Reads a UTF-8 text corpus. Missing, empty or non-UTF-8 files are errors that say which.
pub fn read_corpus(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::Io(format!("cannot read data file {}: {e}", path.display())))?;
    corpus_from_bytes(&bytes, &path.display().to_string())
}

/// Validates corpus bytes from anywhere (a file, an upload); `name` is used in messages.
pub fn corpus_from_bytes(bytes: &[u8], name: &str) -> Result<String> {
    if bytes.is_empty() {
        return Err(Error::Data(format!("data file {name} is empty")));
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(s.to_string()),
        Err(e) => Err(Error::Data(format!(
            "data file {name} is not UTF-8 text: invalid byte 0x{:02X} at offset {}",
            bytes[e.valid_up_to()],
            e.valid_up_to()
        ))),
    }
}

/// One training or evaluation batch: inputs and targets [B,T] and, for a task, a weight per
/// target (1 on answer tokens, 0 elsewhere: the loss is their weighted mean); None weighs every
/// position 1.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    pub x: Vec<u32>,
    pub y: Vec<u32>,
    pub w: Option<Vec<f32>>,
    pub b: usize,
    pub t: usize,
}

/// Positions a loss over `n` targets is averaged over: the weights' sum, or `n` without weights.
pub fn positions(weights: Option<&[f32]>, n: usize) -> f32 {
    weights.map_or(n as f32, |w| w.iter().sum())
}

impl Batch {
    /// Positions the loss is averaged over (`positions`).
    pub fn positions(&self) -> f32 {
        positions(self.w.as_deref(), self.b * self.t)
    }

    /// Rows `rows` of the batch (a data-parallel worker's part).
    pub fn rows(&self, rows: std::ops::Range<usize>) -> Batch {
        let r = rows.start * self.t..rows.end * self.t;
        Batch { x: self.x[r.clone()].to_vec(), y: self.y[r.clone()].to_vec(), w: self.w.as_ref().map(|w| w[r].to_vec()), b: rows.len(), t: self.t }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    Train,
    Val,
}

#[derive(Clone, Debug)]
/// Token ids split 90/10 (nanoGPT's split: the first 90% trains, the last 10% validates).
pub struct Dataset {
    pub train: Vec<u32>,
    pub val: Vec<u32>,
}

impl Dataset {
    /// Splits `tokens`; both parts must hold at least one window of block_size + 1 tokens.
    pub fn new(tokens: Vec<u32>, block_size: usize) -> Result<Self> {
        let need = block_size + 1;
        let n_train = tokens.len() * 9 / 10;
        let n_val = tokens.len() - n_train;
        if n_train < need || n_val < need {
            return Err(Error::Data(format!(
                "corpus too short: {} tokens split 90/10 into {n_train} train and {n_val} validation tokens, \
                 and each part needs at least block_size + 1 = {need}; use a longer text (at least {} tokens) or a smaller context",
                tokens.len(),
                need * 10
            )));
        }
        let mut train = tokens;
        let val = train.split_off(n_train);
        Ok(Dataset { train, val })
    }

    /// Splits `tokens` as `new` does, then puts `more` (text that only trains) before the
    /// training part: the validation split stays exactly the corpus's last 10%.
    pub fn with_more_train(more: Vec<u32>, tokens: Vec<u32>, block_size: usize) -> Result<Self> {
        let d = Dataset::new(tokens, block_size)?;
        let mut train = more;
        train.extend_from_slice(&d.train);
        Ok(Dataset { train, val: d.val })
    }

    pub fn split(&self, s: Split) -> &[u32] {
        match s {
            Split::Train => &self.train,
            Split::Val => &self.val,
        }
    }

    /// `b` random windows of t+1 tokens: (inputs[b*t], targets[b*t]) with targets shifted by one.
    pub fn batch(&self, s: Split, b: usize, t: usize, rng: &mut Rng) -> (Vec<u32>, Vec<u32>) {
        let data = self.split(s);
        let mut x = Vec::with_capacity(b * t);
        let mut y = Vec::with_capacity(b * t);
        for _ in 0..b {
            let i = rng.below(data.len() - t);
            x.extend_from_slice(&data[i..i + t]);
            y.extend_from_slice(&data[i + 1..i + t + 1]);
        }
        (x, y)
    }
}

/// Consecutive non-overlapping windows of `t` inputs over `data` (targets shifted by one);
/// the evaluation protocol of `tinygpt eval`. Yields (inputs, targets) per window.
pub fn eval_windows(data: &[u32], t: usize) -> impl Iterator<Item = (&[u32], &[u32])> {
    let n = if data.len() > t { (data.len() - 1) / t } else { 0 };
    (0..n).map(move |i| (&data[i * t..i * t + t], &data[i * t + 1..i * t + t + 1]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_batches_and_windows() {
        let d = Dataset::new((0..100).collect(), 4).unwrap();
        assert_eq!(d.train.len(), 90);
        assert_eq!(d.val, (90..100).collect::<Vec<u32>>());
        let mut r = Rng::new(3);
        let (x, y) = d.batch(Split::Val, 3, 4, &mut r);
        for k in 0..12 {
            assert_eq!(y[k], x[k] + 1);
            assert!(x[k] >= 90);
        }
        let w: Vec<_> = eval_windows(&d.val, 4).collect();
        assert_eq!(w.len(), 2);
        assert_eq!(w[1].0, &[94, 95, 96, 97]);
        assert_eq!(w[1].1, &[95, 96, 97, 98]);
    }

    #[test]
    fn more_training_text_leaves_the_validation_split_alone() {
        let d = Dataset::with_more_train((1000..1050).collect(), (0..100).collect(), 4).unwrap();
        assert_eq!(d.val, (90..100).collect::<Vec<u32>>());
        assert_eq!(d.train.len(), 140);
        assert_eq!(&d.train[..50], &(1000..1050).collect::<Vec<u32>>()[..]);
        assert_eq!(&d.train[50..], &(0..90).collect::<Vec<u32>>()[..]);
        assert!(Dataset::with_more_train(vec![1; 1000], (0..20).collect(), 8).is_err(), "the corpus itself must split");
    }

    #[test]
    fn bad_corpora_are_named() {
        let e = Dataset::new((0..20).collect(), 8).unwrap_err().to_string();
        assert!(e.contains("too short") && e.contains("block_size + 1 = 9"), "{e}");
        assert!(corpus_from_bytes(b"", "x.txt").unwrap_err().to_string().contains("empty"));
        let e = corpus_from_bytes(b"ok\xff\xfe", "x.txt").unwrap_err().to_string();
        assert!(e.contains("not UTF-8") && e.contains("offset 2"), "{e}");
        let e = read_corpus(Path::new("/no/such/file.txt")).unwrap_err().to_string();
        assert!(e.contains("/no/such/file.txt"), "{e}");
    }
}
