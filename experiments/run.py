"""Runs an ablation study: every arm x seed, then its table, CSV and learning curves.

  python -m experiments.run experiments/lrn.py [--summarize_only] [--rerun_stale]
      [--refresh_curves] [--reproduce=ARM[:SEED]] [--status] [--seeds SEED ...]
      [--no_sharing] [--stop_at=TIME] [--workdir_root=runs/experiments]

A study file names its arms (a config file with its variant, plus overrides) and seeds;
see experiments/README.md. Each finished run leaves a small JSON record under
experiments/results/<study>/, so a study already partly run skips what it has and can be
completed over several sittings; an interrupted run resumes from its checkpoints in
<workdir_root>/<study>/<arm>/seed<k>. When every record exists, all of one code version and
of the configs the arms build today, the runner writes experiments/results/<study>.md (the
table), .csv (one row per run) and .png (curves) (experiments/report.py). Records of another
code version or config are stale: the runner names them, and --rerun_stale retrains them.
--reproduce trains one recorded run again from scratch, at the record's code version, and
compares it with its record (experiments/results/reproductions.jsonl). --status says where
the study stands (experiments/status.py). A run another study has recorded (same config,
code version and machine) is shared from its record, not retrained (--no_sharing: train it).
--stop_at starts only the runs that should finish by a given time (a job's wall-clock limit).
"""

import argparse
import datetime
import functools
import glob
import json
import os
import re
import shutil
import sys
import time

from experiments import records as records_lib
from experiments import report
from experiments import status
from experiments import study as study_lib
from experiments.study import REPO, Arm, Study  # noqa: F401  (Arm: for study files)


def build_config(arm: Arm, seed: int, source: str | None = None):
  """The arm's config, exactly as ``--config=PATH:VARIANT --config.K=V ...`` would build it;
  ``source``: the workdir its ``init_from`` arm's run of this seed has (see source_workdir)."""
  from jaxcnn import config as config_lib
  config = config_lib.load_file(arm.config, root=REPO)
  config.update_from_flattened_dict(_overrides(arm, source))
  config.seed = seed
  config.lock()
  return config


def _overrides(arm: Arm, source: str | None) -> dict:
  if not arm.init_from:
    return dict(arm.overrides)
  if source is None:
    raise ValueError(f"arm {arm.name!r} starts from arm {arm.init_from!r}: pass its workdir")
  return {**arm.overrides, "init_from": source}


def source_workdir(study: Study, arm: Arm, seed: int, workdir_root: str) -> str | None:
  """Where the run that starts ``arm`` at ``seed`` lies (relative to the repository when
  inside it, as the record keeps it), or None for an arm that starts afresh."""
  if not arm.init_from:
    return None
  return records_lib.relative(run_workdir(workdir_root, study.name,
                                          study.arm(arm.init_from), seed))


def command_line(arm: Arm, seed: int, workdir: str, source: str | None = None) -> str:
  """The jaxcnn.main command that trains the same run, for readers of the records."""
  overrides = " ".join(f"--config.{k}={_flag(v)}" for k, v in _overrides(arm, source).items())
  return (f"python -m jaxcnn.main --config={arm.config} --workdir={workdir} "
          f"{overrides} --config.seed={seed}").replace("  ", " ")


def _flag(value) -> str:
  if isinstance(value, (tuple, list)):
    return "'(" + ",".join(str(v) for v in value) + ("," if len(value) == 1 else "") + ")'"
  return str(value).lower() if isinstance(value, bool) else str(value)


def run_workdir(workdir_root: str, study: str, arm: Arm, seed: int) -> str:
  return os.path.join(workdir_root, study, arm.slug, f"seed{seed}")


def _curves(workdir: str, extra: tuple = ()) -> list[dict]:
  """The logged rows of metrics.jsonl, less the per-run bookkeeping: training, test (eval/)
  and, where the run holds one out, validation (val/) metrics."""
  keep = re.compile(r"^(step|train/(loss|top1|grad_norm(/.+)?|learning_rate)|"
                    r"(eval|val)/(top1|top5|loss))$")
  rows = []
  if not os.path.exists(os.path.join(workdir, "metrics.jsonl")):  # Diverged before a log.
    return rows
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    for line in f:
      row = json.loads(line)
      rows.append({k: round(v, 6) if isinstance(v, float) else v
                   for k, v in row.items() if keep.match(k) or k in extra})
  return rows


def refresh_curves(study: Study, results_dir: str, workdir_root: str) -> int:
  """Re-reads the curves of finished runs whose workdirs are here (a shared record's is the
  other study's run's, which its record names); returns how many."""
  done = 0
  for (name, seed), record in records_lib.read(results_dir, study).items():
    arm = study.arm(name)
    workdir = (os.path.join(REPO, record["workdir"]) if record.get("shared_from")
               else run_workdir(workdir_root, study.name, arm, seed))
    if os.path.exists(os.path.join(workdir, "metrics.jsonl")):
      record["curve"] = _curves(workdir)
      records_lib.write(results_dir, study.name, arm, seed, record)
      done += 1
  return done


def run_one(study: Study, arm: Arm, seed: int, results_dir: str, workdir_root: str,
            stop=None) -> dict | None:
  """Trains one arm x seed (resuming its workdir) and writes its record; None if stopped.

  ``stop`` (a jaxcnn.preemption.StopRequest) is the training's; after the run it still holds a
  signal that came too late to stop the training (in its final evaluation)."""
  try:
    from jaxcnn.tools import summary
  except ImportError:  # A worktree of a code version from before jaxcnn/tools (see README).
    from jaxcnn import summary
  from jaxcnn import train
  from jaxcnn.data import sources

  from jaxcnn.errors import UserError
  source = source_workdir(study, arm, seed, workdir_root)
  if source is not None and not os.path.exists(os.path.join(REPO, source, "checkpoints")):
    raise UserError(f"{arm.name}, seed {seed} starts from {arm.init_from}'s run of that seed, "
                    f"which has no checkpoints at {source}: train that arm first.")
  config = build_config(arm, seed, source)
  workdir = run_workdir(workdir_root, study.name, arm, seed)
  print(f"== {study.name}: {arm.name}, seed {seed} -> {workdir}", flush=True)
  resumed = os.path.exists(os.path.join(workdir, "checkpoints"))
  # The step this sitting starts from (the newest checkpoint's), which times a resumed run.
  from_step = max((int(d) for d in os.listdir(os.path.join(workdir, "checkpoints"))
                   if d.isdigit()), default=0) if resumed else 0
  version = records_lib.code_version()
  start = time.perf_counter()
  diverged = None
  try:
    result = train.train_and_evaluate(config, workdir, stop=stop)
  except UserError as e:
    # A learning-rate sweep reaches rates at which a network diverges: that is a result of
    # the run (recorded, and counted as never reaching a threshold), not a fault of the study.
    if not str(e).startswith("Non-finite"):
      raise
    diverged, result = str(e), {}
    print(f"Diverged: {e}", flush=True)
  if result is None:
    return None
  wall = time.perf_counter() - start
  if diverged:
    train_result = {}
  else:
    # The same checkpoint on the training images, in evaluation mode: the train-test gap.
    on_train = config.copy_and_resolve_references()
    on_train.eval_split = on_train.train_split
    train_result = train.evaluate(on_train, workdir)

  info = sources.get_builder(config.dataset, config.data_dir).info
  exp = train.Experiment(config, train=False)
  total = next(r for r in summary.summarize(exp.model, (1,) + exp.input_shape) if r.path == "")
  curve = _curves(workdir)
  rel_workdir = records_lib.relative(workdir)
  record = {
      "study": study.name, "arm": arm.name, "seed": seed, "config": arm.config,
      "overrides": {k: list(v) if isinstance(v, tuple) else v for k, v in arm.overrides.items()},
      "command": command_line(arm, seed, rel_workdir, source),
      "workdir": rel_workdir,
      "code_version": version,
      "commit": _git_commit(),
      "top1": result.get("eval/top1"), "top5": result.get("eval/top5"),
      "loss": result.get("eval/loss"), "train_top1": train_result.get("eval/top1"),
      "train_loss": train_result.get("eval/loss"),
      "steps": (int(re.search(r"at step (\d+)", diverged).group(1)) if diverged
                else curve[-1]["step"] if curve else 0),
      "steps_per_epoch": info.splits[config.train_split].num_examples // config.batch_size,
      # The summary's total row (path ""): the whole network's parameters and multiply-adds.
      "params": total.params, "macs": total.macs, "counts": "total",
      "wall_s": round(wall, 1), "resumed": resumed, "sitting_from_step": from_step,
      # The machine's 1-minute load average at the end, against its core count: wall times
      # measured while other jobs shared the cores are not comparable with quiet ones.
      "load_average": round(os.getloadavg()[0], 2), "cpus": os.cpu_count(),
      "device": _device(), "cpu_model": cpu_model(), "cpu_id": cpu_id(), **_environment(),
      "config_values": json.load(open(os.path.join(workdir, "config.json"))),
      "curve": curve,
  }
  if diverged:
    record["diverged"] = diverged
  records_lib.write(results_dir, study.name, arm, seed, record)
  return record


def _git_commit() -> str:
  """$JAXCNN_COMMIT where set (a copy of the tree whose .git is not its own), else HEAD's
  short hash, else "unknown"."""
  if os.environ.get("JAXCNN_COMMIT"):
    return os.environ["JAXCNN_COMMIT"]
  try:
    return records_lib._git("rev-parse", "--short", "HEAD")
  except Exception:  # noqa: BLE001  (no git, not a repository: the record says so)
    return "unknown"


def _device() -> str:
  """What the run trained on, e.g. "cpu" or "1 x NVIDIA H200"."""
  import jax
  devices = jax.devices()
  if devices[0].platform == "cpu":
    return "cpu"
  return f"{len(devices)} x {devices[0].device_kind}"


def cpu_model() -> str:
  """The processor's model name ("AMD EPYC ...", "Intel(R) Xeon(R) ..."): XLA compiles for the
  host's processor, so the same code and seed round differently on another model."""
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  import platform
  return platform.processor() or platform.machine() or "unknown"


@functools.lru_cache(maxsize=None)
def cpu_id(cpuinfo: str = "/proc/cpuinfo") -> str:
  """The processor's family, model and widest vector instruction set ("family 25 model 17,
  AVX-512"), from ``cpuinfo``; "" where it cannot be read. Two machines of one model name
  may differ in both (two "AMD EPYC" here: one AVX2, one AVX-512), and XLA's code with them."""
  fields, flags = {}, set()
  try:
    with open(cpuinfo) as f:
      for line in f:
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "flags":
          flags = set(value.split())
          break
        fields.setdefault(key, value.strip())
  except OSError:
    return ""
  isa = next((name for flag, name in (("amx_tile", "AMX"), ("avx512f", "AVX-512"),
                                      ("avx2", "AVX2"), ("avx", "AVX")) if flag in flags), "")
  family = (f"family {fields['cpu family']} model {fields['model']}"
            if "cpu family" in fields and "model" in fields else "")
  return ", ".join(part for part in (family, isa) if part)


def same_processor(record: dict) -> bool:
  """Whether ``record`` was trained on this machine's kind of processor: its model name and,
  where the record names them, its family, model and instruction set."""
  return (record.get("cpu_model") == cpu_model()
          and record.get("cpu_id", cpu_id()) == cpu_id())


# Variables that change a run's arithmetic on one machine: kept in its record where set.
# (OPENBLAS_CORETYPE picks numpy's matrix-product kernels, which the input pipeline's resizing
# uses: another processor's kernel rounds differently.)
ENVIRONMENT = ("OPENBLAS_CORETYPE", "XLA_FLAGS")


def _environment() -> dict:
  env = {k: os.environ[k] for k in ENVIRONMENT if os.environ.get(k)}
  return {"environment": env} if env else {}


REPRODUCTIONS = "reproductions.jsonl"


def reproductions(results_dir: str) -> list[dict]:
  """The lines of reproductions.jsonl in ``results_dir``, oldest first."""
  path = os.path.join(results_dir, REPRODUCTIONS)
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def compare(study: Study, arm: Arm, seed: int, record: dict, top1: float | None, workdir: str,
            results_dir: str) -> dict:
  """Compares a rerun of the recorded run ``record`` (its final top-1 and its workdir) with
  the record: top-1 and every logged training loss. Appends the comparison to
  reproductions.jsonl in ``results_dir``, says it, and returns it."""
  from jaxcnn import fileio
  losses = lambda curve: {row["step"]: row["train/loss"] for row in curve if "train/loss" in row}
  then, now = losses(record.get("curve", [])), losses(_curves(workdir))
  # A run stopped and resumed logs at its stop, off the logging grid; its next logged loss
  # then averages only the steps since the stop, so is not comparable with an unbroken run's.
  after_stop = lambda a, b: {k for j, k in zip(sorted(a), sorted(a)[1:]) if j not in b}
  cut = (after_stop(then, now) | after_stop(now, then)) & set(then) & set(now)
  steps = sorted(set(then) & set(now) - cut)
  differ = [k for k in steps if then[k] != now[k]]
  entry = {
      "study": study.name, "arm": arm.name, "seed": seed,
      "code_version": records_lib.version_of(record),
      "recorded_top1": record.get("top1"), "top1": top1,
      "difference_points": (round(100 * (top1 - record["top1"]), 4)
                            if top1 is not None and record.get("top1") is not None else None),
      "losses_compared": len(steps), "losses_equal": len(steps) - len(differ),
      "first_different_step": differ[0] if differ else None,
      "losses_after_a_stop": sorted(cut),
      "recorded_cpus": record.get("cpus"), "cpus": os.cpu_count(),
      "recorded_device": record.get("device"), "device": _device(),
      "recorded_cpu_model": record.get("cpu_model"), "cpu_model": cpu_model(),
      "recorded_cpu_id": record.get("cpu_id"), "cpu_id": cpu_id(),
      **_environment(),
      "recorded_load_average": record.get("load_average"),
      "load_average": round(os.getloadavg()[0], 2),
      "date": time.strftime("%Y-%m-%d"), "workdir": records_lib.relative(workdir),
  }
  path = os.path.join(results_dir, REPRODUCTIONS)
  lines = open(path).read().splitlines() if os.path.exists(path) else []
  lines.append(json.dumps(entry))
  fileio.atomic_write(path, lambda f: f.write("\n".join(lines) + "\n"))
  same = (f"every one of the {len(steps)} logged training losses equal" if not differ else
          f"training losses equal at {len(steps) - len(differ)} of {len(steps)} logged steps, "
          f"the first difference at step {differ[0]}") + (
              f" (not compared: the losses at step{'s' if len(cut) > 1 else ''} "
              f"{', '.join(map(str, sorted(cut)))}, logged after one run stopped and resumed, "
              "average fewer steps)" if cut else "")
  processor = lambda model, ident: f"{model or 'processor not recorded'}" + (
      f", {ident}" if ident else "")
  result = "no result" if top1 is None else f"top-1 {100 * top1:.2f}%"
  recorded = ("no result" if record.get("top1") is None
              else f"{100 * record['top1']:.2f}%")
  against = (f" ({entry['difference_points']:+.2f} points)"
             if entry["difference_points"] is not None else "")
  print(f"{study.name}, {arm.name}, seed {seed} (code version {entry['code_version']}): "
        f"{result} against the recorded {recorded}{against}; {same}. "
        f"Recorded on {record.get('cpus')} CPUs ({record.get('device')}; "
        f"{processor(record.get('cpu_model'), record.get('cpu_id'))}), rerun on "
        f"{os.cpu_count()} ({entry['device']}; {processor(cpu_model(), cpu_id())}). "
        f"Appended to {path}.")
  if not same_processor(record) or record.get("device") != entry["device"]:
    print("Another processor or device than the record's: its run may differ like a run of "
          "another seed (experiments/README.md, what reproduces bitwise).")
  elif "cpu_id" not in record and cpu_id():
    print("The record names its processor's model but not its family or instruction set, "
          "which two machines of one model name may not share (experiments/README.md).")
  return entry


def reproduce(study: Study, name: str, seed: int | None, results_dir: str,
              workdir_root: str) -> int:
  """Trains the recorded run (arm ``name``, ``seed``; default the first seed recorded on this
  device and processor, where one was, else the first) again in a workdir of its own, from
  its record's config at its code version (this checkout's), and compares the two: top-1
  and every logged training loss. Appends the comparison to reproductions.jsonl
  in ``results_dir``. A reproduction cut short resumes with the same command; one that
  finished (its workdir in reproductions.jsonl) starts afresh."""
  from jaxcnn import train
  arm = study.arm(name)
  recorded = records_lib.read(results_dir, study)
  if seed is None:  # A run of this processor's should rerun bit for bit; another's need not.
    here = [s for s in study.seeds if (arm.name, s) in recorded
            and same_processor(recorded[arm.name, s])
            and recorded[arm.name, s].get("device", "cpu") == _device()]
    seed = (here or list(study.seeds))[0]
  record = recorded.get((arm.name, seed))
  if record is None:
    print(f"error: {study.name} has no record of {arm.name}, seed {seed} to reproduce.",
          file=sys.stderr)
    return 1
  version, current = records_lib.version_of(record), records_lib.code_version()
  if version != current:
    print(f"error: {arm.name}, seed {seed} was trained at code version {version}, and this "
          f"checkout is at {current}: a run reproduces only at its own code version. "
          f"Run this from a worktree at it (git worktree add ../at-{version} {version}, with "
          "today's experiments/ files copied in; see experiments/README.md).", file=sys.stderr)
    return 1
  # Compiled afresh, never read from a persistent compilation cache: the reproduction then
  # tests the compilation too, not only the arithmetic.
  import jax
  jax.config.update("jax_enable_compilation_cache", False)
  source = source_workdir(study, arm, seed, workdir_root)
  config = build_config(arm, seed, source)
  workdir = os.path.join(workdir_root, study.name, "reproduce", arm.slug, f"seed{seed}")
  if os.path.isdir(workdir) and any(e.get("workdir") == records_lib.relative(workdir)
                                    for e in reproductions(results_dir)):
    # An earlier reproduction finished there: resuming it would train nothing.
    print(f"An earlier reproduction finished in {workdir}: starting it afresh.")
    shutil.rmtree(workdir)
  print(f"== {study.name}: reproducing {arm.name}, seed {seed} -> {workdir}", flush=True)
  result = train.train_and_evaluate(config, workdir)
  if result is None:
    print("Stopped; run the same command again to continue.")
    return 0
  compare(study, arm, seed, record, result.get("eval/top1"), workdir, results_dir)
  return 0


def other_records(results_dir: str, study: Study) -> list[dict]:
  """Every record in ``results_dir`` of a study other than ``study``."""
  out = []
  for path in sorted(glob.glob(os.path.join(results_dir, "*", "*.json"))):
    if os.path.basename(os.path.dirname(path)) != study.name:
      with open(path) as f:
        out.append(json.load(f))
  return out


def shared_record(study: Study, arm: Arm, seed: int, results_dir: str, workdir_root: str,
                  current: str, others: list | None = None) -> dict | None:
  """Another study's record of this very run, or None: the same config, field for field
  (seed included), trained at ``current`` (a committed code version) on this kind of machine
  (device, processor, cores and the variables that change its arithmetic). Such a run is
  bitwise the one this arm would train here, so its record is shared instead of retrained.
  An arm that others start from (``init_from``) is always trained: they need its workdir.
  ``others``: other_records(results_dir, study), when the caller has read them already."""
  if current.endswith("+dirty") or current == "unknown":
    return None
  if any(other.init_from == arm.name for other in study.arms):
    return None
  source = source_workdir(study, arm, seed, workdir_root)
  now = json.loads(build_config(arm, seed, source).to_json_best_effort())
  here = {"device": _device(), "cpu_model": cpu_model(), "cpu_id": cpu_id(),
          "cpus": os.cpu_count(),
          "environment": _environment().get("environment")}
  for record in other_records(results_dir, study) if others is None else others:
    if (record.get("seed") == seed and records_lib.version_of(record) == current
        and record.get("top1") is not None and not record.get("diverged")
        and not record.get("shared_from")
        and records_lib.same_config(record.get("config_values", {}), now)
        and all(record.get(k) == v for k, v in here.items())):
      return record
  return None


def share(study: Study, arm: Arm, seed: int, record: dict, results_dir: str) -> dict:
  """Writes ``record`` (another study's run) as this arm's, naming where it came from; its
  workdir and command stay the run's own."""
  mine = {**record, "study": study.name, "arm": arm.name,
          "shared_from": {"study": record["study"], "arm": record["arm"]}}
  records_lib.write(results_dir, study.name, arm, seed, mine)
  print(f"== {study.name}: {arm.name}, seed {seed} is {record['study']}'s run "
        f"{record['arm']!r}, seed {seed} (same config, code version "
        f"{records_lib.version_of(record)} and machine): its record is shared, not retrained.",
        flush=True)
  return mine


def stale_runs(study: Study, existing: dict, current: str,
               workdir_root: str = os.path.join(REPO, "runs/experiments")) -> dict:
  """{(arm, seed): why} for records that cannot share a table with runs trained now: another
  code version than ``current``, or a config other than the one the arm builds today."""
  out = {}
  for (name, seed), record in existing.items():
    version = records_lib.version_of(record)
    if version != current:
      out[name, seed] = f"code version {version}, not {current}"
      continue
    arm = study.arm(name)
    source = source_workdir(study, arm, seed, workdir_root)
    now = json.loads(build_config(arm, seed, source).to_json_best_effort())
    changed = records_lib.config_changes(record, now)
    if changed:
      out[name, seed] = "config changed: " + ", ".join(f"{k} {a!r} -> {b!r}"
                                                       for k, a, b in changed[:3])
  return out


def _groups(existing: dict, key) -> str:
  """The runs grouped by ``key(record)``, named ("v1: 2 runs (a seed 0, b seed 0); v2: ..."),
  or "" when they all fall in one group."""
  groups = {}
  for (name, seed), record in existing.items():
    groups.setdefault(key(record), []).append(f"{name} seed {seed}")
  if len(groups) <= 1:
    return ""
  return "; ".join(f"{g}: {len(runs)} runs ({', '.join(runs[:4])}"
                   f"{', ...' if len(runs) > 4 else ''})" for g, runs in sorted(groups.items()))


def mixed_versions(study: Study, existing: dict) -> str:
  """Why the records cannot make one table (several code versions), or ""."""
  return _groups(existing, records_lib.version_of)


def mixed_devices(study: Study, existing: dict) -> str:
  """Why the records cannot make one table (several kinds of device), or "": a GPU's
  convolutions round otherwise than the CPU's, so its runs are another population."""
  return _groups(existing, records_lib.device_kind)


def training_order(study: Study) -> list[Arm]:
  """The study's arms, each followed at once by those that start from its run (init_from)."""
  order = []

  def add(arm: Arm):
    order.append(arm)
    for dependant in (a for a in study.arms if a.init_from == arm.name):
      add(dependant)

  for arm in (a for a in study.arms if not a.init_from):
    add(arm)
  return order


def stop_time(text: str) -> float:
  """--stop_at's TIME as seconds since the epoch: HH:MM (local time; today, or tomorrow once
  today's has passed) or an ISO date and time (YYYY-MM-DDTHH:MM)."""
  try:
    if re.fullmatch(r"\d{1,2}:\d{2}", text):
      now = datetime.datetime.now()
      at = datetime.datetime.combine(now.date(), datetime.time.fromisoformat(text.zfill(5)))
      return (at if at > now else at + datetime.timedelta(days=1)).timestamp()
    return datetime.datetime.fromisoformat(text).timestamp()
  except ValueError:
    raise argparse.ArgumentTypeError(
        f"{text!r} is not a time: give HH:MM (local time, e.g. 17:45) or a date and time "
        "(e.g. 2026-12-03T17:45)") from None


def main(argv: list[str]) -> int:
  parser = argparse.ArgumentParser(prog="python -m experiments.run", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("study", nargs="*",
                      help="experiments/<study>.py (with --status: several, or none for all)")
  parser.add_argument("--summarize_only", action="store_true",
                      help="only rewrite the table, CSV and plot from the records")
  parser.add_argument("--rerun_stale", action="store_true",
                      help="retrain the runs whose records are of another code version or "
                           "config than this checkout's (their workdirs are started afresh)")
  parser.add_argument("--refresh_curves", action="store_true",
                      help="re-read the learning curves of finished runs from their workdirs "
                           "(where they are on this machine) into their records")
  parser.add_argument("--reproduce", metavar="ARM[:SEED]",
                      help="train one recorded run again from scratch (default seed: the "
                           "first) and compare it with its record")
  parser.add_argument("--status", action="store_true",
                      help="say which runs are recorded, in progress and to go, and how long "
                           "the rest should take; train nothing")
  parser.add_argument("--no_sharing", action="store_true",
                      help="train every run here, even one that another study's record "
                           "already holds (same config, code version and machine)")
  parser.add_argument("--seeds", type=int, nargs="+", metavar="SEED",
                      help="train only these of the study's seeds (every arm of each), e.g. "
                           "to share a study's runs among processes or machines")
  parser.add_argument("--arms", nargs="+", metavar="ARM",
                      help="train only these of the study's arms (each of the seeds), e.g. to "
                           "train two arms of one seed in two processes at once")
  parser.add_argument("--stop_at", metavar="TIME", type=stop_time,
                      help="start no run that would not finish by TIME (HH:MM local time, or "
                           "YYYY-MM-DDTHH:MM) at the pace of its arm's recorded runs (or, "
                           "for an arm they do not time, the study's other arms' pace per "
                           "multiply-add; a run nothing times starts); the "
                           "runs put off wait for the next invocation. For a job with a "
                           "wall-clock limit, whose cut runs would be lost")
  parser.add_argument("--workdir_root", default="runs/experiments",
                      help="where the runs' workdirs go (relative: to the repository)")
  parser.add_argument("--results_dir", default=records_lib.RESULTS,
                      help="where records, tables and plots go (default: experiments/results; "
                           "relative: to the repository)")
  args = parser.parse_args(argv)
  # Paths in records and configs (workdirs, an arm's init_from) are relative to the repository.
  os.chdir(REPO)
  workdir_root = os.path.join(REPO, args.workdir_root)
  if args.status:
    reports, current = [], records_lib.code_version()
    reruns = reproductions(args.results_dir)
    for path in args.study or study_lib.study_files():
      study = study_lib.load(path)
      reports.append(status.describe(
          study, records_lib.read(args.results_dir, study),
          lambda arm, seed, study=study: run_workdir(workdir_root, study.name, arm, seed),
          current, None if args.no_sharing else (
              lambda arm, seed, study=study, others=other_records(args.results_dir, study):
              shared_record(study, arm, seed, args.results_dir, workdir_root, current,
                            others)),
          [e for e in reruns if e.get("study") == study.name]))
    print("\n\n".join(reports))
    return 0
  if len(args.study) != 1:
    parser.error("one study at a time (with --status: several, or none for all)")
  study = study_lib.load(args.study[0])
  unknown = sorted(set(args.seeds or ()) - set(study.seeds))
  if unknown:
    print(f"error: {study.name} has no seed {', '.join(map(str, unknown))}; its seeds are "
          f"{', '.join(map(str, study.seeds))}.", file=sys.stderr)
    return 1
  names = [a.name for a in study.arms]
  unknown = [name for name in args.arms or () if name not in names]
  if unknown:
    print(f"error: {study.name} has no arm {', '.join(map(repr, unknown))}; its arms are "
          f"{', '.join(map(repr, names))}.", file=sys.stderr)
    return 1
  if args.refresh_curves:
    print(f"Curves re-read for {refresh_curves(study, args.results_dir, workdir_root)} runs.")
  if args.reproduce:
    name, _, seed = args.reproduce.rpartition(":") if ":" in args.reproduce else (
        args.reproduce, "", "")
    if not any(a.name == name for a in study.arms) or not (seed.isdigit() or not seed):
      print(f"error: --reproduce takes ARM or ARM:SEED, and {study.name}'s arms are "
            f"{', '.join(repr(a.name) for a in study.arms)}.", file=sys.stderr)
      return 1
    return reproduce(study, name, int(seed) if seed else None, args.results_dir, workdir_root)
  existing = records_lib.read(args.results_dir, study)
  if not args.summarize_only:
    current = records_lib.code_version()
    seeds = args.seeds or study.seeds
    stale = stale_runs(study, existing, current, workdir_root) if args.rerun_stale else {}
    stale = {run: why for run, why in stale.items() if run[1] in seeds}
    for (name, seed), why in stale.items():
      print(f"Stale: {name}, seed {seed} ({why}); retraining it from scratch.")
      shutil.rmtree(run_workdir(workdir_root, study.name, study.arm(name), seed),
                    ignore_errors=True)
      del existing[name, seed]
    # Seed by seed: a study cut short has every arm at its first seeds. Within a seed, the arms
    # that start from an arm's run follow it at once, while its workdir is surely here.
    todo = [(arm, s) for s in seeds for arm in training_order(study)
            if (arm.name, s) not in existing and arm.name in (args.arms or names)]
    if not args.no_sharing:
      others = other_records(args.results_dir, study)
      for arm, seed in list(todo):
        found = shared_record(study, arm, seed, args.results_dir, workdir_root, current,
                              others)
        if found is not None:
          existing[arm.name, seed] = share(study, arm, seed, found, args.results_dir)
          todo.remove((arm, seed))
    from jaxcnn import preemption
    from jaxcnn.errors import UserError
    # A SIGTERM/SIGINT that arrives between two runs, or in a run's final evaluation (too late
    # to stop its training), lets that run write its record and stops before the next one.
    between = preemption.StopRequest()
    put_off = {}  # {(arm name, seed): why}: the runs --stop_at left for another sitting.
    elsewhere = {}  # {(arm name, seed): holder}: runs another process is training now.
    try:
      for i, (arm, seed) in enumerate(todo):
        # An arm starts from its init_from arm's run of the seed, in that run's workdir. One
        # recorded on another machine (or whose workdir was removed) is trained again here
        # first, its record replaced, so that the record is the run the arm starts from.
        runs = [(arm, seed)]
        source = study.arm(arm.init_from) if arm.init_from else None
        if source is not None and (source.name, seed) in existing and not os.path.exists(
            os.path.join(run_workdir(workdir_root, study.name, source, seed), "checkpoints")):
          runs.insert(0, (source, seed))
        if source is not None and (source.name, seed) in put_off:
          put_off[arm.name, seed] = f"after {source.name}'s run"
          continue
        # A process sharing the study's runs is training this one (or its source): left to it.
        holders = [(a, h) for a, _ in runs if (h := status.training_elsewhere(
            run_workdir(workdir_root, study.name, a, seed)))]
        if holders or (source is not None and (source.name, seed) in elsewhere):
          elsewhere[arm.name, seed] = (
              holders[0][1] if holders and holders[0][0] is arm
              else f"after {source.name}'s run, " + (holders[0][1] if holders else
                                                      elsewhere[source.name, seed]))
          continue
        if args.stop_at is not None:  # Read again: other processes' runs time arms too.
          timed = records_lib.read(args.results_dir, study)
          lefts = [status.time_left(
              [r for (name, _), r in timed.items() if name == a.name],
              status.last_step(run_workdir(workdir_root, study.name, a, seed)),
              [r for (name, _), r in timed.items() if name != a.name]) for a, _ in runs]
          left = None if None in lefts else sum(lefts)
          if left is not None and time.time() + left > args.stop_at:
            put_off[arm.name, seed] = (f"about {left / 60:.0f} min"
                                       + (f", with {source.name}'s run" if len(runs) > 1 else ""))
            continue
        print(f"[run {i + 1} of the {len(todo)} to train]", flush=True)
        if len(runs) > 1:
          print(f"{source.name}, seed {seed} is recorded, but its workdir, which {arm.name} "
                "starts from, is not on this machine: training it again here first (its record "
                "replaced by this run, and compared with it in reproductions.jsonl).",
                flush=True)
        for run_arm, _ in runs:
          replaced = existing.get((run_arm.name, seed)) if run_arm is not arm else None
          stop = preemption.StopRequest()
          try:
            record = run_one(study, run_arm, seed, args.results_dir, workdir_root, stop)
          except UserError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
          if record is None:
            print("Stopped; run the same command again to continue.")
            return 0
          existing[run_arm.name, seed] = record
          if replaced is not None:  # A rerun of a recorded run: how far it reproduced.
            compare(study, run_arm, seed, replaced, record.get("top1"),
                    run_workdir(workdir_root, study.name, run_arm, seed), args.results_dir)
        signal_name = stop.signal_name or between.signal_name
        if signal_name and i + 1 < len(todo):
          print(f"Received {signal_name}: {arm.name}, seed {seed} finished and is recorded; "
                "stopped before the next run. Run the same command again to continue.")
          return 0
    finally:
      between.restore_handlers()
    if elsewhere:
      named = "; ".join(f"{name}, seed {seed} ({holder})"
                        for (name, seed), holder in elsewhere.items())
      print(f"Left to the runs training them now in other processes: {named}.")
    if put_off:
      named = "; ".join(f"{name}, seed {seed} ({why})" for (name, seed), why in put_off.items())
      print(f"Not started, since at the pace of their arms' recorded runs they would not finish "
            f"by --stop_at: {named}. Run the same command again to train them.")
  missing = [(a.name, s) for a in study.arms for s in study.seeds if (a.name, s) not in existing]
  if missing:
    print(f"{len(missing)} run{' has' if len(missing) == 1 else 's have'} no record yet; "
          "the table needs all of them.")
    return 1
  mixed = mixed_versions(study, existing)
  if mixed:
    print(f"The records of {study.name} come from several code versions ({mixed}); a table "
          "compares arms only within one. Retrain the runs not of this checkout's version "
          f"with: python -m experiments.run {study.path} --rerun_stale", file=sys.stderr)
    return 1
  devices = mixed_devices(study, existing)
  if devices:
    print(f"The records of {study.name} come from several kinds of device ({devices}); a table "
          "compares arms trained on one kind. Keep one kind's records, remove the others' from "
          f"{os.path.join(args.results_dir, study.name)} and train those runs again on that "
          f"kind of machine with: python -m experiments.run {study.path}", file=sys.stderr)
    return 1
  runs = {a.name: [existing[a.name, s] for s in study.seeds] for a in study.arms}
  print(report.write(study, runs, args.results_dir))
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv[1:]))
