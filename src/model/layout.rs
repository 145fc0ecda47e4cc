//! The parameter layout: every tensor by its GPT-2 name at an offset aligned to 64 elements
//! (256 bytes, WebGPU's storage offset alignment), and the cut of that flat layout into buffers
//! no larger than the backend's binding limit. The only place that knows the alignment and the
//! cut: the rest of the model asks `Layout` for buffers and sees `Views` (one `Tensor` per
//! parameter), or one spec's parts.

use super::Gpt;
use crate::backend::{Backend, Tensor};
use crate::config::{ModelConfig, PosEncoding};
use crate::error::{Error, Result};

const ALIGN: usize = 64;

/// One named parameter tensor.
#[derive(Clone, Debug)]
pub struct ParamSpec {
    /// Hugging Face GPT-2 name, e.g. `transformer.h.0.attn.c_attn.weight`.
    pub name: String,
    /// Shape as stored here ([OC, C] for linear weights).
    pub shape: Vec<usize>,
    /// True for Conv1D weights, which Hugging Face stores transposed ([C, OC]).
    pub hf_transposed: bool,
    /// Weight decay applies (2-D tensors only).
    pub decay: bool,
    pub off: usize,
    pub len: usize,
}

impl ParamSpec {
    /// Shape in a Hugging Face checkpoint.
    pub fn hf_shape(&self) -> Vec<usize> {
        if self.hf_transposed {
            vec![self.shape[1], self.shape[0]]
        } else {
            self.shape.clone()
        }
    }
}

/// Builds the parameter table for a config, in GPT-2 order.
pub fn param_specs(cfg: &ModelConfig) -> Vec<ParamSpec> {
    let (v, c, t) = (cfg.vocab_size, cfg.n_embd, cfg.block_size);
    let mut specs = Vec::new();
    let mut off = 0;
    let mut add = |name: String, shape: Vec<usize>, hf_transposed: bool| {
        let len: usize = shape.iter().product();
        let decay = shape.len() == 2;
        specs.push(ParamSpec { name, shape, hf_transposed, decay, off, len });
        off += len.div_ceil(ALIGN) * ALIGN;
    };
    add("transformer.wte.weight".into(), vec![v, c], false);
    if cfg.pos == PosEncoding::Learned {
        add("transformer.wpe.weight".into(), vec![t, c], false);
    }
    for l in 0..cfg.n_layer {
        let p = format!("transformer.h.{l}.");
        add(format!("{p}ln_1.weight"), vec![c], false);
        add(format!("{p}ln_1.bias"), vec![c], false);
        add(format!("{p}attn.c_attn.weight"), vec![3 * c, c], true);
        add(format!("{p}attn.c_attn.bias"), vec![3 * c], false);
        add(format!("{p}attn.c_proj.weight"), vec![c, c], true);
        add(format!("{p}attn.c_proj.bias"), vec![c], false);
        add(format!("{p}ln_2.weight"), vec![c], false);
        add(format!("{p}ln_2.bias"), vec![c], false);
        add(format!("{p}mlp.c_fc.weight"), vec![4 * c, c], true);
        add(format!("{p}mlp.c_fc.bias"), vec![4 * c], false);
        add(format!("{p}mlp.c_proj.weight"), vec![c, 4 * c], true);
        add(format!("{p}mlp.c_proj.bias"), vec![c], false);
    }
    add("transformer.ln_f.weight".into(), vec![c], false);
    add("transformer.ln_f.bias".into(), vec![c], false);
    specs
}

/// Which of the four parameter-shaped buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    Param,
    Grad,
    AdamM,
    AdamV,
}

/// Views of one block's parameters (or gradients) inside a flat buffer.
#[derive(Clone, Copy, Debug)]
pub(super) struct Block {
    pub ln_1_w: Tensor,
    pub ln_1_b: Tensor,
    pub c_attn_w: Tensor,
    pub c_attn_b: Tensor,
    pub attn_c_proj_w: Tensor,
    pub attn_c_proj_b: Tensor,
    pub ln_2_w: Tensor,
    pub ln_2_b: Tensor,
    pub c_fc_w: Tensor,
    pub c_fc_b: Tensor,
    pub mlp_c_proj_w: Tensor,
    pub mlp_c_proj_b: Tensor,
}

/// Views of every parameter (or gradient) in a flat buffer.
#[derive(Clone, Debug)]
pub(super) struct Views {
    /// wte by rows: (first token id, [rows, C]); one part unless the binding limit cut it.
    pub wte: Vec<(usize, Tensor)>,
    pub wpe: Option<Tensor>,
    pub blocks: Vec<Block>,
    pub ln_f_w: Tensor,
    pub ln_f_b: Tensor,
}

/// The flat layout of a parameter table and its cut into buffers.
#[derive(Clone, Debug)]
pub(super) struct Layout {
    /// Elements in the flat layout, padding included.
    pub total: usize,
    /// (flat start, length) of each buffer.
    spans: Vec<(usize, usize)>,
}

impl Layout {
    /// The layout of `specs` (from `param_specs`) for buffers of at most `max` elements; C is
    /// wte's row, by which it may be cut.
    pub fn new(specs: &[ParamSpec], max: usize, c: usize) -> Result<Layout> {
        let last = specs.last().expect("at least ln_f");
        let total = last.off + last.len.div_ceil(ALIGN) * ALIGN;
        Ok(Layout { total, spans: cut(specs, total, max, c)? })
    }

    /// Per buffer, the (start, len) element ranges of the tensors that take weight decay
    /// (`ParamSpec::decay`), sorted, adjacent ones joined: AdamW's table.
    pub fn decay_ranges(&self, specs: &[ParamSpec]) -> Vec<Vec<(usize, usize)>> {
        self.spans
            .iter()
            .map(|&(s, l)| {
                let mut out: Vec<(usize, usize)> = Vec::new();
                for p in specs.iter().filter(|p| p.decay && p.off < s + l && s < p.off + p.len) {
                    let (a, e) = (p.off.max(s) - s, (p.off + p.len).min(s + l) - s);
                    match out.last_mut() {
                        Some(last) if last.0 + last.1 == a => last.1 += e - a,
                        _ => out.push((a, e - a)),
                    }
                }
                out
            })
            .collect()
    }

    /// How many buffers a slot takes.
    pub fn buffers(&self) -> usize {
        self.spans.len()
    }

    /// One buffer per span (zeroed); on failure what was allocated is given back.
    pub fn alloc<B: Backend>(&self, be: &mut B, label: &str) -> Result<Vec<Tensor>> {
        let mut out = Vec::with_capacity(self.spans.len());
        for &(_, len) in &self.spans {
            match be.alloc(len, label) {
                Ok(t) => out.push(t),
                Err(e) => {
                    out.into_iter().for_each(|t| be.free(t));
                    return Err(e);
                }
            }
        }
        Ok(out)
    }

    /// The views of spec `s` in a slot's buffers `bufs`, each with its element offset inside
    /// the tensor (several only for a wte cut by rows).
    pub fn parts(&self, bufs: &[Tensor], s: &ParamSpec) -> Vec<(usize, Tensor)> {
        parts(bufs, &self.spans, s.off, s.len)
    }

    /// Views of every parameter (or gradient, or moment) in a slot's buffers `bufs`.
    pub fn views(&self, bufs: &[Tensor], specs: &[ParamSpec], c: usize, learned: bool) -> Views {
        views(bufs, &self.spans, specs, c, learned)
    }
}

/// The flat layout's cut into buffers: (flat start, length) spans, each at most `max`
/// elements, holding whole tensors, except that wte, when it alone is over `max`, is cut by
/// rows of C. Any other tensor over the limit is an error naming it.
fn cut(specs: &[ParamSpec], total: usize, max: usize, c: usize) -> Result<Vec<(usize, usize)>> {
    let mut spans = Vec::new();
    let (mut start, mut end) = (0, 0);
    for (i, s) in specs.iter().enumerate() {
        let next = specs.get(i + 1).map_or(total, |n| n.off);
        if next - s.off <= max {
            if next - start > max {
                spans.push((start, end - start));
                start = s.off;
            }
            end = next;
            continue;
        }
        let rows = max / c;
        if s.name != "transformer.wte.weight" || rows == 0 {
            return Err(Error::Gpu(format!(
                "tensor '{}' has {} elements ({} MiB), more than the {} MiB one buffer of this device holds",
                s.name,
                s.len,
                (s.len * 4) >> 20,
                (max * 4) >> 20
            )));
        }
        if end > start {
            spans.push((start, end - start));
        }
        let v = s.len / c;
        for r0 in (0..v).step_by(rows) {
            let len = if r0 + rows >= v { next - (s.off + r0 * c) } else { rows * c };
            spans.push((s.off + r0 * c, len));
        }
        (start, end) = (next, next);
    }
    if end > start {
        spans.push((start, end - start));
    }
    Ok(spans)
}

/// The views of flat range [off, off+len) in the buffers of a cut: one per span it touches.
fn parts(bufs: &[Tensor], spans: &[(usize, usize)], off: usize, len: usize) -> Vec<(usize, Tensor)> {
    spans
        .iter()
        .zip(bufs)
        .filter(|((s, l), _)| *s < off + len && off < s + l)
        .map(|(&(s, l), b)| {
            let (a, e) = (off.max(s), (off + len).min(s + l));
            (a - off, b.view(a - s, e - a))
        })
        .collect()
}

/// A tensor that lies in one buffer of the cut.
fn one(bufs: &[Tensor], spans: &[(usize, usize)], off: usize, len: usize) -> Tensor {
    let p = parts(bufs, spans, off, len);
    assert!(p.len() == 1, "tensor at {off} (+{len}) spans {} buffers", p.len());
    p[0].1
}

fn views(bufs: &[Tensor], spans: &[(usize, usize)], specs: &[ParamSpec], c: usize, learned: bool) -> Views {
    let wte = parts(bufs, spans, specs[0].off, specs[0].len).into_iter().map(|(at, t)| (at / c, t)).collect();
    let mut it = specs[1..].iter().map(|s| one(bufs, spans, s.off, s.len));
    let mut next = || it.next().expect("spec table matches the layout");
    let wpe = if learned { Some(next()) } else { None };
    let n_layer = (specs.len() - 3 - learned as usize) / 12;
    let blocks = (0..n_layer)
        .map(|_| Block {
            ln_1_w: next(),
            ln_1_b: next(),
            c_attn_w: next(),
            c_attn_b: next(),
            attn_c_proj_w: next(),
            attn_c_proj_b: next(),
            ln_2_w: next(),
            ln_2_b: next(),
            c_fc_w: next(),
            c_fc_b: next(),
            mlp_c_proj_w: next(),
            mlp_c_proj_b: next(),
        })
        .collect();
    Views { wte, wpe, blocks, ln_f_w: next(), ln_f_b: next() }
}

impl<B: Backend> Gpt<B> {
    /// A slot's buffers (one per span of the cut); None for the training slots before training.
    fn slot(&self, slot: Slot) -> Option<&[Tensor]> {
        match (slot, &self.train) {
            (Slot::Param, _) => Some(&self.params),
            (_, None) => None,
            (Slot::Grad, Some(t)) => Some(&t.grads),
            (Slot::AdamM, Some(t)) => Some(&t.adam_m),
            (Slot::AdamV, Some(t)) => Some(&t.adam_v),
        }
    }

    /// The views of one spec in a slot, with each one's element offset inside the tensor.
    pub(super) fn spec_parts(&self, slot: Slot, s: &ParamSpec) -> Option<Vec<(usize, Tensor)>> {
        self.slot(slot).map(|b| self.layout.parts(b, s))
    }

    fn spec(&self, name: &str) -> Result<&ParamSpec> {
        self.specs
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| Error::Checkpoint(format!("this model has no parameter '{name}'")))
    }

    /// One tensor in Hugging Face layout (Conv1D weights transposed to [C, OC]). Gradients and
    /// moments read as zeros before training.
    pub async fn read_hf(&mut self, name: &str, slot: Slot) -> Result<Vec<f32>> {
        let s = self.spec(name)?.clone();
        let Some(ps) = self.spec_parts(slot, &s) else { return Ok(vec![0.0; s.len]) };
        let mut data = Vec::with_capacity(s.len);
        for (_, t) in ps {
            data.extend(self.backend.read(t).await);
        }
        Ok(if s.hf_transposed { transpose(&data, s.shape[0], s.shape[1]) } else { data })
    }

    /// Writes one tensor given in Hugging Face layout; the length must match.
    pub fn write_hf(&mut self, name: &str, slot: Slot, data: &[f32]) -> Result<()> {
        let s = self.spec(name)?.clone();
        if data.len() != s.len {
            return Err(Error::Checkpoint(format!(
                "tensor '{name}': expected {} values (shape {:?}), got {}",
                s.len,
                s.hf_shape(),
                data.len()
            )));
        }
        if slot != Slot::Param {
            self.ensure_train()?;
        }
        let ps = self.spec_parts(slot, &s).expect("allocated above");
        if s.hf_transposed {
            // HF [C, OC] -> here [OC, C]; only wte is ever cut across buffers
            self.backend.write(ps[0].1, &transpose(data, s.shape[1], s.shape[0]));
        } else {
            for (at, t) in ps {
                self.backend.write(t, &data[at..at + t.len]);
            }
        }
        Ok(())
    }

    /// The whole flat buffer of one slot (padding included), e.g. to snapshot the weights.
    pub async fn read_flat(&mut self, slot: Slot) -> Vec<f32> {
        let Some(bufs) = self.slot(slot).map(<[Tensor]>::to_vec) else { return vec![0.0; self.layout.total] };
        let mut out = Vec::with_capacity(self.layout.total);
        for t in bufs {
            out.extend(self.backend.read(t).await);
        }
        out
    }

    pub fn write_flat(&mut self, slot: Slot, data: &[f32]) -> Result<()> {
        if slot != Slot::Param {
            self.ensure_train()?;
        }
        assert_eq!(data.len(), self.layout.total, "write_flat: the whole layout");
        let bufs = self.slot(slot).expect("allocated above").to_vec();
        for (t, &(start, len)) in bufs.into_iter().zip(&self.layout.spans) {
            self.backend.write(t, &data[start..start + len]);
        }
        Ok(())
    }

}

/// [rows, cols] -> [cols, rows]
pub fn transpose(x: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; x.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = x[r * cols + c];
        }
    }
    out
}
