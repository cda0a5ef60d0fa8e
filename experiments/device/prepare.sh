#!/usr/bin/env bash
# Packs what a study needs to train on a lent GPU machine into .devkit/ (git-ignored, at most
# 64 MiB, the most a device call carries): the code at one commit, today's experiments/, the
# prepared Fashion-MNIST, and wheels of the packages that machine lacks (it has its own jax,
# and no TensorFlow: the in-memory path needs none).
#
#   bash experiments/device/prepare.sh COMMIT [STUDY ...]    # from the repository root
#
# COMMIT: a commit of the code version the study's records are to have (a study with no
# records yet: any). STUDY (e.g. residual_long): carry only these studies' records, not every
# study's, where the kit would otherwise be too large to travel. Then, on the GPU machine, in a
# copy of the repository with .devkit:
# `bash experiments/device/run.sh SECONDS experiments/STUDY.py ...` (see run.sh and
# experiments/README.md).
# PYVER=3.11 fetches wheels for this machine's Python instead (for a dry run here).
set -euo pipefail
cd "$(dirname "$0")/../.."
commit=${1:?usage: prepare.sh COMMIT [STUDY ...]}; shift
PYVER=${PYVER:-3.12}
KIT=.devkit
DATA=${TFDS_DATA_DIR:-$HOME/tensorflow_datasets}/fashion_mnist_idx
[ -d "$DATA" ] || { echo "No prepared Fashion-MNIST at $DATA: run 'make data' first." >&2; exit 1; }
rm -rf "$KIT" && mkdir -p "$KIT/whl"
grep -qxF "/$KIT/" .git/info/exclude 2>/dev/null || echo "/$KIT/" >> "$(git rev-parse --git-path info/exclude)"

# The packages of requirements.lock that the machine lacks (its image holds jax, numpy,
# scipy, matplotlib, etils, chex, tensorstore, protobuf ...), at the lock's versions; flax,
# optax and orbax too, so that only jax differs from a run here. TensorFlow and what only it, PyTorch or ONNX need stay behind.
PACKAGES="array-record dm-tree docstring-parser googleapis-common-protos immutabledict
  ml-collections simple-parsing tensorflow-datasets tensorflow-metadata termcolor toml
  tensorboardx flax optax orbax-checkpoint"
pin() { echo "$1==$(grep -ioP "^$1==\K[^ ]+" requirements.lock)"; }
pins=$(for p in $PACKAGES; do pin "$p"; done)
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$PYVER" \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
  --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d "$KIT/whl" $pins
# promise is published as a source archive only: built here (pure Python).
python3 -m pip wheel -q --no-deps -w "$KIT/whl" "$(pin promise)"

# The code at COMMIT (its code version: jaxcnn/ and configs/), with today's experiments/.
version=$(git log -1 --format=%h "$commit" -- jaxcnn configs)
git archive --format=tar -o "$KIT/tree.tar" "$commit" jaxcnn configs
if [ $# -eq 0 ]; then
  tar -rf "$KIT/tree.tar" --exclude='*.png' --exclude=__pycache__ experiments
else
  tar -rf "$KIT/tree.tar" --exclude='*.png' --exclude=__pycache__ \
    --exclude='experiments/results/*' experiments
  for study in "$@"; do
    [ -f "experiments/$study.py" ] || { echo "No study experiments/$study.py." >&2; exit 1; }
    for f in "experiments/results/$study" "experiments/results/$study.md" \
      "experiments/results/$study.csv"; do
      [ ! -e "$f" ] || tar -rf "$KIT/tree.tar" "$f"
    done
  done
  tar -rf "$KIT/tree.tar" experiments/results/reproductions.jsonl
fi
echo "$version" > "$KIT/VERSION"
tar -cf "$KIT/data.tar" -C "$(dirname "$DATA")" fashion_mnist_idx

total=$(du -cb "$KIT" $(git ls-files) | tail -1 | cut -f1)
echo "$KIT: code version $version, $(ls "$KIT/whl" | wc -l) wheels; with the tracked files" \
  "$((total / 1048576)) MiB of the 64 MiB a device call carries."
[ "$total" -le $((64 * 1048576)) ] || { echo "Over 64 MiB: it would not travel." >&2; exit 1; }
