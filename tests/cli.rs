//! The `tinygpt` binary as a user meets it: a short training run with JSON metrics, generate,
//! eval, resume, and every bad input giving a one-line message with exit code 2.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tinygpt(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tinygpt")).args(args).output().expect("tinygpt runs")
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tinygpt-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn corpus(dir: &Path) -> PathBuf {
    let p = dir.join("corpus.txt");
    let text = "ROMEO:\nBut soft, what light through yonder window breaks?\nIt is the east, and Juliet is the sun.\n\nJULIET:\nO Romeo, Romeo! wherefore art thou Romeo?\n";
    std::fs::write(&p, text.repeat(30)).unwrap();
    p
}

fn fails_with(out: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "exit code 2 expected; stderr: {err}");
    assert!(err.contains(needle), "stderr should mention {needle:?}: {err}");
    assert!(!err.contains("panicked"), "no panic: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "the error is the only line on stderr: {err}");
}

#[test]
fn train_generate_eval_resume() {
    let dir = tmpdir("flow");
    let data = corpus(&dir);
    let ckpt = dir.join("m.safetensors");
    let (d, c) = (data.to_str().unwrap(), ckpt.to_str().unwrap());
    let out = tinygpt(&["train", "--data", d, "--steps", "12", "--batch", "4", "--eval-interval", "6", "--seed", "3", "--out", c, "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 12);
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["step"], i + 1);
        for k in ["loss", "lr", "grad_norm", "ms_per_step", "tokens_per_s"] {
            assert!(l[k].as_f64().unwrap().is_finite(), "{k} in {l}");
        }
        assert_eq!(l.get("val_loss").is_some(), (i + 1) % 6 == 0, "val_loss on eval steps only: {l}");
        // tokens/s is this step's own figure: batch 4 x context 64 tokens over its ms
        let (ms, tps) = (l["ms_per_step"].as_f64().unwrap(), l["tokens_per_s"].as_f64().unwrap());
        assert!((tps * ms / 1e3 - 256.0).abs() < 1e-3 * 256.0, "tokens_per_s matches ms_per_step: {l}");
    }
    // Steps settled on their own (before an evaluation, the last) report the time of their
    // work, not the instant between two readbacks: same order as the other steps of the run.
    let mut ms: Vec<f64> = lines.iter().map(|l| l["ms_per_step"].as_f64().unwrap()).collect();
    let (sixth, last) = (ms[5], ms[11]);
    ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let median = ms[6];
    for (k, v) in [(6, sixth), (12, last)] {
        assert!(v > median / 10.0, "step {k} ms_per_step {v} vs the run's median {median}: {lines:?}");
    }
    assert!(ckpt.exists());

    // generate streams prompt + continuation, deterministic for a seed
    let g = |seed: &str| tinygpt(&["generate", "--model", c, "--prompt", "ROMEO", "--max-tokens", "30", "--seed", seed]);
    let (a, b) = (g("1"), g("1"));
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    let text = String::from_utf8(a.stdout.clone()).unwrap();
    assert!(text.starts_with("ROMEO") && text.trim_end().chars().count() >= 30, "{text:?}");
    assert_eq!(a.stdout, b.stdout);
    let nc = tinygpt(&["generate", "--model", c, "--prompt", "ROMEO", "--max-tokens", "30", "--seed", "1", "--no-cache"]);
    assert_eq!(nc.stdout, a.stdout, "KV cache on or off: same text");

    let e = tinygpt(&["eval", "--model", c, "--data", d, "--json"]);
    assert!(e.status.success(), "{}", String::from_utf8_lossy(&e.stderr));
    let v: serde_json::Value = serde_json::from_slice(&e.stdout).unwrap();
    assert!(v["val_loss"].as_f64().unwrap() > 0.0 && v["tokens"].as_u64().unwrap() > 0, "{v}");
    assert!((0.0..=1.0).contains(&v["val_acc"].as_f64().unwrap()));

    // resume to step 16: the first 12 steps are not repeated
    let r = tinygpt(&["train", "--data", d, "--resume", c, "--steps", "16", "--out", c, "--json"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let steps: Vec<u64> = String::from_utf8(r.stdout).unwrap().lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["step"].as_u64().unwrap()).collect();
    assert_eq!(steps, vec![13, 14, 15, 16]);

    // --f16: weights only, a sixth of the full file; it loads and evaluates like the f32 model
    let h = dir.join("half.safetensors");
    let hs = h.to_str().unwrap();
    let r = tinygpt(&["train", "--data", d, "--resume", c, "--steps", "16", "--f16", "--out", hs, "--json"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let (full, half) = (std::fs::metadata(c).unwrap().len(), std::fs::metadata(&h).unwrap().len());
    assert!(half * 5 < full, "{half} vs {full} bytes");
    let loss = |m: &str| {
        let e = tinygpt(&["eval", "--model", m, "--data", d, "--json"]);
        assert!(e.status.success(), "{}", String::from_utf8_lossy(&e.stderr));
        serde_json::from_slice::<serde_json::Value>(&e.stdout).unwrap()["val_loss"].as_f64().unwrap()
    };
    let (l32, l16) = (loss(c), loss(hs));
    assert!((l32 - l16).abs() < 1e-2, "{l32} vs {l16}");
    fails_with(&tinygpt(&["train", "--data", d, "--steps", "1", "--f16", "--weights-only", "--out", hs]), "cannot be used with");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn more_train_text_trains_but_leaves_the_validation_split() {
    let dir = tmpdir("more");
    let data = corpus(&dir);
    let more = dir.join("more.txt");
    // '@' is in the extra text only: the vocabulary is learned from both texts
    std::fs::write(&more, "MERCUTIO:\nA plague o' both your houses! @\n".repeat(40)).unwrap();
    let (d, m) = (data.to_str().unwrap(), more.to_str().unwrap());
    let (plain, with) = (dir.join("plain.safetensors"), dir.join("with.safetensors"));
    for (out, extra) in [(&plain, None), (&with, Some(m))] {
        let mut args = vec!["train", "--data", d, "--steps", "2", "--batch", "2", "--out", out.to_str().unwrap(), "--json"];
        args.extend(extra.map(|m| ["--more-train", m]).into_iter().flatten());
        let r = tinygpt(&args);
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    }
    let eval = |c: &Path| {
        let e = tinygpt(&["eval", "--model", c.to_str().unwrap(), "--data", d, "--json"]);
        assert!(e.status.success(), "{}", String::from_utf8_lossy(&e.stderr));
        serde_json::from_slice::<serde_json::Value>(&e.stdout).unwrap()
    };
    // the same validation split (the corpus's last 10%), so the losses compare
    assert_eq!(eval(&plain)["tokens"], eval(&with)["tokens"]);
    let g = tinygpt(&["generate", "--model", with.to_str().unwrap(), "--prompt", "@", "--max-tokens", "3"]);
    assert!(g.status.success(), "the extra text's characters are in the vocabulary: {}", String::from_utf8_lossy(&g.stderr));
    let g = tinygpt(&["generate", "--model", plain.to_str().unwrap(), "--prompt", "@", "--max-tokens", "3"]);
    fails_with(&g, "@");
    fails_with(&tinygpt(&["train", "--data", d, "--more-train", "/no/such/more.txt"]), "/no/such/more.txt");
    let empty = dir.join("empty.txt");
    std::fs::write(&empty, "").unwrap();
    fails_with(&tinygpt(&["train", "--data", d, "--more-train", empty.to_str().unwrap()]), "empty");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_inputs_get_one_line_and_exit_2() {
    let dir = tmpdir("bad");
    let data = corpus(&dir);
    let d = data.to_str().unwrap();
    fails_with(&tinygpt(&["train", "--data", "/no/such/corpus.txt"]), "/no/such/corpus.txt");
    let empty = dir.join("empty.txt");
    std::fs::write(&empty, "").unwrap();
    fails_with(&tinygpt(&["train", "--data", empty.to_str().unwrap()]), "empty");
    let bin = dir.join("bin.txt");
    std::fs::write(&bin, b"hello\xff\xfeworld").unwrap();
    fails_with(&tinygpt(&["train", "--data", bin.to_str().unwrap()]), "not UTF-8");
    let short = dir.join("short.txt");
    std::fs::write(&short, "too short for a 64-token context").unwrap();
    fails_with(&tinygpt(&["train", "--data", short.to_str().unwrap()]), "too short");
    fails_with(&tinygpt(&["train", "--data", d, "--pos", "spiral"]), "spiral");
    fails_with(&tinygpt(&["train", "--data", d, "--preset", "huge"]), "huge");
    fails_with(&tinygpt(&["train", "--data", d, "--lr=-1"]), "lr");
    let junk = dir.join("junk.safetensors");
    std::fs::write(&junk, b"definitely not a checkpoint").unwrap();
    fails_with(&tinygpt(&["generate", "--model", junk.to_str().unwrap()]), "junk.safetensors");
    fails_with(&tinygpt(&["generate", "--model", "/no/such.safetensors"]), "/no/such.safetensors");
    fails_with(&tinygpt(&["eval", "--model", junk.to_str().unwrap(), "--data", d]), "not a safetensors file");

    // a prompt character the model never saw
    let ckpt = dir.join("m.safetensors");
    let c = ckpt.to_str().unwrap();
    assert!(tinygpt(&["train", "--data", d, "--steps", "1", "--batch", "2", "--out", c, "--json"]).status.success());
    fails_with(&tinygpt(&["generate", "--model", c, "--prompt", "Zebra 🦓"]), "'Z'");
    fails_with(&tinygpt(&["generate", "--model", c, "--top-p", "0"]), "top_p");
    fails_with(&tinygpt(&["surprisal", "--model", c, "--text", ""]), "empty");
    fails_with(&tinygpt(&["surprisal", "--model", c, "--text", "Zebra"]), "'Z'");
    fails_with(&tinygpt(&["heads", "--model", c, "--text", ""]), "empty");
    fails_with(&tinygpt(&["surprisal", "--model", c, "--text-file", "/no/such.txt"]), "/no/such.txt");

    // the lab's commands on the same model: JSON of the documented shapes
    let out = tinygpt(&["surprisal", "--model", c, "--text", "ROMEO:\nBut soft", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let (toks, sur) = (v["tokens"].as_array().unwrap(), v["surprisal"].as_array().unwrap());
    assert_eq!((toks.len(), sur.len()), (15, 15));
    assert!(sur[0].is_null() && sur[1..].iter().all(|x| x.as_f64().unwrap() > 0.0));
    let mean = sur[1..].iter().map(|x| x.as_f64().unwrap()).sum::<f64>() / 14.0;
    assert!((v["mean"].as_f64().unwrap() - mean).abs() < 1e-4, "{v}");
    let out = tinygpt(&["heads", "--model", c, "--text", "ROMEO: But soft, what light", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for k in ["previous_token", "first_token", "induction"] {
        let rows = v[k].as_array().unwrap();
        assert_eq!(rows.len(), 4, "{k}: one row per layer of the baby preset");
        assert!(rows.iter().all(|r| r.as_array().unwrap().len() == 4 && r.as_array().unwrap().iter().all(|x| (0.0..=1.0).contains(&x.as_f64().unwrap()))));
    }
    // the lens: streams 0..=4 of the baby preset, top-k per position; ablation takes effect
    let lens = |ablate: &str| {
        let out = tinygpt(&["lens", "--model", c, "--prompt", "ROMEO:", "--top-k", "3", "--ablate", ablate, "--json"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let v = lens("");
    assert_eq!(v["tokens"].as_array().unwrap().len(), 6);
    assert_eq!(v["ids"].as_array().unwrap().len(), 6);
    let layers = v["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 5);
    for st in layers {
        for p in st.as_array().unwrap() {
            let p = p.as_array().unwrap();
            assert_eq!(p.len(), 3);
            assert!(p[0]["prob"].as_f64().unwrap() >= p[1]["prob"].as_f64().unwrap() && p[0]["token"].is_string() && p[0]["id"].is_u64());
        }
    }
    assert_ne!(lens("3.0,3.1,3.2,3.3")["layers"][4], v["layers"][4], "ablating the last layer changes its stream");
    assert_eq!(lens("3.0,3.1,3.2,3.3")["layers"][3], v["layers"][3], "but not the one before");
    fails_with(&tinygpt(&["lens", "--model", c, "--prompt", "ROMEO", "--ablate", "4.1"]), "head 4.1 is out of range");
    fails_with(&tinygpt(&["generate", "--model", c, "--ablate", "x"]), "layer.head");
    fails_with(&tinygpt(&["lens", "--model", c, "--prompt", ""]), "empty");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bpe_model_exports_to_hf_and_back() {
    let dir = tmpdir("bpe");
    let data = corpus(&dir);
    let (ckpt, folder, back) = (dir.join("m.safetensors"), dir.join("hf"), dir.join("back.safetensors"));
    let (d, c, f, b) = (data.to_str().unwrap(), ckpt.to_str().unwrap(), folder.to_str().unwrap(), back.to_str().unwrap());
    let out = tinygpt(&["train", "--data", d, "--tokenizer", "bpe:300", "--steps", "3", "--batch", "2", "--out", c, "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let e = tinygpt(&["export-hf", c, f]);
    assert!(e.status.success(), "{}", String::from_utf8_lossy(&e.stderr));
    for file in ["config.json", "model.safetensors", "tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json"] {
        assert!(folder.join(file).exists(), "{file}");
    }
    let i = tinygpt(&["import-hf", f, b]);
    assert!(i.status.success(), "{}", String::from_utf8_lossy(&i.stderr));
    // the checkpoint, its HF folder and the re-imported checkpoint generate the same text,
    // whole characters only even when a token holds part of one
    let g = |m: &str| tinygpt(&["generate", "--model", m, "--prompt", "Romeo 🦀 é", "--max-tokens", "40", "--seed", "5"]);
    let first = g(c);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    assert!(String::from_utf8(first.stdout.clone()).is_ok());
    assert!(String::from_utf8_lossy(&first.stdout).starts_with("Romeo 🦀 é"));
    assert_eq!(g(f).stdout, first.stdout);
    assert_eq!(g(b).stdout, first.stdout);
    let ev = tinygpt(&["eval", "--model", f, "--data", d, "--json"]);
    assert!(ev.status.success(), "{}", String::from_utf8_lossy(&ev.stderr));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_tokenizer_and_hf_inputs_exit_2() {
    let dir = tmpdir("badhf");
    let data = corpus(&dir);
    let d = data.to_str().unwrap();
    fails_with(&tinygpt(&["train", "--data", d, "--tokenizer", "bpe:100"]), "bpe:100");
    fails_with(&tinygpt(&["train", "--data", d, "--tokenizer", "wordpiece"]), "'char' or 'bpe:N'");
    let empty = dir.join("emptyfolder");
    std::fs::create_dir_all(&empty).unwrap();
    let e = empty.to_str().unwrap();
    fails_with(&tinygpt(&["generate", "--model", e]), "config.json");
    fails_with(&tinygpt(&["import-hf", e, dir.join("x.safetensors").to_str().unwrap()]), "config.json");
    fails_with(&tinygpt(&["eval", "--model", e, "--data", d]), "config.json");
    fails_with(&tinygpt(&["export-hf", "/no/such.safetensors", e]), "/no/such.safetensors");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `tinygpt tasks`, `train --task` with evaluations carrying exact match, `eval --task`, the
/// shape flags over a task's recipe, and an unknown task.
#[test]
fn toy_tasks_list_train_and_evaluate() {
    let list = tinygpt(&["tasks", "--json"]);
    assert!(list.status.success(), "{}", String::from_utf8_lossy(&list.stderr));
    let tasks: Vec<serde_json::Value> = serde_json::from_slice(&list.stdout).unwrap();
    assert!(tasks.len() >= 12, "{} tasks", tasks.len());
    let names: Vec<&str> = tasks.iter().map(|t| t["name"].as_str().unwrap()).collect();
    for n in ["induction", "modadd", "reverse", "sort", "add", "words"] {
        assert!(names.contains(&n), "{n} in {names:?}");
    }
    for t in &tasks {
        assert!(t["example"]["prompt"].is_string() && t["skill"].is_string() && t["train"]["steps"].as_u64().unwrap() > 0, "{t}");
    }
    let plain = tinygpt(&["tasks"]);
    assert!(String::from_utf8_lossy(&plain.stdout).contains("modadd"));

    let dir = tmpdir("tasks");
    let ckpt = dir.join("max.safetensors");
    let c = ckpt.to_str().unwrap();
    // over the task's recipe: one layer, a context longer than its examples need
    let out = tinygpt(&["train", "--task", "max", "--steps", "40", "--eval-interval", "20", "--n-layer", "1", "--block-size", "12", "--weight-decay", "0.05", "--out", c, "--json", "--backend", "cpu"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 40);
    for l in &lines {
        let eval = l["step"].as_u64().unwrap() % 20 == 0;
        assert_eq!(l.get("val_exact").is_some(), eval, "exact match on evaluation steps: {l}");
        if eval {
            for k in ["train_exact", "val_exact"] {
                assert!((0.0..=1.0).contains(&l[k].as_f64().unwrap()), "{k} in {l}");
            }
        }
    }
    let ck = tinygpt::checkpoint::load(&ckpt).unwrap();
    assert_eq!((ck.cfg.n_layer, ck.cfg.block_size), (1, 12));
    assert_eq!(ck.train.unwrap().weight_decay, 0.05);

    let e = tinygpt(&["eval", "--model", c, "--task", "max", "--json", "--backend", "cpu"]);
    assert!(e.status.success(), "{}", String::from_utf8_lossy(&e.stderr));
    let v: serde_json::Value = serde_json::from_slice(&e.stdout).unwrap();
    assert!((0.0..=1.0).contains(&v["exact"].as_f64().unwrap()) && v["val_loss"].as_f64().unwrap() > 0.0, "{v}");

    // bad input: one line, exit 2, nothing written
    fails_with(&tinygpt(&["train", "--task", "juggling", "--steps", "2"]), "juggling");
    fails_with(&tinygpt(&["eval", "--model", c, "--task", "juggling"]), "juggling");
    // a model of another task cannot read this one's examples
    fails_with(&tinygpt(&["eval", "--model", c, "--task", "modadd", "--backend", "cpu"]), "vocabulary");
    // a context too short for the task's examples
    fails_with(&tinygpt(&["train", "--task", "add", "--block-size", "4", "--steps", "2", "--backend", "cpu"]), "context must be at least");
    fails_with(&tinygpt(&["train", "--task", "max", "--data", c, "--steps", "2"]), "cannot be used with");
}

/// `train --minutes`: the run times its first steps, plans its length once and ends exactly
/// there; with --json the plan is the first line. Event order and counts only, never wall time.
#[test]
fn a_time_budget_plans_the_run_and_ends_at_the_plan() {
    let dir = tmpdir("minutes");
    let data = corpus(&dir);
    let d = data.to_str().unwrap();
    let out = tinygpt(&["train", "--data", d, "--minutes", "0.05", "--batch", "4", "--json", "--backend", "cpu"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let plan = &lines[0]["plan"];
    let steps = plan["steps"].as_u64().unwrap_or_else(|| panic!("the first line is the plan: {}", lines[0])) as usize;
    let timed = plan["timed_steps"].as_u64().unwrap() as usize;
    assert!(timed >= 5 && steps > timed, "{plan}");
    assert!(plan["ms_per_step"].as_f64().unwrap() > 0.0 && plan["budget_ms"].as_f64().unwrap() == 3000.0, "{plan}");
    // then every step, 1..=steps, the last one with its evaluation; no other plan
    let rest = &lines[1..];
    let stepped: Vec<usize> = rest.iter().map(|l| l["step"].as_u64().unwrap() as usize).collect();
    assert!(stepped.len() == steps && stepped.iter().enumerate().all(|(i, &k)| k == i + 1), "every step once, in order, to {steps}: {} lines, the last {:?}", stepped.len(), stepped.last());
    assert!(rest.iter().all(|l| l.get("plan").is_none()));
    assert!(rest.last().unwrap()["val_loss"].as_f64().unwrap().is_finite());

    // without --json: the plan in one line on stderr
    let out = tinygpt(&["train", "--data", d, "--minutes", "0.05", "--batch", "4", "--backend", "cpu"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err.lines().find(|l| l.starts_with("tinygpt: --minutes 0.05: ")).unwrap_or_else(|| panic!("a plan line: {err}"));
    assert!(line.contains(" steps (") && line.contains(" ms a step over the first "), "{line}");

    // bad budgets: one line, exit 2
    for bad in ["0", "nan", "-1", "inf", "soon"] {
        fails_with(&tinygpt(&["train", "--data", d, "--minutes", bad]), "--minutes");
    }
    fails_with(&tinygpt(&["train", "--data", d, "--minutes", "1", "--steps", "5"]), "cannot be used with");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Mesa's Vulkan drivers print "XDG_RUNTIME_DIR is invalid or not set" on every adapter probe
/// when it is unset: the CLI sets it to a private directory first, so a bad input that probes
/// the adapters (`generate` with --backend auto) still gets exactly one line, run after run.
#[test]
fn an_unset_xdg_runtime_dir_adds_no_line_to_an_error() {
    let dir = tmpdir("xdg");
    let junk = dir.join("junk.safetensors");
    std::fs::write(&junk, b"definitely not a checkpoint").unwrap();
    for _ in 0..2 {
        let out = Command::new(env!("CARGO_BIN_EXE_tinygpt"))
            .args(["generate", "--model", junk.to_str().unwrap(), "--backend", "auto"])
            .env_remove("XDG_RUNTIME_DIR")
            .output()
            .expect("tinygpt runs");
        fails_with(&out, "junk.safetensors");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
