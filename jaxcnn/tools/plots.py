"""Pictures of a run, written as PNGs to WORKDIR/plots/.

  python -m jaxcnn.tools.plots --workdir=runs/lenet5 [--step=N]

curves.png     training and evaluation loss, top-1/top-5 accuracy and learning rate,
               from WORKDIR/metrics.jsonl.
filters.png    the first layer's kernels as an image grid (the view of Krizhevsky et al.,
               2012, Figure 3): RGB for colour input, gray for one channel.
confusion.png  true against predicted class over the config's evaluation split.
"""

import argparse
import json
import math
import os
import sys

from absl import logging
# The object-oriented API draws without pyplot's global state or a display: Figure.savefig
# renders PNGs with Agg.
from matplotlib.figure import Figure
import numpy as np

from jaxcnn import evaluate
from jaxcnn import inference
from jaxcnn import loading
from jaxcnn.data import sources
from jaxcnn.errors import UserError

def read_metrics(workdir: str) -> list[dict]:
  """The rows of WORKDIR/metrics.jsonl (a line cut short by a kill is skipped)."""
  path = os.path.join(workdir, "metrics.jsonl")
  if not os.path.exists(path):
    raise UserError(f"No metrics in {workdir} (metrics.jsonl is written by training).")
  rows = []
  with open(path) as f:
    for line in f:
      try:
        rows.append(json.loads(line))
      except ValueError:
        continue
  return rows


def _series(rows, key):
  points = [(r["step"], r[key]) for r in rows if key in r]
  return [p[0] for p in points], [p[1] for p in points]


def plot_curves(rows: list[dict], path: str) -> None:
  fig = Figure(figsize=(15, 4.2), layout="constrained")
  loss, accuracy, lr = fig.subplots(1, 3)
  # Evaluations are few (one per epoch): markers keep a single one visible.
  for ax, lines in (
      (loss, (("train/loss", "train", "-"), ("eval/loss", "eval", "o-"),
              ("val/loss", "validation", "x-"))),
      (accuracy, (("train/top1", "train top-1", "-"), ("eval/top1", "eval top-1", "o-"),
                  ("eval/top5", "eval top-5", "s--"), ("val/top1", "validation top-1", "x-"))),
      (lr, (("train/learning_rate", "learning rate", "-"),))):
    for key, label, style in lines:
      steps, values = _series(rows, key)
      if steps:
        ax.plot(steps, values, style, label=label, markersize=4)
    ax.set_xlabel("step")
    ax.grid(alpha=0.3)
    if ax.lines:
      ax.legend()
  loss.set_title("loss")
  loss.set_yscale("log")
  accuracy.set_title("accuracy")
  lr.set_title("learning rate")
  fig.savefig(path, dpi=100)


def first_layer_kernels(run: loading.Run) -> np.ndarray:
  """The first layer's kernels as one (H, W, C_in, C_out) array (towers side by side)."""
  first = loading.changing_leaves(run.config, run.input_shape[0], classes=False)
  kernels = []
  for key in sorted(first):
    collection, *path = key.split("/")
    leaf = run.variables[collection]
    for name in path:
      leaf = leaf[name]
    if path[-1] == "kernel" and leaf.ndim == 4:
      kernels.append(np.asarray(leaf, np.float32))
  if not kernels:
    raise UserError(f"{run.config.model}'s first layer is not a convolution; no filters to show.")
  return np.concatenate(kernels, axis=-1)


def filter_grid(kernel: np.ndarray, gap: int = 1) -> np.ndarray:
  """Tiles (H, W, C_in, C_out) kernels, each scaled to [0, 1] alone, into one image: RGB for
  3 input channels, else gray (the mean over the input channels)."""
  h, w, c_in, c_out = kernel.shape
  k = kernel if c_in == 3 else kernel.mean(axis=2, keepdims=True)
  lo = k.min(axis=(0, 1, 2), keepdims=True)
  hi = k.max(axis=(0, 1, 2), keepdims=True)
  k = (k - lo) / np.maximum(hi - lo, 1e-12)
  cols = math.ceil(math.sqrt(c_out))
  rows = math.ceil(c_out / cols)
  grid = np.ones((rows * (h + gap) + gap, cols * (w + gap) + gap, k.shape[2]), np.float32)
  for i in range(c_out):
    r, c = divmod(i, cols)
    grid[gap + r * (h + gap):gap + r * (h + gap) + h,
         gap + c * (w + gap):gap + c * (w + gap) + w] = k[..., i]
  return grid if c_in == 3 else grid[..., 0]


def plot_filters(run: loading.Run, path: str) -> None:
  kernel = first_layer_kernels(run)
  grid = filter_grid(kernel)
  scale = max(0.05, min(0.25, 8.0 / grid.shape[1]))  # Inches per pixel: 4 to 8 inches wide.
  fig = Figure(figsize=(max(grid.shape[1] * scale, 4.5), grid.shape[0] * scale + 0.6),
               layout="constrained")
  ax = fig.subplots()
  ax.imshow(grid, cmap=None if grid.ndim == 3 else "gray", interpolation="nearest",
            vmin=0, vmax=1)
  ax.set_axis_off()
  h, w, c_in, c_out = kernel.shape
  ax.set_title(f"{run.config.model}, step {run.step}:\n{c_out} first-layer filters, "
               f"{h}x{w}x{c_in}", fontsize=9)
  fig.savefig(path, dpi=100)


def confusion_matrix(run: loading.Run, data_dir: str | None = None,
                     batch_size: int = 256) -> np.ndarray:
  """Counts [true class, predicted class] over the config's evaluation split."""
  config = run.config
  dataset = sources.load(config.dataset, (config.eval_split,), data_dir or config.data_dir,
                         in_memory=config.data.in_memory)
  split = dataset.splits[config.eval_split]
  varying = None in split.image_shape
  if not varying and split.image_shape != tuple(run.image_shape):
    raise UserError(f"{config.dataset} images are {split.image_shape}; the network "
                    f"takes {tuple(run.image_shape)}.")
  # The evaluation protocol over the split (read per batch when it is streamed).
  protocol = evaluate.make_protocol(config, run.model, varying_size=varying)
  probs, labels = inference.split_probabilities(protocol, run.variables, split, batch_size,
                                                workers=config.data.workers,
                                                impl=config.conv_impl)
  matrix = np.zeros((run.num_classes, run.num_classes), np.int64)
  np.add.at(matrix, (labels, probs.argmax(-1)), 1)
  return matrix


def plot_confusion(matrix: np.ndarray, class_names, path: str, title: str) -> None:
  n = len(matrix)
  rates = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
  side = min(4 + 0.55 * n, 24)
  fig = Figure(figsize=(side + 1.5, side), layout="constrained")
  ax = fig.subplots()
  image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
  fig.colorbar(image, ax=ax, fraction=0.046, label="fraction of the true class")
  if n <= 30:  # Beyond that, names and counts are unreadable.
    ax.set_xticks(range(n), class_names, rotation=45, ha="right")
    ax.set_yticks(range(n), class_names)
    for i in range(n):
      for j in range(n):
        if matrix[i, j]:
          ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=8,
                  color="white" if rates[i, j] > 0.5 else "black")
  ax.set_xlabel("predicted")
  ax.set_ylabel("true")
  ax.set_title(title)
  fig.savefig(path, dpi=100)


def write_plots(workdir_or_checkpoint: str, step: int | None = None, out: str | None = None,
                data_dir: str | None = None) -> tuple[list[str], list[str]]:
  """Writes every plot the run allows; returns (paths written, reasons for those skipped)."""
  written, skipped = [], []
  if not os.path.isdir(workdir_or_checkpoint):
    raise UserError(f"No such directory: {workdir_or_checkpoint}. Name the workdir of a run.")
  try:
    run = loading.load_run(workdir_or_checkpoint, step, data_dir=data_dir)
    workdir = run.workdir
  except UserError as e:
    run, workdir = None, os.path.abspath(workdir_or_checkpoint)
    skipped.append(f"filters.png, confusion.png: {e}")
  out = out or os.path.join(workdir, "plots")
  os.makedirs(out, exist_ok=True)

  def attempt(name, draw):
    try:
      draw(os.path.join(out, name))
      written.append(os.path.join(out, name))
    except UserError as e:
      skipped.append(f"{name}: {e}")

  attempt("curves.png", lambda p: plot_curves(read_metrics(workdir), p))
  if run is not None:
    attempt("filters.png", lambda p: plot_filters(run, p))

    def confusion(p):
      matrix = confusion_matrix(run, data_dir)
      accuracy = np.trace(matrix) / matrix.sum()
      plot_confusion(matrix, run.class_names, p,
                     f"{run.config.model}, step {run.step}: {run.config.eval_split} split, "
                     f"{matrix.sum()} images, top-1 {accuracy:.2%}")

    attempt("confusion.png", confusion)
  return written, skipped


def main(argv=None):
  parser = argparse.ArgumentParser(prog="python -m jaxcnn.tools.plots",
                                   description="PNG plots of a run in WORKDIR/plots/.")
  parser.add_argument("--workdir", required=True,
                      help="Workdir of a run (or WORKDIR/checkpoints/STEP).")
  parser.add_argument("--step", type=int, help="Checkpoint step for the filters and the "
                      "confusion matrix (default: the latest).")
  parser.add_argument("--out", help="Folder for the PNGs (default: WORKDIR/plots).")
  parser.add_argument("--data_dir", help="TFDS data_dir (default: the run's).")
  args = parser.parse_args(argv)
  logging.set_verbosity(logging.WARNING)
  try:
    written, skipped = write_plots(args.workdir, args.step, args.out, args.data_dir)
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(1)
  for path in written:
    print(f"wrote {path}")
  for reason in skipped:
    print(f"skipped {reason}", file=sys.stderr)
  if not written:
    sys.exit(1)


if __name__ == "__main__":
  main()
