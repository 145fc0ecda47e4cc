//! Replays every input under tests/corpus/<target>/ (interesting cases the fuzzers found, and
//! hand-made malformed files) through the fuzz entry points: none may panic.

fn replay(target: &str, f: fn(&[u8])) -> usize {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus").join(target);
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let p = e.unwrap().path();
        let bytes = std::fs::read(&p).unwrap();
        let r = std::panic::catch_unwind(|| f(&bytes));
        assert!(r.is_ok(), "{} panicked", p.display());
        n += 1;
    }
    n
}

#[test]
fn checkpoint_corpus() {
    assert!(replay("checkpoint", tinygpt::fuzzing::checkpoint) > 0);
}

#[test]
fn tokenizer_corpus() {
    assert!(replay("tokenizer", tinygpt::fuzzing::tokenizer) > 0);
}

#[test]
fn config_corpus() {
    assert!(replay("config", tinygpt::fuzzing::config) > 0);
}

#[test]
fn hf_folder_corpus() {
    assert!(replay("hf_folder", tinygpt::fuzzing::hf_folder) > 0);
}

#[test]
fn hf_folder_seeds_are_valid_folders() {
    // the fuzzer starts from real exported folders, so its mutations reach the tensor checks
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/hf_folder");
    for seed in ["seed-bpe_learned", "seed-char_sinusoidal", "seed-vocab-merges"] {
        let files = tinygpt::fuzzing::hf_files(&std::fs::read(dir.join(seed)).unwrap());
        if let Err(e) = tinygpt::hf::load(&tinygpt::hf::MemFolder(files)) {
            panic!("{seed}: {e}");
        }
    }
}
