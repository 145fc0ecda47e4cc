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
