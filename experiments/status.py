"""Where a study stands, from its records and workdirs, without training anything.

  python -m experiments.run experiments/lrn.py --status

Per arm: the seeds recorded, the one in progress (its last logged step against the steps a
finished run of that arm took) and those not started; then the code versions and devices of
the records, against this checkout's version, and the wall time left at the pace of the
arm's recorded runs (a resumed run's record times its last sitting: scaled up by the steps it
trained there), or, for an arm none of whose runs times it, of the study's other arms per
multiply-add and step.
"""

import collections
import errno
import fcntl
import json
import os
import statistics

from experiments import records as records_lib
from experiments import report
from experiments.study import Study


def last_step(workdir: str) -> int | None:
  """The last step logged in a workdir's metrics.jsonl, None where none was."""
  path = os.path.join(workdir, "metrics.jsonl")
  if not os.path.exists(path):
    return None
  last = None
  with open(path) as f:
    for line in f:
      try:
        last = json.loads(line).get("step", last)
      except json.JSONDecodeError:  # A line cut short by a kill.
        pass
  return last


def training_elsewhere(workdir: str) -> str | None:
  """Who holds the workdir's run lock (jaxcnn/workdir_lock.py: a run training there now, in
  another process), as its lock file names it; None where no one does."""
  path = os.path.join(workdir, ".lock")
  try:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
  except OSError:
    return None
  try:
    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
  except OSError as e:
    if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
      return None
    try:
      holder = json.loads(os.pread(fd, 4096, 0))
      return f"pid {holder['pid']} on {holder['host']}, since {holder['started']}"
    except (OSError, ValueError, KeyError, TypeError):
      return "another process"
  finally:
    os.close(fd)  # Drops the probe's own lock, if it got one.
  return None


def pace(records: list) -> float | None:
  """Seconds a run of an arm takes: the mean wall time of its ``records``, a resumed run's
  (which times its last sitting only) scaled up by the steps that sitting trained (its
  ``sitting_from_step``; a resumed record without one is left out); None where none times."""
  walls = []
  for r in records:
    wall, steps, start = r.get("wall_s"), r.get("steps") or 0, r.get("sitting_from_step")
    if not wall:
      continue
    if not r.get("resumed"):
      walls.append(wall)
    elif start is not None and steps > start:
      walls.append(wall * steps / (steps - start))
  return statistics.mean(walls) if walls else None


def time_left(records: list, step: int | None, others: list = ()) -> float | None:
  """Seconds a run still needs at the pace of its arm's ``records``, less the ``step``s its
  workdir has logged (``last_step``; a run resumed there skips them). An arm none of whose
  records times it is paced by the study's ``others`` (records of its other arms), per
  multiply-add and step of its own recorded ones; None where neither can."""
  seconds = pace(records)
  steps = max((r.get("steps") or 0 for r in records), default=0)
  if seconds is None:
    macs = [r["macs"] for r in records if r.get("macs")]
    by_arm = collections.defaultdict(list)
    for r in others:
      by_arm[r.get("arm")].append(r)
    per_work = [p / (rs[0]["macs"] * rs[0]["steps"]) for rs in by_arm.values()
                if rs[0].get("macs") and rs[0].get("steps") and (p := pace(rs)) is not None]
    if not macs or not steps or not per_work:
      return None
    seconds = statistics.mean(per_work) * macs[0] * steps
  return seconds * (1 - min(step / steps, 1.0) if step is not None and steps else 1)


def _seeds(seeds: list) -> str:
  """"seed 3" or "seeds 0, 1"."""
  return ("seed " if len(seeds) == 1 else "seeds ") + ", ".join(str(s) for s in seeds)


def _same_processor(entry: dict) -> int:
  """1 if a line of reproductions.jsonl reran its record on the record's kind of device and
  processor, -1 if on another, 0 if either was not recorded."""
  pairs = [(entry.get(f"recorded_{k}"), entry.get(k)) for k in ("device", "cpu_model", "cpu_id")]
  if any(a is not None and b is not None and a != b for a, b in pairs):
    return -1
  return 1 if all(a is not None and b is not None for a, b in pairs[:2]) else 0


def describe(study: Study, existing: dict, workdir_of, current: str, shareable=None,
             reproductions: list = ()) -> str:
  """The status report. ``existing``: {(arm, seed): record}; ``workdir_of(arm, seed)``: the
  run's workdir; ``current``: this checkout's code version; ``shareable(arm, seed)``: another
  study's record of that very run, which the runner shares instead of training, or None;
  ``reproductions``: the study's lines of reproductions.jsonl, oldest first."""
  lines, left_s, unknown, shared_n = [], 0.0, [], 0
  stale_n, stale_s, stale_untimed = 0, 0.0, False
  version = {key: records_lib.version_of(r) for key, r in existing.items()}
  total = len(study.arms) * len(study.seeds)
  width = max(len(a.name) for a in study.arms)
  for arm in study.arms:
    done = [s for s in study.seeds if (arm.name, s) in existing]
    records = [existing[arm.name, s] for s in done]
    steps = max((r.get("steps") or 0 for r in records), default=0)
    others = [r for (name, _), r in existing.items() if name != arm.name]
    parts = [f"{_seeds(done)} recorded" if done else "nothing recorded"]
    stale = [s for s in done if version[arm.name, s] != current]
    if stale:
      parts[0] += f" (of another code version: {_seeds(stale)})"
      for seed in stale:
        # --rerun_stale retrains in a fresh workdir: one short of the recorded steps is that.
        step, recorded = last_step(workdir_of(arm, seed)), existing[arm.name, seed].get("steps", 0)
        retraining = step is not None and step < recorded
        if retraining:
          parts.append(f"seed {seed} retraining, at step {step} of {recorded}")
        stale_n += 1
        stale_s += time_left(records, step if retraining else None, others) or 0.0
        stale_untimed |= time_left(records, None, others) is None
    waiting, shared = [], {}
    for seed in (s for s in study.seeds if s not in done):
      record = shareable(arm, seed) if shareable else None
      if record is not None:
        shared.setdefault(f"{record['study']}'s {record['arm']!r}", []).append(seed)
        shared_n += 1
        continue
      step = last_step(workdir_of(arm, seed))
      if step is None:
        waiting.append(seed)
      else:
        parts.append(f"seed {seed} at step {step}" + (f" of {steps}" if steps else ""))
      left = time_left(records, step, others)
      if left is not None:
        left_s += left
      else:
        unknown.append(arm.name)
    if waiting:
      parts.append(f"{_seeds(waiting)} not started")
    parts += [f"{_seeds(seeds)} to share from {source} (recorded there: no training)"
              for source, seeds in shared.items()]
    lines.append(f"  {arm.name:<{width}}  " + "; ".join(parts))

  versions = collections.Counter(version.values())
  devices = collections.Counter(r.get("device", "not recorded") for r in existing.values())
  head = [f"{study.name}: {len(existing)} of {total} runs recorded."]
  if versions:
    head.append("Code versions of the records: " + ", ".join(
        f"{v} ({n})" for v, n in sorted(versions.items())) + f"; this checkout: {current}.")
    if len(versions) > 1:
      head.append("Mixed: a table needs one.")
    elif current not in versions:
      head.append(f"New runs here would be of another version: add to these from a worktree "
                  f"at {next(iter(versions))} (experiments/README.md), or --rerun_stale.")
    head.append("Devices: " + ", ".join(f"{d} ({n})" for d, n in sorted(devices.items())) + ".")
    if len({records_lib.device_kind(r) for r in existing.values()}) > 1:
      head.append("Mixed kinds of device: a table needs one.")
    models = collections.Counter(report.processor(r) for r in existing.values())
    if len(models) > 1 or "not recorded" not in models:
      head.append("Processors: " + ", ".join(f"{m} ({n})" for m, n in sorted(models.items()))
                  + ".")
  missing = total - len(existing)
  if missing:
    untimed = sorted(set(unknown), key=[a.name for a in study.arms].index)
    parts = []
    if shared_n:
      parts.append(f"{shared_n} of them shared from other studies' records, no training")
    if len(unknown) < missing - shared_n:
      parts.append(f"about {left_s / 60:.0f} min of training left at the pace of the recorded "
                   "runs (on their devices)")
    if len(untimed) == len(study.arms):
      parts.append("no recorded run of this study times it")
    elif untimed:
      parts.append(f"{'plus ' if parts else ''}the runs of {', '.join(untimed)}, which no "
                   "recorded run times")
    estimate = ", ".join(parts)
    head.append(f"{missing} runs to go: {estimate}.")
  else:
    head.append("Every run is recorded.")
  if existing:
    # The latest rerun of one of these records at their code version on the record's own
    # device and processor, else the latest where either was not recorded, else another's.
    rerun = sorted((e for e in reproductions if e.get("code_version") in versions
                    and (e.get("arm"), e.get("seed")) in existing), key=_same_processor)
    if rerun:
      e = rerun[-1]
      points = e.get("difference_points")
      head.append(f"Reproduced from its record: {e['arm']}, seed {e['seed']}, "
                  + ("no result" if points is None else f"{points:+.2f} points")
                  + f", {e.get('losses_equal')} of {e.get('losses_compared')} logged losses "
                  f"equal ({e.get('device')}, {e.get('date')}"
                  + {1: "", 0: "; the record's processor or the rerun's not recorded",
                     -1: "; another processor than the record's"}[_same_processor(e)] + ").")
    else:
      head.append("Not reproduced from a record at its code version yet (--reproduce=ARM).")
  if stale_n:
    head.append(f"With --rerun_stale here, the {stale_n} runs of another code version train "
                "again too" + (f": about {stale_s / 60:.0f} min more" if stale_s else "") +
                (" (some untimed)" if stale_untimed and stale_s else "") + ".")
  return "\n".join(head + lines)
