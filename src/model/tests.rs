//! Dropout through the whole model: the backward pass is the gradient of the forward pass with
//! the same masks (central differences on a tiny model), and the masks do something.

use super::{Gpt, Slot, StepDropout};
use crate::backend::Backend;
use crate::config::{ModelConfig, PosEncoding};
use crate::cpu::CpuBackend;
use crate::rng::Rng;
use pollster::block_on;

const B: usize = 2;
const T: usize = 5;

fn model() -> (Gpt<CpuBackend>, Vec<u32>, Vec<u32>) {
    let cfg = ModelConfig { vocab_size: 11, n_layer: 2, n_head: 2, n_embd: 16, block_size: 8, pos: PosEncoding::Learned };
    let g = Gpt::new(cfg, CpuBackend::new(), 3).unwrap();
    let mut r = Rng::new(4);
    let x: Vec<u32> = (0..B * T).map(|_| r.below(11) as u32).collect();
    let y: Vec<u32> = (0..B * T).map(|_| r.below(11) as u32).collect();
    (g, x, y)
}

/// The mean loss of one forward pass with dropout `d`.
fn loss(g: &mut Gpt<CpuBackend>, x: &[u32], y: &[u32], d: Option<StepDropout>) -> f32 {
    g.record_forward(x, Some(y), None, B, T, d, None).unwrap();
    block_on(g.backend.read(g.stats.view(0, 1)))[0] / (B * T) as f32
}

#[test]
fn dropout_backward_is_the_gradient_of_dropout_forward() {
    let (mut g, x, y) = model();
    let d = StepDropout::for_step(0.3, 7, 1, 0);
    assert!(d.is_some());
    let l0 = loss(&mut g, &x, &y, d);
    assert_ne!(l0, loss(&mut g, &x, &y, None), "the masks change the loss");
    loss(&mut g, &x, &y, d);
    g.backward();
    let grads = block_on(g.read_flat(Slot::Grad));
    let mut params = block_on(g.read_flat(Slot::Param));
    // parameters of every kind: some from each tensor, the embeddings and both projections too
    let mut r = Rng::new(5);
    let mut picks: Vec<(String, usize)> = Vec::new();
    for s in g.specs.clone() {
        for _ in 0..3 {
            picks.push((s.name.clone(), s.off + r.below(s.len)));
        }
    }
    let h = 1e-2f32;
    let mut bad = Vec::new();
    for (name, i) in picks {
        let was = params[i];
        params[i] = was + h;
        g.write_flat(Slot::Param, &params).unwrap();
        let up = loss(&mut g, &x, &y, d) as f64;
        params[i] = was - h;
        g.write_flat(Slot::Param, &params).unwrap();
        let down = loss(&mut g, &x, &y, d) as f64;
        params[i] = was;
        let num = ((up - down) / (2.0 * h as f64)) as f32;
        if (num - grads[i]).abs() > 2e-3 + 5e-2 * num.abs() {
            bad.push(format!("{name}[{i}]: backward {} central difference {num}", grads[i]));
        }
    }
    assert!(bad.is_empty(), "{} mismatches, first: {:?}", bad.len(), &bad[..bad.len().min(5)]);
}

#[test]
fn no_dropout_below_p_zero_and_a_mask_per_step() {
    assert_eq!(StepDropout::for_step(0.0, 7, 1, 0), None);
    let (mut g, x, y) = model();
    let (a, b) = (StepDropout::for_step(0.3, 7, 1, 0), StepDropout::for_step(0.3, 7, 2, 0));
    assert_ne!(loss(&mut g, &x, &y, a), loss(&mut g, &x, &y, b), "each step draws its own masks");
    assert_eq!(loss(&mut g, &x, &y, a), loss(&mut g, &x, &y, a), "the same step draws the same masks");
}
