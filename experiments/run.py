"""Runs an ablation study: every arm x seed, then its table, CSV and learning curves.

  python -m experiments.run experiments/lrn.py [--summarize_only] [--refresh_curves]
      [--workdir_root=runs/experiments]

A study file names its arms (a config file with its variant, plus overrides) and seeds; see
experiments/README.md. Each finished run leaves a small JSON record under
experiments/results/<study>/, so a study already partly run skips what it has and can be
completed over several sittings; an interrupted run resumes from its checkpoints in
<workdir_root>/<study>/<arm>/seed<k>. When every record exists the runner writes
experiments/results/<study>.md (the table), .csv (one row per run) and .png (curves).
"""

import dataclasses
import importlib.util
import json
import math
import os
import re
import subprocess
import sys
import time

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclasses.dataclass(frozen=True)
class Arm:
  """One row of a study's table: a config (``path[:variant]``) with field overrides."""
  name: str
  config: str
  overrides: dict = dataclasses.field(default_factory=dict)
  paper: str = ""  # The paper's number or claim for this arm, for the table.
  # The arm this one is compared with (default: the study's first); its own name makes it the
  # head of a second group, compared with none.
  baseline: str = ""

  @property
  def slug(self) -> str:
    return re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-")


# Columns a study may show, with how each is computed from a run's record.
COLUMNS = {
    "top1": "top-1 err %",
    "top5": "top-5 err %",
    "train_error": "train err %",
    "gap": "test - train err %",
    "steps_to_25": "steps to 25% train err",
    "params": "params",
    "macs": "multiply-adds",
}


def load_module(path: str, name: str):
  spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, path)
                                                if not os.path.isabs(path) else path)
  if spec is None:
    raise SystemExit(f"No such file: {path}")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def build_config(arm: Arm, seed: int):
  """The arm's config, exactly as ``--config=PATH:VARIANT --config.K=V ...`` would build it."""
  path, _, variant = arm.config.partition(":")
  config = load_module(path, "config_" + re.sub(r"\W", "_", path)).get_config(variant or None)
  config.update_from_flattened_dict(dict(arm.overrides))
  config.seed = seed
  config.lock()
  return config


def command_line(arm: Arm, seed: int, workdir: str) -> str:
  """The jaxcnn.main command that trains the same run, for readers of the records."""
  overrides = " ".join(f"--config.{k}={_flag(v)}" for k, v in arm.overrides.items())
  return (f"python -m jaxcnn.main --config={arm.config} --workdir={workdir} "
          f"{overrides} --config.seed={seed}").replace("  ", " ")


def _flag(value) -> str:
  if isinstance(value, (tuple, list)):
    return "'(" + ",".join(str(v) for v in value) + ("," if len(value) == 1 else "") + ")'"
  return str(value).lower() if isinstance(value, bool) else str(value)


def record_path(study: str, arm: Arm, seed: int) -> str:
  return os.path.join(RESULTS, study, f"{arm.slug}-seed{seed}.json")


def run_workdir(workdir_root: str, study: str, arm: Arm, seed: int) -> str:
  return os.path.join(workdir_root, study, arm.slug, f"seed{seed}")


def _write_record(study: str, arm: Arm, seed: int, record: dict) -> None:
  """Writes the record whole or not at all."""
  os.makedirs(os.path.dirname(record_path(study, arm, seed)), exist_ok=True)
  tmp = record_path(study, arm, seed) + ".tmp"
  with open(tmp, "w") as f:
    json.dump(record, f, indent=1)
  os.replace(tmp, record_path(study, arm, seed))


def refresh_curves(study_name: str, study, workdir_root: str) -> int:
  """Re-reads the curves of finished runs whose workdirs are here; returns how many."""
  done = 0
  for arm in study.ARMS:
    for seed in study.SEEDS:
      path = record_path(study_name, arm, seed)
      metrics = os.path.join(run_workdir(workdir_root, study_name, arm, seed), "metrics.jsonl")
      if os.path.exists(path) and os.path.exists(metrics):
        record = json.load(open(path))
        record["curve"] = _curves(os.path.dirname(metrics))
        _write_record(study_name, arm, seed, record)
        done += 1
  return done


def _curves(workdir: str) -> list[dict]:
  """The logged rows of metrics.jsonl, less the per-run bookkeeping."""
  keep = re.compile(r"^(step|train/(loss|top1|grad_norm(/.+)?|learning_rate)|"
                    r"eval/(top1|top5|loss))$")
  rows = []
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    for line in f:
      row = json.loads(line)
      rows.append({k: round(v, 6) if isinstance(v, float) else v
                   for k, v in row.items() if keep.match(k)})
  return rows


def steps_to_train_error(curve: list[dict], error: float) -> int | None:
  """First logged step whose mean training error (over its logging window) is <= error."""
  for row in curve:
    if "train/top1" in row and 1.0 - row["train/top1"] <= error:
      return row["step"]
  return None


def run_one(study: str, arm: Arm, seed: int, workdir_root: str) -> dict | None:
  """Trains one arm x seed (resuming its workdir) and writes its record; None if stopped."""
  from jaxcnn import summary
  from jaxcnn import train
  from jaxcnn.data import sources

  config = build_config(arm, seed)
  workdir = run_workdir(workdir_root, study, arm, seed)
  print(f"== {study}: {arm.name}, seed {seed} -> {workdir}", flush=True)
  resumed = os.path.exists(os.path.join(workdir, "checkpoints"))
  start = time.perf_counter()
  result = train.train_and_evaluate(config, workdir)
  if result is None:
    return None
  wall = time.perf_counter() - start
  # The same checkpoint on the training images, in evaluation mode: the train-test gap.
  on_train = config.copy_and_resolve_references()
  on_train.eval_split = on_train.train_split
  train_result = train.evaluate(on_train, workdir)

  info = sources.get_builder(config.dataset, config.data_dir).info
  exp = train.Experiment(config, train=False)
  rows = summary.summarize(exp.model, (1,) + exp.input_shape)
  curve = _curves(workdir)
  record = {
      "study": study, "arm": arm.name, "seed": seed, "config": arm.config,
      "overrides": {k: list(v) if isinstance(v, tuple) else v for k, v in arm.overrides.items()},
      "command": command_line(arm, seed, workdir),
      "commit": _git_commit(),
      "top1": result["eval/top1"], "top5": result["eval/top5"], "loss": result["eval/loss"],
      "train_top1": train_result["eval/top1"], "train_loss": train_result["eval/loss"],
      "steps": curve[-1]["step"] if curve else 0,
      "steps_per_epoch": info.splits[config.train_split].num_examples // config.batch_size,
      "params": sum(r.params for r in rows if "/" not in r.path),
      "macs": sum(r.macs for r in rows if "/" not in r.path),
      "wall_s": round(wall, 1), "resumed": resumed,
      # The machine's 1-minute load average at the end, against its core count: wall times
      # measured while other jobs shared the cores are not comparable with quiet ones.
      "load_average": round(os.getloadavg()[0], 2), "cpus": os.cpu_count(),
      "device": _device(),
      "config_values": json.load(open(os.path.join(workdir, "config.json"))),
      "curve": curve,
  }
  _write_record(study, arm, seed, record)
  return record


def _git_commit() -> str:
  """$JAXCNN_COMMIT where set (a copy of the tree whose .git is not its own), else HEAD's
  short hash, else "unknown"."""
  if os.environ.get("JAXCNN_COMMIT"):
    return os.environ["JAXCNN_COMMIT"]
  try:
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, text=True,
                          capture_output=True, check=True).stdout.strip()
  except (OSError, subprocess.CalledProcessError):
    return "unknown"


def _device() -> str:
  """What the run trained on, e.g. "cpu" or "1 x NVIDIA H200"."""
  import jax
  devices = jax.devices()
  if devices[0].platform == "cpu":
    return "cpu"
  return f"{len(devices)} x {devices[0].device_kind}"


def _mean_std(values: list[float]) -> tuple[float, float]:
  n = len(values)
  mean = sum(values) / n
  std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else float("nan")
  return mean, std


def welch_t(a: list[float], b: list[float]) -> float:
  """Welch's t statistic of mean(b) - mean(a); nan with fewer than two runs in either."""
  if len(a) < 2 or len(b) < 2:
    return float("nan")
  (ma, sa), (mb, sb) = _mean_std(a), _mean_std(b)
  se = math.sqrt(sa ** 2 / len(a) + sb ** 2 / len(b))
  return (mb - ma) / se if se > 0 else float("inf") * (1 if mb >= ma else -1)


def column_values(column: str, records: list[dict]) -> list[float]:
  out = []
  for r in records:
    if column == "top1":
      out.append(100 * (1 - r["top1"]))
    elif column == "top5":
      out.append(100 * (1 - r["top5"]))
    elif column == "train_error":
      out.append(100 * (1 - r["train_top1"]))
    elif column == "gap":
      out.append(100 * (r["train_top1"] - r["top1"]))
    elif column == "steps_to_25":
      steps = steps_to_train_error(r["curve"], 0.25)
      out.append(float("nan") if steps is None else float(steps))
    elif column in ("params", "macs"):
      out.append(float(r[column]))
    else:
      raise KeyError(f"Unknown column {column!r}; known: {sorted(COLUMNS)}")
  return out


def _fmt(column: str, values: list[float]) -> str:
  if column in ("params", "macs"):
    return f"{values[0]:,.0f}"
  reached = [v for v in values if not math.isnan(v)]
  if len(reached) < len(values):
    missed = f"not reached in {len(values) - len(reached)} of {len(values)} runs"
    return f"{_fmt(column, reached)} ({missed})" if reached else missed
  mean, std = _mean_std(values)
  if column == "steps_to_25":
    return f"{mean:,.0f} ± {std:,.0f}" if len(values) > 1 else f"{mean:,.0f}"
  return f"{mean:.2f} ± {std:.2f}" if len(values) > 1 else f"{mean:.2f}"


def summarize(study_name: str, study) -> str:
  """Writes the study's table (.md), runs (.csv) and curves (.png); returns the table."""
  arms, seeds = study.ARMS, study.SEEDS
  columns = getattr(study, "COLUMNS", ("top1", "top5"))
  records = {arm.name: [json.load(open(record_path(study_name, arm, s))) for s in seeds]
             for arm in arms}
  by_name = {arm.name: arm for arm in arms}
  unknown = [a.baseline for a in arms if a.baseline and a.baseline not in by_name]
  if unknown:
    raise SystemExit(f"Unknown baseline arm(s) {unknown}; arms are {list(by_name)}.")
  lines = [f"# {study.TITLE}", "", study.CLAIM.strip(), "",
           f"Scale: {study.SCALE.strip()}", "",
           f"Command: `python -m experiments.run experiments/{study_name}.py` "
           f"({len(seeds)} seeds per arm: {', '.join(map(str, seeds))}). "
           f"Wall time of the training runs: "
           f"{sum(r['wall_s'] for rs in records.values() for r in rs) / 60:.1f} min "
           f"({_machine(records)}); mean ± sample std over seeds below.", "",
           *([getattr(study, "NOTES").strip(), ""] if getattr(study, "NOTES", "") else []),
           "| arm | runs | " + " | ".join(COLUMNS[c] for c in columns) +
           " | Δ top-1 err (Welch t) | paper |",
           "|---|---|" + "---|" * len(columns) + "---|---|"]
  for arm in arms:
    rs = records[arm.name]
    top1 = column_values("top1", rs)
    base = by_name[arm.baseline] if arm.baseline else arms[0]
    if arm is base:
      delta = "—"
    else:
      base_top1 = column_values("top1", records[base.name])
      delta = (f"{_mean_std(top1)[0] - _mean_std(base_top1)[0]:+.2f} vs {base.name} "
               f"(t = {welch_t(base_top1, top1):+.1f})")
    cells = [_fmt(c, column_values(c, rs)) for c in columns]
    lines.append(f"| {arm.name} | {len(rs)} | " + " | ".join(cells) +
                 f" | {delta} | {arm.paper} |")
  lines += ["", f"Curves: [{study_name}.png]({study_name}.png); every run: "
            f"[{study_name}.csv]({study_name}.csv), records in `{study_name}/`.", ""]
  table = "\n".join(lines)
  with open(os.path.join(RESULTS, f"{study_name}.md"), "w") as f:
    f.write(table)
  _write_csv(study_name, records, columns)
  _plot(study_name, study, records)
  return table


def _machine(records) -> str:
  runs = [r for rs in records.values() for r in rs]
  loads = [r["load_average"] for r in runs if "load_average" in r]
  cpus = sorted({r["cpus"] for r in runs if "cpus" in r})
  accelerators = sorted({r["device"] for r in runs if r.get("device", "cpu") != "cpu"})
  text = f"{'/'.join(map(str, cpus)) or 'unrecorded'} CPU cores"
  if accelerators:
    text = f"{', '.join(accelerators)} with {text}"
  if loads:
    text += f", load average {min(loads):.1f}-{max(loads):.1f} at the runs' ends"
  if len(loads) < len(runs):
    text += f"; {len(runs) - len(loads)} runs without a recorded load"
  return text


def _write_csv(study_name, records, columns):
  import csv
  with open(os.path.join(RESULTS, f"{study_name}.csv"), "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["arm", "seed", "top1_err", "top5_err", "train_err", "steps", "wall_s",
                "params", "macs", "steps_to_25", "commit", "command"])
    for arm, rs in records.items():
      for r in rs:
        steps25 = steps_to_train_error(r["curve"], 0.25)
        w.writerow([arm, r["seed"], f"{100 * (1 - r['top1']):.2f}",
                    f"{100 * (1 - r['top5']):.2f}", f"{100 * (1 - r['train_top1']):.2f}",
                    r["steps"], r["wall_s"], r["params"], r["macs"],
                    "" if steps25 is None else steps25, r["commit"], r["command"]])


def _plot(study_name, study, records):
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  import numpy as np

  keys = [("eval/top1", "test error (%)"), ("train/top1", "training error (%), logged")]
  keys += [(k, k) for k in getattr(study, "CURVES", ())]
  fig, axes = plt.subplots(1, len(keys), figsize=(5.5 * len(keys), 4), squeeze=False)
  for ax, (key, label) in zip(axes[0], keys):
    for arm, rs in records.items():
      # Seeds are averaged at the steps all of them logged: a resumed run also logs where it
      # was stopped, so the k-th logged point is not the same step in every run.
      # Training metrics are means over a logging window; the short windows closed early at
      # an evaluation or checkpoint are left out (a few steps' mean is mostly noise).
      by_step = [{row["step"]: row[key] for row in r["curve"] if key in row
                  and (not key.startswith("train/")
                       or row["step"] % r["config_values"]["log_every_steps"] == 0)}
                 for r in rs]
      steps = sorted(set.intersection(*(set(b) for b in by_step)))
      n = len(steps)
      if n == 0:
        continue
      values = np.array([[b[step] for step in steps] for b in by_step])
      if key.endswith("top1"):
        values = 100 * (1 - values)
      epochs = np.array(steps) / rs[0]["steps_per_epoch"]
      mean = values.mean(0)
      line, = ax.plot(epochs, mean, label=arm, marker="o" if n <= 20 else None, markersize=3)
      if len(rs) > 1:
        ax.fill_between(epochs, values.min(0), values.max(0), color=line.get_color(), alpha=0.2)
    ax.set_xlabel("epoch")
    ax.set_ylabel(label)
    if "grad_norm" in key:
      ax.set_yscale("log")
    ax.grid(alpha=0.3)
  axes[0][0].legend(fontsize=8)
  fig.suptitle(f"{study.TITLE} (mean over seeds; band: min-max)", fontsize=10)
  fig.tight_layout()
  fig.savefig(os.path.join(RESULTS, f"{study_name}.png"), dpi=110)
  plt.close(fig)


def main(argv: list[str]) -> int:
  global RESULTS
  import argparse
  parser = argparse.ArgumentParser(prog="python -m experiments.run", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("study", help="experiments/<study>.py")
  parser.add_argument("--summarize_only", action="store_true",
                      help="only rewrite the table, CSV and plot from the records")
  parser.add_argument("--refresh_curves", action="store_true",
                      help="re-read the learning curves of finished runs from their workdirs "
                           "(where they are on this machine) into their records")
  parser.add_argument("--workdir_root", default=os.path.join(REPO, "runs", "experiments"))
  parser.add_argument("--results_dir", default=RESULTS,
                      help="where records, tables and plots go (default: experiments/results)")
  args = parser.parse_args(argv)
  RESULTS = args.results_dir
  if not os.path.exists(args.study):
    parser.error(f"no study file {args.study}")
  name = os.path.splitext(os.path.basename(args.study))[0]
  study = load_module(args.study, "study_" + name)
  if args.refresh_curves:
    print(f"Curves re-read for {refresh_curves(name, study, args.workdir_root)} runs.")
  missing = [(arm, s) for arm in study.ARMS for s in study.SEEDS
             if not os.path.exists(record_path(name, arm, s))]
  if not args.summarize_only:
    from jaxcnn.errors import UserError
    for i, (arm, seed) in enumerate(missing):
      print(f"[{i + 1}/{len(missing)} runs left]", flush=True)
      try:
        if run_one(name, arm, seed, args.workdir_root) is None:
          print("Stopped; run the same command again to continue.")
          return 0
      except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    missing = []
  if missing:
    print(f"{len(missing)} runs have no record yet; the table needs all of them.")
    return 1
  print(summarize(name, study))
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv[1:]))
