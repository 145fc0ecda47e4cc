//! `tinygpt lens`, `surprisal` and `heads`: the lab's measurements (src/lab.rs) as JSON or tables.

use super::{json_line, loaded, BackendKind};
use clap::Args;
use pollster::block_on;
use std::path::PathBuf;
use tinygpt::data::read_corpus;
use tinygpt::error::{Error, Result};

#[derive(Args)]
pub struct SurprisalArgs {
    /// Heads to zero-ablate, layer.head from 0, comma-separated (e.g. 0.1,2.3).
    #[arg(long, default_value = "")]
    ablate: String,
    /// A checkpoint written by `tinygpt train`, or a Hugging Face GPT-2 folder.
    #[arg(long)]
    model: PathBuf,
    /// The text (or --text-file).
    #[arg(long, conflicts_with = "text_file", required_unless_present = "text_file")]
    text: Option<String>,
    /// A UTF-8 file holding the text.
    #[arg(long)]
    text_file: Option<PathBuf>,
    /// {"tokens": [str], "surprisal": [null, float, ...], "mean": float}
    #[arg(long)]
    json: bool,
    #[arg(long, value_enum, default_value = "auto")]
    backend: BackendKind,
}

#[derive(Args)]
pub struct LensArgs {
    /// A checkpoint written by `tinygpt train`, or a Hugging Face GPT-2 folder.
    #[arg(long)]
    model: PathBuf,
    #[arg(long)]
    prompt: String,
    /// Tokens per position.
    #[arg(long, default_value_t = 5)]
    top_k: usize,
    /// Heads to zero-ablate, layer.head from 0, comma-separated (e.g. 0.1,2.3).
    #[arg(long, default_value = "")]
    ablate: String,
    /// {"tokens": [str], "ids": [int], "layers": [[[{"id", "token", "prob"} x K] per position] per stream 0..L]}
    #[arg(long)]
    json: bool,
    #[arg(long, value_enum, default_value = "auto")]
    backend: BackendKind,
}

#[derive(Args)]
pub struct HeadsArgs {
    /// Heads to zero-ablate, layer.head from 0, comma-separated (e.g. 0.1,2.3).
    #[arg(long, default_value = "")]
    ablate: String,
    /// A checkpoint written by `tinygpt train`, or a Hugging Face GPT-2 folder.
    #[arg(long)]
    model: PathBuf,
    #[arg(long)]
    text: String,
    /// {"previous_token": [[float; NH]; L], "first_token": [...], "induction": [...]}
    #[arg(long)]
    json: bool,
    #[arg(long, value_enum, default_value = "auto")]
    backend: BackendKind,
}

pub fn lens(a: LensArgs) -> Result<()> {
    let (mut s, note) = loaded(&a.model, a.backend, a.json, &a.ablate)?;
    if a.top_k == 0 {
        return Err(Error::Config("top-k: expected at least 1".into()));
    }
    let (ids, streams, cut) = block_on(s.lens(&a.prompt, a.top_k))?;
    note.say();
    let tokens = s.labels(&ids);
    if cut {
        eprintln!("tinygpt: the prompt is longer than the context: the lens reads its last {} tokens", ids.len());
    }
    if a.json {
        let layers: Vec<Vec<Vec<serde_json::Value>>> = streams
            .iter()
            .map(|st| st.iter().map(|p| p.iter().map(|(id, t, pr)| serde_json::json!({"id": id, "token": t, "prob": pr})).collect()).collect())
            .collect();
        json_line(serde_json::json!({"tokens": tokens, "ids": ids, "layers": layers}));
    } else {
        // one row per stream, the top token at each position (its probability in %)
        print!("{:>8}", "stream");
        for t in &tokens {
            print!(" {:>12}", format!("{t:?}"));
        }
        println!();
        for (l, st) in streams.iter().enumerate() {
            print!("{:>8}", if l == 0 { "embed".to_string() } else { l.to_string() });
            for p in st {
                let (_, t, pr) = &p[0];
                print!(" {:>12}", format!("{t:?} {:.0}%", pr * 100.0));
            }
            println!();
        }
    }
    Ok(())
}

pub fn surprisal(a: SurprisalArgs) -> Result<()> {
    let (mut s, note) = loaded(&a.model, a.backend, a.json, &a.ablate)?;
    let text = match (&a.text, &a.text_file) {
        (Some(t), _) => t.clone(),
        (None, Some(f)) => read_corpus(f)?,
        (None, None) => unreachable!("clap requires one"),
    };
    let (tokens, sur, mean) = block_on(s.surprisal(&text))?;
    note.say();
    if a.json {
        json_line(serde_json::json!({"tokens": tokens, "surprisal": sur, "mean": mean}));
    } else {
        println!("{:>6}  {:>10}  token", "pos", "surprisal");
        for (i, (t, v)) in tokens.iter().zip(&sur).enumerate() {
            let v = v.map_or("-".to_string(), |v| format!("{v:.3}"));
            println!("{i:>6}  {v:>10}  {t:?}");
        }
        println!("mean surprisal {mean:.4} nats over {} tokens", tokens.len().saturating_sub(1));
    }
    Ok(())
}

pub fn heads(a: HeadsArgs) -> Result<()> {
    let (mut s, note) = loaded(&a.model, a.backend, a.json, &a.ablate)?;
    let h = block_on(s.head_scores(&a.text))?;
    note.say();
    if a.json {
        json_line(serde_json::to_value(&h).expect("scores serialise"));
    } else {
        println!("{:>5}  {:>8}  {:>8}  {:>9}", "head", "previous", "first", "induction");
        for (l, row) in h.previous_token.iter().enumerate() {
            for hd in 0..row.len() {
                println!("{:>5}  {:>8.3}  {:>8.3}  {:>9.3}", format!("{l}.{hd}"), row[hd], h.first_token[l][hd], h.induction[l][hd]);
            }
        }
    }
    Ok(())
}

