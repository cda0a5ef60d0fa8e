#!/usr/bin/env bash
# Trains studies on a lent GPU machine from the kit prepare.sh packed (.devkit/), for at most
# SECONDS, and leaves the records of the runs that finished in $OUT/records.tar (OUT: the
# folder that comes back from the machine; /tmp/out by default), with each process's log.
# Run there from the root of a copy of the repository that holds .devkit:
#
#   bash experiments/device/run.sh 420 experiments/vgg_depth.py experiments/vgg_5x5.py
#   RUN_FLAGS=--rerun_stale bash experiments/device/run.sh 480 experiments/bottleneck.py:0,1 \
#     experiments/bottleneck.py:2,3 experiments/bottleneck.py:4
#
#   R=experiments/residual_long.py
#   bash experiments/device/run.sh 540 "$R --arms ResNet-110 --seeds 0 3" \
#     "$R --arms plain-20; $R --reproduce plain-20:0" "$R --arms 'ResNet-20, 60 epochs'"
#
# Each argument is a study, or STUDY.py:SEEDS for only those of its seeds (experiments.run
# --seeds), or, where it holds a space, experiments.run's own arguments (several runs of the
# runner one after another where ';' parts them): the arguments train side by side on the one
# GPU, each in its own process with an equal share of its memory (small networks leave an H200
# mostly idle), sharing one persistent compilation cache. RUN_FLAGS go to every
# experiments.run. A run cut at the time limit is lost (the machine starts bare each time); the
# records of finished runs (and reproductions.jsonl, where a reproduction ran) carry the kit's
# code version and the device, and go into experiments/results/ here (tar -xf
# records.tar), where --summarize_only writes the tables; $OUT/logs.tar holds each process's
# log. SCRATCH (default /tmp) holds the unpacked tree, the packages, the logs and the cache.
# A command's own logs (nvidia-smi's, say) go straight into $OUT.
set -u
budget=${1:?usage: run.sh SECONDS STUDY.py ...}; shift
[ $# -gt 0 ] || { echo "usage: run.sh SECONDS STUDY.py ..." >&2; exit 2; }
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
S=${SCRATCH:-/tmp}
start=$(date +%s)
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target "$S/site" .devkit/whl/*.whl || exit 1
export PYTHONPATH=$S/site
mkdir -p "$HOME/tensorflow_datasets" && tar -xf .devkit/data.tar -C "$HOME/tensorflow_datasets"
# A warm machine keeps the last call's files: its tree and logs go.
rm -rf "$S/tree" "$S/logs" && mkdir -p "$S/tree" "$S/logs"
tar -xf .devkit/tree.tar -C "$S/tree"
export JAXCNN_CODE_VERSION=$(cat .devkit/VERSION)
export XLA_PYTHON_CLIENT_MEM_FRACTION=$(python3 -c "print(round(0.9 / $#, 3))")
touch "$S/started"
cd "$S/tree"
python3 -c "import jax, flax; print('jax', jax.__version__, 'flax', flax.__version__, jax.devices())"
export JAX_COMPILATION_CACHE_DIR=$S/jaxcache
i=0
for spec in "$@"; do
  i=$((i + 1))
  # STUDY.py:SEEDS is short for "STUDY.py --seeds SEEDS".
  if [[ $spec != *" "* && $spec == *:* ]]; then
    spec="${spec%%:*} --seeds ${spec#*:}"; spec=${spec//,/ }
  fi
  # Steps one after another, each given what is left of the budget.
  (
    IFS=';'
    for step in $spec; do
      left=$(( budget - ($(date +%s) - start) ))
      [ "$left" -gt 0 ] || break
      echo "== experiments.run $step"
      unset IFS
      # shellcheck disable=SC2086  # the step and RUN_FLAGS are lists of words.
      eval "timeout --signal=TERM --kill-after=30 $left python3 -m experiments.run $step" \
        "${RUN_FLAGS:-}"
      IFS=';'
    done
  ) > "$S/logs/$i.log" 2>&1 &
done
wait
tar -cf "$OUT/logs.tar" -C "$S/logs" .
find experiments/results \( -name '*.json' -o -name reproductions.jsonl \) -newer "$S/started" \
  -print0 | tar -cf "$OUT/records.tar" --null -T -
tar -tf "$OUT/records.tar"
