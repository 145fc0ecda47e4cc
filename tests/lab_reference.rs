//! The lab against PyTorch: the logit lens at every stream, logits and loss with two heads
//! ablated, surprisal over eval's windows, and the three head scores, from
//! tests/fixtures/lab.safetensors (written by tests/reference/make_lab_fixture.py).

mod common;
use common::{assert_close, Fixture};
use pollster::block_on;
use tinygpt::lab;

#[test]
fn lens_ablation_surprisal_and_scores_match_pytorch() {
    let fx = Fixture::load(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/lab.safetensors"));
    let cfg = fx.model_config();
    let (v, t, nl) = (cfg.vocab_size, cfg.block_size, cfg.n_layer);
    let mut m = fx.cpu_model();

    // the lens: every stream's full distribution at every position
    let streams = block_on(lab::lens(&mut m, &fx.ids("lens_ids"), v)).unwrap();
    assert_eq!(streams.len(), nl + 1);
    let mut got = Vec::new();
    for s in &streams {
        for p in s {
            let mut row = vec![0.0; v];
            for &(id, prob) in p {
                row[id as usize] = prob;
            }
            got.extend(row);
        }
    }
    assert_close("lens probabilities", &got, fx.f("lens_probs"), 1e-4, 1e-4);
    block_on(m.forward(&fx.ids("lens_ids"), None, 1, t)).unwrap();
    assert_close("logits", &block_on(m.read_logits()), fx.f("lens_logits"), 1e-4, 1e-4);

    // surprisal (tokens 1..) and its mean
    let (sur, mean) = block_on(lab::surprisal(&mut m, &fx.ids("sur_ids"))).unwrap();
    let sur: Vec<f32> = sur[1..].iter().map(|x| x.unwrap()).collect();
    assert_close("surprisal", &sur, fx.f("surprisal"), 1e-4, 1e-4);
    let want_mean = fx.f("surprisal").iter().sum::<f32>() / sur.len() as f32;
    assert_close("mean surprisal", &[mean], &[want_mean], 1e-4, 1e-4);

    // head scores
    let h = block_on(lab::head_scores(&mut m, &fx.ids("score_ids"))).unwrap();
    let flat = |x: &Vec<Vec<f32>>| x.iter().flatten().copied().collect::<Vec<f32>>();
    assert_close("previous-token scores", &flat(&h.previous_token), fx.f("previous_token"), 1e-4, 1e-4);
    assert_close("first-token scores", &flat(&h.first_token), fx.f("first_token"), 1e-4, 1e-4);
    assert_close("induction scores", &flat(&h.induction), fx.f("induction"), 1e-4, 1e-4);

    // two heads ablated: logits and loss
    m.set_ablation(&lab::parse_heads(&fx.meta["ablate"]).unwrap()).unwrap();
    let (x, y) = (fx.ids("ablate_ids"), fx.ids("ablate_targets"));
    let (loss, _) = block_on(m.forward(&x, Some(&y), 1, t)).unwrap().unwrap();
    assert_close("ablated logits", &block_on(m.read_logits()), fx.f("ablate_logits"), 1e-4, 1e-4);
    assert_close("ablated loss", &[loss], fx.f("ablate_loss"), 1e-4, 1e-4);
}
