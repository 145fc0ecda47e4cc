#!/usr/bin/env bash
# tinygpt's single entry point. Installs what is missing (idempotently), then builds or tests.
#   ./build.sh test    every test: Rust unit + integration tests (CPU reference, PyTorch fixtures)
#   ./build.sh cli     build the native `tinygpt` binary (target/release/tinygpt)
#   ./build.sh bench   speed figures for docs/benchmarks.md (tinygpt bench)
set -euo pipefail
cd "$(dirname "$0")"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

need_rust() {
  if ! command -v cargo >/dev/null 2>&1; then
    echo "build.sh: cargo not found; install Rust from https://rustup.rs" >&2
    exit 1
  fi
}

need_wasm_target() {
  if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    say "rustup target add wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown
  fi
}

cmd=${1:-help}
case "$cmd" in
  test)
    need_rust
    need_wasm_target
    say "cargo test --release (unit, CPU ops, model, PyTorch reference, CLI)"
    cargo test --release --all-targets
    # The CPU backend is also the browser's fallback: it must keep building for wasm32.
    say "cargo build --lib --target wasm32-unknown-unknown"
    cargo build --lib --release --target wasm32-unknown-unknown
    ;;
  cli)
    need_rust
    cargo build --release --bin tinygpt
    echo "built target/release/tinygpt"
    ;;
  bench)
    need_rust
    cargo build --release --bin tinygpt
    ./target/release/tinygpt bench "${@:2}"
    ;;
  *)
    echo "usage: ./build.sh test | cli | bench" >&2
    exit 2
    ;;
esac
