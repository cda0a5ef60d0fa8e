#!/usr/bin/env bash
# Train throughput on one GPU, appended to benchmarks/RESULTS.md (about 5 minutes on an H100):
# ResNet-50 at 224x224 in bf16 with the largest batch up to 256 that fits, then VGG-16,
# AlexNet and GoogLeNet (bf16, synthetic data, compile times included).
#
#   bash benchmarks/gpu.sh            # from the repository root
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
OUT=$(mktemp)
RESULTS=benchmarks/RESULTS.md
# A few steps are enough on a GPU: the spread is small and the compile is the slow part.
BENCH=(-m jaxcnn.tools.bench --json --steps 20 --rounds 1 --warmup 3 --no_pipeline)

run() {  # run PRESET [BATCHES...]: the first batch that fits.
  local preset=$1; shift
  for batch in "$@"; do
    if timeout 150 "$PY" "${BENCH[@]}" --preset "$preset" --batch "$batch" >> "$OUT"; then
      return 0
    fi
    echo "$preset: batch $batch did not run (out of memory or over time); trying a smaller one" >&2
  done
}

run resnet50 256 192 128 64
run vgg16 128 64 32
run alexnet 256 128
run googlenet 256 128 64

"$PY" - "$OUT" "$RESULTS" <<'PYEOF'
import datetime, json, subprocess, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
try:
  name = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                        capture_output=True, text=True).stdout.strip().splitlines()[0]
except (OSError, IndexError):
  name = rows[0]["device"] if rows else "unknown"
lines = [f"\n### GPU: {name}, {datetime.date.today()} (`bash benchmarks/gpu.sh`)\n",
         "| model | batch | input | dtype | compile s | train img/s (min-max) | eval img/s "
         "| TFLOP/s | % of matmul peak | device peak MB |",
         "|---|---|---|---|---|---|---|---|---|---|"]
for r in rows:
  lines.append(f"| {r['model']} | {r['batch']} | {r['input']} | {r['dtype']} | {r['compile_s']} "
               f"| {r['jax_img_s']} ({r['jax_img_s_min']}-{r['jax_img_s_max']}) "
               f"| {r['eval_img_s']} | {r['gflop_s'] / 1000:.1f} "
               f"| {100 * r['peak_fraction']:.0f} | {r['memory_mb']} |")
if not rows:
  lines.append("No benchmark completed; see the script's error output.")
with open(sys.argv[2], "a") as f:
  f.write("\n".join(lines) + "\n")
print("\n".join(lines))
PYEOF
rm -f "$OUT"
