#!/usr/bin/env bash
# The streamed input's training transforms at two commits, taking turns (a noisy machine
# moves every figure; alternating keeps the comparison fair): one worker, ResNet's and
# GoogLeNet's transforms, ROUNDS rounds.
#   bash benchmarks/ab_input.sh OLD_COMMIT [NEW_COMMIT (default: the working tree)] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
old=$1; new=${2:-}; rounds=${3:-3}
py=$PWD/.venv/bin/python
tmp=$(mktemp -d)
trap 'git worktree remove --force "$tmp/old" >/dev/null 2>&1 || true; git worktree remove --force "$tmp/new" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
git worktree add -q --detach "$tmp/old" "$old"
if [ -n "$new" ]; then git worktree add -q --detach "$tmp/new" "$new"; newdir=$tmp/new; else newdir=$PWD; fi
for r in $(seq "$rounds"); do
  for side in "$tmp/old" "$newdir"; do
    label=$([ "$side" = "$tmp/old" ] && echo "old $old" || echo "new ${new:-working tree}")
    (cd "$side" && "$py" -m jaxcnn.tools.bench_input --workers 1 --json \
       --config configs/resnet18.py configs/googlenet.py --data_dir "${DATA_DIR:-/tmp/bench_tfds}" \
       2>/dev/null | grep '^{' | sed "s/^/round $r, $label: /")
  done
done
