"""How long a checkpoint save stalls training, with asynchronous saving on and off.

  python -m jaxcnn.tools.bench_checkpoint                    # VGG-16 small and ResNet-50
  python -m jaxcnn.tools.bench_checkpoint --case resnet50 --saves 5 --dir=/data/tmp --json
  python -m jaxcnn.tools.bench_checkpoint --config=configs/lenet5.py:tiny --batch 8

Each save is the trainer's (checkpoint.Saver: the train state, the config and the metadata,
keeping the last one) after a train step that donates the state, as in training. For each
case and mode: the median train step without saves; the step that saves (the train step plus
the save call, after which training continues); the stall, their difference; the save call
alone; how long after the save call the checkpoint was committed (its step directory renamed
into place; asynchronously, polled after each following step, so to within a step); and the
median step while an asynchronous save was being written. The modes alternate save by save,
so that both see the same machine load. Synthetic data; the steps are train.Experiment's.

Cases: ``vgg16_small`` (configs/vgg16.py:small, Fashion-MNIST's 32x32x1 input, 10 classes)
and ``resnet50``: ResNet-50's full ImageNet train state (25.6 M parameters and their momentum,
1000 classes), trained at a small input side, which changes the step but not the checkpoint.
Checkpoints go to ``--dir`` (default: a temporary directory), which should be on the disk that
runs write to.
"""

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time

import jax
import numpy as np

from jaxcnn import checkpoint
from jaxcnn import config as config_lib
from jaxcnn import sharding
from jaxcnn import train
from jaxcnn.errors import UserError

_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CASES = {
    "vgg16_small": {"config": "configs/vgg16.py:small", "classes": 10},
    "resnet50": {"model": "resnet50", "classes": 1000, "input_size": 64, "channels": 3,
                 "batch": 8},
}
MODES = {"async": True, "sync": False}


def make_case(name: str | None, args):
  """(name, config, input shape, classes) of a named case or of --config."""
  case = dict(CASES[name]) if name else {"config": args.config}
  if case.get("config"):
    config = config_lib.load_file(case["config"], root=_REPO)
  else:
    config = config_lib.base_config()
    config.model = case["model"]
  config.batch_size = args.batch or case.get("batch", config.batch_size)
  size = args.input_size or case.get("input_size") or config.data.image_size or 28
  channels = args.channels or case.get("channels") or len(config.data.mean)
  config_lib.validate(config)
  return (name or case["config"], config, (size, size, channels),
          args.classes or case.get("classes", 10))


class Run:
  """A train state stepped on one synthetic batch, the state donated as in training."""

  def __init__(self, config, input_shape, classes):
    self.exp = train.Experiment(config, num_classes=classes, input_shape=input_shape)
    rng = np.random.default_rng(0)
    batch = config.batch_size
    host = {"image": rng.standard_normal((batch,) + tuple(input_shape), np.float32),
            "label": rng.integers(0, classes, batch).astype(np.int32)}
    self.batch = sharding.to_global(host, self.exp.mesh)
    self.state = self.exp.init_state()
    self.state_mb = sum(x.nbytes for x in jax.tree.leaves(self.state)) / 2 ** 20

  def step(self) -> float:
    t = time.perf_counter()
    self.state, metrics = self.exp.train_step(self.state, self.batch)
    jax.block_until_ready((self.state, metrics))
    return time.perf_counter() - t


def _save(run: Run, saver: checkpoint.Saver, step: int, max_after: int) -> dict:
  """One saving step and the steps until its checkpoint is committed."""
  step_s = run.step()
  t = time.perf_counter()
  saver.save(step, run.state)
  call_s = time.perf_counter() - t
  final = os.path.join(str(saver.mngr.directory), str(step))
  during = []
  while not os.path.isdir(final) and len(during) < max_after:
    during.append(run.step())
  if not os.path.isdir(final):
    saver.wait()
  committed_s = time.perf_counter() - t
  saver.wait()  # Old checkpoints are deleted after the commit; that finishes before the next.
  return {"saving_step": step_s + call_s, "call": call_s, "committed": committed_s,
          "during": during}


def measure(name, config, input_shape, classes, args, directory) -> list[dict]:
  run = Run(config, input_shape, classes)
  for _ in range(args.warmup):
    run.step()
  plain = statistics.median(run.step() for _ in range(args.steps))
  savers, results = {}, {mode: [] for mode in args.modes}
  for mode in args.modes:
    mode_config = config.copy_and_resolve_references()
    mode_config.checkpoint_async, mode_config.keep_checkpoints = MODES[mode], 1
    savers[mode] = checkpoint.Saver(os.path.join(directory, f"{name.replace('/', '_')}-{mode}"),
                                    mode_config, run.exp.metadata())
  for k in range(1, args.saves + 1):
    for mode in args.modes:
      results[mode].append(_save(run, savers[mode], k, args.max_after))
  rows = []
  for mode in args.modes:
    savers[mode].mngr.close()
    saves = results[mode]
    during = [s for r in saves for s in r["during"]]
    saving = statistics.median(r["saving_step"] for r in saves)
    rows.append({
        "case": name, "mode": mode, "model": config.model, "batch": config.batch_size,
        "input": "x".join(str(d) for d in input_shape), "state_mb": round(run.state_mb, 1),
        "device": jax.devices()[0].device_kind, "saves": len(saves),
        "step_ms": round(1e3 * plain, 1), "saving_step_ms": round(1e3 * saving, 1),
        "stall_ms": round(1e3 * (saving - plain), 1),
        "save_call_ms": round(1e3 * statistics.median(r["call"] for r in saves), 1),
        "committed_s": round(statistics.median(r["committed"] for r in saves), 3),
        "steps_while_writing": len(during),
        "step_while_writing_ms": (round(1e3 * statistics.median(during), 1) if during
                                  else None)})
  return rows


_COLUMNS = (("case", "case"), ("mode", "mode"), ("state_mb", "state MB"), ("step_ms", "step ms"),
            ("saving_step_ms", "saving step ms"), ("stall_ms", "stall ms"),
            ("committed_s", "committed after s"),
            ("step_while_writing_ms", "step while writing ms"))


def table(rows: list[dict]) -> str:
  cells = [[h for _, h in _COLUMNS]] + [
      ["-" if r[k] is None else str(r[k]) for k, _ in _COLUMNS] for r in rows]
  widths = [max(len(c[i]) for c in cells) for i in range(len(_COLUMNS))]
  return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip()
                   for line in cells)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--case", action="append", choices=sorted(CASES),
                      help="named case; repeat for several (default: all, unless --config)")
  parser.add_argument("--config", help="configs/X.py[:variant], as another case")
  parser.add_argument("--batch", type=int)
  parser.add_argument("--input_size", type=int)
  parser.add_argument("--channels", type=int)
  parser.add_argument("--classes", type=int)
  parser.add_argument("--steps", type=int, default=10, help="timed steps without saves")
  parser.add_argument("--warmup", type=int, default=3)
  parser.add_argument("--saves", type=int, default=3, help="saves per mode")
  parser.add_argument("--max_after", type=int, default=100,
                      help="steps after a save at most, waiting for its commit")
  parser.add_argument("--modes", default="async,sync", help="async, sync or both")
  parser.add_argument("--dir", help="where to write the checkpoints (removed afterwards)")
  parser.add_argument("--json", action="store_true", help="one JSON object per row")
  args = parser.parse_args(argv)
  args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
  if not args.modes or any(m not in MODES for m in args.modes):
    parser.error(f"--modes takes async, sync or both, not {args.modes}")
  names = args.case or ([] if args.config else sorted(CASES, reverse=True))
  if args.config:
    names.append(None)
  if args.dir and not os.path.isdir(args.dir):
    parser.error(f"--dir={args.dir} is not a directory; create it or name another")
  directory = tempfile.mkdtemp(prefix="bench_checkpoint-", dir=args.dir)
  try:
    rows = []
    for name in names:
      name, config, input_shape, classes = make_case(name, args)
      rows += measure(name, config, input_shape, classes, args, directory)
      if args.json:
        for row in rows[-len(args.modes):]:
          print(json.dumps(row), flush=True)
  except UserError as e:
    raise SystemExit(f"error: {e}") from None
  finally:
    shutil.rmtree(directory, ignore_errors=True)
  if not args.json:
    print(table(rows), flush=True)


if __name__ == "__main__":
  main()
