#!/usr/bin/env bash
# The checks that need a real GPU, as one script (under 8 minutes on an NVIDIA machine):
#   1. build (or use binaries built elsewhere: a GPU machine may have no Rust),
#   2. the GPU kernel and model tests on the machine's native Vulkan driver,
#   3. `tinygpt bench --backend gpu --page --small`: matmul GFLOP/s up to 2048^3, the `baby`,
#      `page` and `small` presets' ms/step, and the dispatches and compute passes of a training
#      step and of a decoded token (tiny, baby, page, small),
#   4. the same figures from PyTorch on the same GPU (torch.matmul fp32 with TF32 off; the same
#      GPT's step for each preset), when python3 has torch,
#   5. everything written to OUTDIR (results.json lines, summary.txt, logs).
# Usage: tests/real-gpu/run.sh [OUTDIR]     (default target/real-gpu/out; STEPS=N timed steps;
#   SMALL=0 skips the `small` preset, which takes many minutes on a software adapter)
#   On a machine without cargo, first run here: tests/real-gpu/run.sh --prepare
#   (builds target/real-gpu/bin: tinygpt and the GPU test binaries), then carry target/real-gpu.
set -Eeuo pipefail
cd "$(dirname "$0")/../.."
# shellcheck disable=SC2317  # called by the ERR trap
on_err() {
  local rc=$?
  echo "run.sh: \"$BASH_COMMAND\" failed (exit $rc, line $1)" >&2
  exit "$rc"
}
trap 'on_err $LINENO' ERR

BIN=target/real-gpu/bin
TESTS="gpu_kernels gpu_model gpu_shaders"

prepare() {
  echo "==> building tinygpt and the GPU test binaries into $BIN"
  mkdir -p "$BIN"
  cargo build --release --bin tinygpt
  cp target/release/tinygpt "$BIN/"
  local t exe
  for t in $TESTS; do
    exe=$(cargo test --release --no-run --test "$t" --message-format=json 2>/dev/null \
      | python3 -c 'import json,sys
for l in sys.stdin:
    try: m = json.loads(l)
    except ValueError: continue
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == sys.argv[1]: print(m["executable"])' "$t")
    [ -n "$exe" ] || { echo "run.sh: no test binary for $t" >&2; exit 1; }
    cp "$exe" "$BIN/$t"
  done
}

if [ "${1:-}" = "--prepare" ]; then
  prepare
  exit 0
fi
OUT=${1:-target/real-gpu/out}
mkdir -p "$OUT"
STEPS=${STEPS:-10}
SMALL=${SMALL:-1}

if command -v cargo >/dev/null 2>&1; then
  prepare
elif [ ! -x "$BIN/tinygpt" ]; then
  echo "run.sh: no cargo here and no prebuilt $BIN/tinygpt; run 'tests/real-gpu/run.sh --prepare' on a machine with Rust and carry target/real-gpu" >&2
  exit 1
fi

# A Vulkan loader: the machine's, or Debian's packages carried in .gl/ (see the device notes).
if ! ldconfig -p 2>/dev/null | grep -q libvulkan.so.1; then
  if compgen -G ".gl/*.deb" >/dev/null; then
    for f in .gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
  fi
fi
for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json; do
  if [ -e "$icd" ] && [ -z "${VK_DRIVER_FILES:-}" ]; then export VK_DRIVER_FILES=$icd; fi
done
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
{ command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; } > "$OUT/gpu.txt" 2>&1 || echo "no nvidia-smi" > "$OUT/gpu.txt"

status=0
for t in $TESTS; do
  echo "==> $t (native Vulkan)"
  if "$BIN/$t" --test-threads=1 > "$OUT/test-$t.log" 2>&1; then
    echo "    $(grep -E '^test result' "$OUT/test-$t.log" | tail -1)"
  else
    status=1
    echo "    FAILED: see $OUT/test-$t.log"; tail -20 "$OUT/test-$t.log"
  fi
done

small=()
presets=(baby page)
[ "$SMALL" = 0 ] || { small=(--small); presets+=(small); }
# matmul GFLOP/s, the baby and page steps (and small), dispatches and passes per step and token
echo "==> tinygpt bench --backend gpu --page ${small[*]} --steps $STEPS"
"$BIN/tinygpt" bench --backend gpu --page "${small[@]}" --steps "$STEPS" --json > "$OUT/results.json"

if python3 -c 'import torch' >/dev/null 2>&1; then
  echo "==> PyTorch on the same machine: matmul 2048^3 (TF32 off), then ${presets[*]}"
  first=()
  for p in "${presets[@]}"; do
    python3 tests/real-gpu/torch_bench.py --steps "$STEPS" --preset "$p" "${first[@]}" >> "$OUT/results.json"
    first=(--no-matmul)
  done
else
  echo '{"torch": "not installed: no PyTorch figures"}' >> "$OUT/results.json"
fi

python3 - "$OUT/results.json" > "$OUT/summary.txt" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def find(**kw):
    return [r for r in rows if all(r.get(k) == v for k, v in kw.items())]
for r in find(backend="gpu") + find(kernel="matmul_forward", n=2048) + find(framework="torch"):
    if "dispatches" not in r:
        print(json.dumps(r))
PY
cat "$OUT/gpu.txt" "$OUT/summary.txt"
echo "==> results in $OUT"
exit $status
