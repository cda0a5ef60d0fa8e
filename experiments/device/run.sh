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
# Each argument is a study, or STUDY.py:SEEDS for only those of its seeds (experiments.run
# --seeds): the arguments train side by side on the one GPU, each in its own process with an
# equal share of its memory (small networks leave an H200 mostly idle). RUN_FLAGS go to every
# experiments.run. A run cut at the time limit is lost (the machine starts bare each time); the
# records of finished runs carry the kit's code version and the device, and go into
# experiments/results/ here (tar -xf), where --summarize_only writes the tables.
set -u
budget=${1:?usage: run.sh SECONDS STUDY.py ...}; shift
[ $# -gt 0 ] || { echo "usage: run.sh SECONDS STUDY.py ..." >&2; exit 2; }
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
start=$(date +%s)
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .devkit/whl/*.whl || exit 1
export PYTHONPATH=/tmp/site
mkdir -p "$HOME/tensorflow_datasets" && tar -xf .devkit/data.tar -C "$HOME/tensorflow_datasets"
rm -rf /tmp/tree && mkdir /tmp/tree && tar -xf .devkit/tree.tar -C /tmp/tree
export JAXCNN_CODE_VERSION=$(cat .devkit/VERSION)
export XLA_PYTHON_CLIENT_MEM_FRACTION=$(python3 -c "print(round(0.9 / $#, 3))")
touch /tmp/started
cd /tmp/tree
python3 -c "import jax, flax; print('jax', jax.__version__, 'flax', flax.__version__, jax.devices())"
left=$(( budget - ($(date +%s) - start) ))
for spec in "$@"; do
  study=${spec%%:*}; seeds=""; name=$(basename "$study" .py)
  if [ "$spec" != "$study" ]; then seeds="--seeds ${spec#*:}"; seeds=${seeds//,/ }; name=$name-${spec#*:}; fi
  # shellcheck disable=SC2086  # RUN_FLAGS and the seeds are lists of words.
  timeout --signal=TERM --kill-after=30 "$left" \
    python3 -m experiments.run "$study" $seeds ${RUN_FLAGS:-} > "$OUT/${name//,/-}.log" 2>&1 &
done
wait
find experiments/results -name '*.json' -newer /tmp/started -print0 \
  | tar -cf "$OUT/records.tar" --null -T -
tar -tf "$OUT/records.tar"
