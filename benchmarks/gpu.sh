#!/usr/bin/env bash
# jinit on one GPU, in one prepared run (under 8 minutes on one recent GPU):
#   1. every scheme's throughput at 2^26, 2^28 and 2^30 elements, float32 and bfloat16, against
#      jax.nn.initializers, jax.random and the device's fresh-buffer write bandwidth (a jitted
#      jnp.full); columns x_jax_nn, x_jax_random, floor (fraction of the write bandwidth);
#   2. whole-model init of GPT-2 XL (float32) and Llama-2-7B (bfloat16) against Flax model.init,
#      each in a fresh process, first call (compile included);
#   3. whole-model init's programs (whole_model.py --programs): compile count, XLA compile
#      seconds, first and second call against the sampling floor, GPT-2 small/medium and a
#      48-shape tree and GPT-2 small with stacked blocks, packed (split program, the
#      accelerator route) against per-shape programs;
#   4. jinit verify --dtype bfloat16,float16 on the GPU (bf16/f16 correctness checks).
# Results go to $OUT (default benchmarks/gpu-results/): one JSON document and one log per step.
#
#   bash benchmarks/gpu.sh            # on the GPU machine
#   bash benchmarks/gpu.sh --quick    # toy sizes, any device (a CPU smoke run of every step)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
QUICK=0
for arg in "$@"; do
  case "$arg" in
    --quick) QUICK=1 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "gpu.sh: unknown argument '$arg'; expected --quick or nothing" >&2; exit 2 ;;
  esac
done
OUT="${OUT:-$HERE/gpu-results}"
mkdir -p "$OUT"
PY="${PYTHON:-python}"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"

if [ "$QUICK" = 1 ]; then  # a smoke run of every step at toy sizes
  SIZES="14"; SCHEMES=(--schemes normal,he_normal); MODELS="llamatiny"; PROGRAMS="tiny,shapes8,scan_tiny"
  VERIFY=(--only normal --samples 65536); LIMIT=600
else
  SIZES="26,28,30"; SCHEMES=(); MODELS="xl,llama7b"; PROGRAMS="small,medium,shapes48,scan_small"
  VERIFY=(); LIMIT=240
fi

step() {  # step NAME TIMEOUT_S CMD...: runs CMD, logs it, and stops the run on failure
  local name="$1" limit="$2"; shift 2
  local t0=$SECONDS
  echo "== $name ==" | tee "$OUT/$name.log"
  if ! timeout "$limit" "$@" 2>&1 | tee -a "$OUT/$name.log"; then
    echo "gpu.sh: step $name failed or ran past ${limit}s (see $OUT/$name.log)" >&2
    exit 1
  fi
  echo "($name: $((SECONDS - t0)) s)"
}

"$PY" -c "import jax; print('device:', jax.devices()[0].device_kind, '| backend:', jax.default_backend(), '| jax', jax.__version__)" | tee "$OUT/device.txt"
step throughput "$LIMIT" "$PY" "$HERE/throughput.py" --no-torch --repeats 5 \
  --sizes "$SIZES" --dtypes float32,bfloat16 "${SCHEMES[@]}" --json "$OUT/throughput.json"
step whole_model "$LIMIT" "$PY" "$HERE/whole_model.py" --no-torch --configs "$MODELS" \
  --json "$OUT/whole_model.json"
step programs "$LIMIT" "$PY" "$HERE/whole_model.py" --programs --no-torch --repeats 1 \
  --configs "$PROGRAMS" --json "$OUT/programs.json"
step verify "$LIMIT" "$PY" -m jinit verify --dtype bfloat16,float16 --no-signal -q \
  "${VERIFY[@]}" --json "$OUT/verify.json"
echo "gpu.sh: done; results in $OUT"
