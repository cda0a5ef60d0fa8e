"""Ensembles: several trained networks' softmax averaged, as the papers' model fusion did
(AlexNet Sec. 6, VGG Sec. 4.4, GoogLeNet Sec. 7, ResNet Sec. 3.4).

  python -m jaxcnn.tools.ensemble runs/vgg16 runs/vgg19 [--step=N] [--protocol=dense] [--json]

Each run (a workdir or WORKDIR/checkpoints/STEP; any architectures) is evaluated on its
evaluation split, its images preprocessed as its own config says, under the protocol given
(default: each run's config.eval_protocol); the ensemble's class probabilities are the mean of
the members'. The members must have the same classes and the same evaluation data (dataset
and split). Prints the top-1 and top-5 accuracy of each member and of the ensemble
(``--json``: one JSON object).
"""

import argparse
import json
import sys

from absl import logging
import jax
import numpy as np

from jaxcnn import config as config_lib
from jaxcnn import evaluate
from jaxcnn import inference
from jaxcnn import loading
from jaxcnn.data import sources
from jaxcnn.errors import UserError


def _describe(run: loading.Run) -> str:
  return f"{run.workdir} (step {run.step}, {run.config.model})"


def check_compatible(runs) -> None:
  """Refuses members whose classes or evaluation data differ from the first's."""
  first = runs[0]
  for run in runs[1:]:
    if (run.num_classes, run.class_names) != (first.num_classes, first.class_names):
      names = lambda r: ", ".join(r.class_names[:4]) + (", ..." if r.num_classes > 4 else "")
      raise UserError(
          f"{_describe(run)} has {run.num_classes} classes ({names(run)}), "
          f"{_describe(first)} {first.num_classes} ({names(first)}): an ensemble averages "
          "the probabilities of the same classes. Ensemble runs trained on the same classes.")
    data = lambda r: (r.config.dataset, r.config.eval_split)
    if data(run) != data(first):
      raise UserError(
          f"{_describe(run)} is evaluated on {data(run)[0]} {data(run)[1]!r}, "
          f"{_describe(first)} on {data(first)[0]} {data(first)[1]!r}: an ensemble's members "
          "must score the same images. Ensemble runs of one dataset and evaluation split.")


def member_probabilities(run: loading.Run, source, protocol: str | None = None,
                         batch_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
  """(probabilities [N, classes], labels [N]) of one run over ``source``, its evaluation
  split, under ``protocol`` (default: the run's own)."""
  config = run.config.copy_and_resolve_references()
  if protocol:
    config.eval_protocol = protocol
  config_lib.validate(config)
  varying = None in source.image_shape
  if not varying and source.image_shape[2] != run.image_shape[2]:
    raise UserError(f"{_describe(run)} takes {run.image_shape[2]}-channel images; "
                    f"{config.dataset} has {source.image_shape[2]}.")
  scored = evaluate.make_protocol(config, run.model, varying_size=varying)
  return inference.split_probabilities(
      scored, run.variables, source, batch_size or config.eval_batch_size,
      workers=config.data.workers, impl=config.conv_impl, devices=jax.local_devices())


def scores(probabilities: np.ndarray, labels: np.ndarray) -> dict[str, float]:
  sums = inference.metric_sums(probabilities, labels)
  return {"top1": sums["top1"] / sums["count"], "top5": sums["top5"] / sums["count"],
          "loss": sums["loss"] / sums["count"], "count": int(sums["count"])}


def ensemble(paths, step: int | None = None, protocol: str | None = None,
             data_dir: str | None = None, batch_size: int | None = None) -> dict:
  """Evaluates each run of ``paths`` and their ensemble; returns {"members": [...],
  "ensemble": {...}} with each one's top1, top5, loss and count, and the ensemble's
  "probabilities" and "labels" (arrays)."""
  runs = [loading.load_run(p, step, data_dir=data_dir) for p in paths]
  check_compatible(runs)
  first = runs[0].config
  source = sources.load(first.dataset, (first.eval_split,), data_dir or first.data_dir,
                        in_memory=first.data.in_memory).splits[first.eval_split]
  members, total, labels = [], 0.0, None
  for run in runs:
    probs, labels = member_probabilities(run, source, protocol, batch_size)
    total = total + probs
    members.append({"workdir": run.workdir, "step": run.step, "model": run.config.model,
                    "protocol": protocol or run.config.eval_protocol, **scores(probs, labels)})
  mean = total / len(runs)
  return {"members": members, "dataset": first.dataset, "split": first.eval_split,
          "ensemble": scores(mean, labels), "probabilities": mean, "labels": labels}


def parse_args(argv):
  parser = argparse.ArgumentParser(
      prog="python -m jaxcnn.tools.ensemble",
      description="Top-1/top-5 of runs and of the mean of their softmax.")
  parser.add_argument("workdirs", nargs="+", metavar="WORKDIR", help="Workdirs (or "
                      "WORKDIR/checkpoints/STEP) of trained or converted runs.")
  parser.add_argument("--step", type=int, help="Checkpoint step of every run (default: each "
                      "one's latest).")
  parser.add_argument("--protocol", choices=evaluate.PROTOCOLS,
                      help="Evaluation protocol of every run (default: each one's own).")
  parser.add_argument("--json", action="store_true", help="One JSON object.")
  parser.add_argument("--batch_size", type=int, help="Images per forward pass (default: each "
                      "run's eval_batch_size).")
  parser.add_argument("--data_dir", help="TFDS data_dir (default: the first run's).")
  args = parser.parse_args(argv)
  if args.batch_size is not None and args.batch_size < 1:
    parser.error("--batch_size must be >= 1")
  return args


def main(argv=None):
  args = parse_args(argv)
  logging.set_verbosity(logging.WARNING)
  try:
    result = ensemble(args.workdirs, args.step, args.protocol, args.data_dir, args.batch_size)
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(1)
  del result["probabilities"], result["labels"]
  if args.json:
    print(json.dumps(result))
    return
  width = max(len(m["workdir"]) for m in result["members"])
  print(f"{result['ensemble']['count']} {result['dataset']} {result['split']!r} images")
  print(f"{'run':<{width}}  {'model':<14} {'step':>7}  {'protocol':<10} {'top-1':>7} "
        f"{'top-5':>7}")
  for m in result["members"]:
    print(f"{m['workdir']:<{width}}  {m['model']:<14} {m['step']:>7}  {m['protocol']:<10} "
          f"{m['top1']:7.2%} {m['top5']:7.2%}")
  e = result["ensemble"]
  label = f"ensemble of {len(result['members'])}"
  print(f"{label:<{width}}  {'':<14} {'':>7}  {'':<10} {e['top1']:7.2%} {e['top5']:7.2%}")


if __name__ == "__main__":
  main()
