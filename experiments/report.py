"""A study's table (.md), its runs (.csv) and its curves (.png), from its records.

Every number in the table and the CSV comes from one declaration per column (``COLUMNS``):
a new column is one entry there. Nothing here trains or reads git: the records are the
only input, so the same records give the same files byte for byte.
"""

import collections
import dataclasses
import math
import os
import re
import warnings
from typing import Callable

from experiments import records as records_lib
from experiments.study import Study


@dataclasses.dataclass(frozen=True)
class Column:
  header: str  # In the markdown table.
  csv: str  # In the CSV header.
  value: Callable[[dict], float]  # From one record; nan when the run did not reach it.
  kind: str = "percent"  # "percent" (2 decimals), "count" (same in every run), "steps".


def steps_to_train_error(curve: list[dict], error: float, every: int = 0) -> int | None:
  """First logged step whose mean training error (over its logging window) is <= error.

  With ``every`` (the run's log_every_steps), only full windows count: the short windows
  closed early at an evaluation or a checkpoint average a few steps, mostly noise."""
  for row in curve:
    if every and row["step"] % every:
      continue
    if "train/top1" in row and 1.0 - row["train/top1"] <= error:
      return row["step"]
  return None


def _steps_column(threshold: float) -> Column:
  def value(r):
    every = r.get("config_values", {}).get("log_every_steps", 0)
    steps = steps_to_train_error(r["curve"], threshold / 100, every)
    return float("nan") if steps is None else float(steps)
  label = f"{threshold:g}"
  return Column(f"steps to {label}% train err", f"steps_to_{label}", value, "steps")


COLUMNS = {
    "top1": Column("top-1 err %", "top1_err", lambda r: 100 * (1 - r["top1"])),
    "top5": Column("top-5 err %", "top5_err", lambda r: 100 * (1 - r["top5"])),
    "train_error": Column("train err %", "train_err", lambda r: 100 * (1 - r["train_top1"])),
    "gap": Column("test - train err %", "gap", lambda r: 100 * (r["train_top1"] - r["top1"])),
    "params": Column("params", "params", lambda r: _count(r, "params"), "count"),
    "macs": Column("multiply-adds", "macs", lambda r: _count(r, "macs"), "count"),
}


def _count(record: dict, key: str) -> float:
  """The network's parameters or multiply-adds. Records written before they were marked
  ``"counts": "total"`` summed the summary's total row with its top-level layers: twice the
  count."""
  return float(record[key]) if record.get("counts") == "total" else record[key] / 2


_STEPS = re.compile(r"^steps_to_(\d+(?:\.\d+)?)$")  # steps_to_25: to 25% training error.
# Always in the CSV, whatever the table shows.
CSV_COLUMNS = ("top1", "top5", "train_error", "gap", "params", "macs")


def known_column(key: str) -> bool:
  return key in COLUMNS or bool(_STEPS.match(key))


def column_names() -> str:
  return ", ".join(sorted(COLUMNS)) + ", steps_to_<percent>"


def column(key: str) -> Column:
  if key in COLUMNS:
    return COLUMNS[key]
  match = _STEPS.match(key)
  if not match:
    raise KeyError(f"Unknown column {key!r}; known: {column_names()}")
  return _steps_column(float(match.group(1)))


def values(key: str, runs: list[dict]) -> list[float]:
  """The column's value per run; nan for a run that diverged (it has no final result)."""
  return [float("nan") if r.get("diverged") and column(key).kind != "count"
          else column(key).value(r) for r in runs]


def diverged(runs: list[dict]) -> int:
  return sum(1 for r in runs if r.get("diverged"))


def mean_std(xs: list[float]) -> tuple[float, float]:
  n = len(xs)
  mean = sum(xs) / n
  std = math.sqrt(sum((v - mean) ** 2 for v in xs) / (n - 1)) if n > 1 else float("nan")
  return mean, std


def welch_t(a: list[float], b: list[float]) -> float:
  """Welch's t statistic of mean(b) - mean(a); nan with fewer than two runs in either."""
  if len(a) < 2 or len(b) < 2:
    return float("nan")
  (ma, sa), (mb, sb) = mean_std(a), mean_std(b)
  if sa == 0 and sb == 0:  # scipy's t is undefined; the means are exact.
    return float("inf") * (1 if mb >= ma else -1)
  from scipy import stats
  with warnings.catch_warnings():  # Runs equal but for float rounding (every one at chance).
    warnings.simplefilter("ignore", RuntimeWarning)
    return float(stats.ttest_ind(b, a, equal_var=False).statistic)


def paired_t(a: dict, b: dict) -> tuple[float, int]:
  """The t statistic of the mean per-seed difference b[seed] - a[seed] over the seeds both
  have a finite value for, and how many those are; nan with fewer than two. The runs of one
  seed share their data order and augmentation (a batch depends on the seed and step alone),
  so a difference common to the seeds shows here where the seeds' spread hides it from
  Welch's t."""
  seeds = [s for s in a if s in b and math.isfinite(a[s]) and math.isfinite(b[s])]
  if len(seeds) < 2:
    return float("nan"), len(seeds)
  mean, std = mean_std([b[s] - a[s] for s in seeds])
  if std == 0:  # scipy's t is undefined; the difference is exact.
    return (0.0 if mean == 0 else math.copysign(math.inf, mean)), len(seeds)
  from scipy import stats
  with warnings.catch_warnings():  # Differences equal but for float rounding.
    warnings.simplefilter("ignore", RuntimeWarning)
    t = stats.ttest_rel([b[s] for s in seeds], [a[s] for s in seeds]).statistic
  return float(t), len(seeds)


def welch_interval(a: list[float], b: list[float], level: float = 0.95) -> tuple:
  """The ``level`` confidence interval of mean(b) - mean(a), with Welch's degrees of freedom;
  nans with fewer than two runs in either."""
  if len(a) < 2 or len(b) < 2:
    return float("nan"), float("nan")
  (ma, sa), (mb, sb) = mean_std(a), mean_std(b)
  if sa == 0 and sb == 0:  # scipy's t is undefined; the means are exact.
    return mb - ma, mb - ma
  from scipy import stats
  with warnings.catch_warnings():  # Runs equal but for float rounding (every one at chance).
    warnings.simplefilter("ignore", RuntimeWarning)
    ci = stats.ttest_ind(b, a, equal_var=False).confidence_interval(level)
  return float(ci.low), float(ci.high)


def fmt(key: str, xs: list[float], n_diverged: int = 0) -> str:
  """mean ± std of a column; runs without a value (diverged, or a threshold not reached)
  are named, not averaged."""
  kind = column(key).kind
  if kind == "count":
    return f"{xs[0]:,.0f}"
  reached = [v for v in xs if not math.isnan(v)]
  if len(reached) < len(xs):
    missing = len(xs) - len(reached)
    if kind == "steps":
      missed = f"not reached in {missing} of {len(xs)} runs"
      missed += f", {n_diverged} of them diverged" if n_diverged else ""
    else:
      missed = f"diverged in {missing} of {len(xs)} runs"
    return f"{fmt(key, reached)} ({missed})" if reached else missed
  mean, std = mean_std(xs)
  if kind == "steps":
    return f"{mean:,.0f} ± {std:,.0f}" if len(xs) > 1 else f"{mean:,.0f}"
  return f"{mean:.2f} ± {std:.2f}" if len(xs) > 1 else f"{mean:.2f}"


def selected(study: Study, runs: dict) -> dict:
  """{group: the arm whose mean of study.select is lowest} (unreached runs count as worst)."""
  out = {}
  for group in dict.fromkeys(a.group for a in study.arms):
    def score(arm):
      xs = values(study.select, runs[arm.name])
      return (sum(math.isnan(v) for v in xs), mean_std([v for v in xs if not math.isnan(v)]
                                                         or [math.inf])[0])
    out[group] = min((a for a in study.arms if a.group == group), key=score)
  return out


def _wall_time(records: list) -> str:
  """The records' summed wall time; a resumed run's record times only its last sitting (the
  sittings before it are not recorded), and the figure says how many such runs it holds."""
  minutes = f"{sum(r['wall_s'] for r in records) / 60:.1f} min"
  resumed = sum(1 for r in records if r.get("resumed"))
  if not resumed:
    return minutes
  return minutes + (", with the resumed run's last sitting only" if resumed == 1 else
                    f", with the {resumed} resumed runs' last sittings only")


def table(study: Study, runs: dict) -> str:
  """The markdown table; ``runs`` maps each arm's name to its records in seed order."""
  arms, seeds = study.arms, study.seeds
  all_runs = [r for rs in runs.values() for r in rs]
  lines = [f"# {study.title}", "", study.claim.strip(), ""]
  if study.setup.strip():
    lines += [study.setup.strip(), ""]
  versions = sorted({records_lib.version_of(r) for r in all_runs})
  lines += [f"Scale: {study.scale.strip()}", "",
            f"Command: `python -m experiments.run {study.path}` "
            f"({len(seeds)} seeds per arm: {', '.join(map(str, seeds))}; code version "
            f"{', '.join(versions)}). Wall time of the training runs: "
            f"{_wall_time(all_runs)} ({_machine(runs)}); "
            "mean ± sample std over seeds below; Δ: the difference of the means from the "
            "baseline's, Welch's t and its 95% confidence interval, and the paired t of the "
            "per-seed differences (one seed's runs share their data order and augmentation; "
            "n: the seeds paired, fewer where a run diverged).", ""]
  if study.notes.strip():
    lines += [study.notes.strip(), ""]
  lines += ["| arm | runs | " + " | ".join(column(c).header for c in study.columns) +
            f" | Δ {column(study.delta).header.removesuffix(' %')} (Welch t; 95% CI; paired t, n)"
            " | paper |",
            "|---|---|" + "---|" * len(study.columns) + "---|---|"]
  by_name = {a.name: a for a in arms}
  for arm in arms:
    rs = runs[arm.name]
    base = by_name[arm.baseline] if arm.baseline else arms[0]
    if arm is base:
      delta = "—"
    else:
      ours, base_values = (_finite(values(study.delta, x)) for x in (rs, runs[base.name]))
      low, high = welch_interval(base_values, ours)
      paired, n = paired_t(*(dict(zip((r["seed"] for r in x), values(study.delta, x)))
                             for x in (runs[base.name], rs)))
      delta = (f"{mean_std(ours)[0] - mean_std(base_values)[0]:+.2f} vs {base.name} "
               f"(t = {welch_t(base_values, ours):+.1f}; {low:+.2f} to {high:+.2f}; "
               f"paired t = {paired:+.1f}, n = {n})")
    cells = [fmt(c, values(c, rs), diverged(rs)) for c in study.columns]
    lines.append(f"| {arm.name} | {len(rs)} | " + " | ".join(cells) +
                 f" | {delta} | {arm.paper} |")
  if study.select:
    lines += ["", *_selection(study, runs)]
  lines += ["", f"Curves: [{study.name}.png]({study.name}.png); every run: "
            f"[{study.name}.csv]({study.name}.csv), records in `{study.name}/`.", ""]
  return "\n".join(lines)


def _finite(xs: list[float]) -> list[float]:
  return [v for v in xs if not math.isnan(v)] or [float("nan")]


def _selection(study: Study, runs: dict) -> list[str]:
  chosen = selected(study, runs)
  header = column(study.select).header
  out = [f"Chosen per group (lowest mean {header}):", ""]
  for group, arm in chosen.items():
    rs = runs[arm.name]
    out.append(f"- {group or '(no group)'}: {arm.name}, "
               f"{fmt(study.select, values(study.select, rs), diverged(rs))}")
  if study.ratio and len(chosen) == 2:
    (g1, a1), (g2, a2) = chosen.items()
    pairs = zip(values(study.select, runs[a1.name]), values(study.select, runs[a2.name]))
    ratios = [x / y for x, y in pairs if not (math.isnan(x) or math.isnan(y)) and y > 0]
    if ratios:
      mean, std = mean_std(ratios)
      spread = f" ± {std:.2f}" if len(ratios) > 1 else ""
      interval = ""
      if len(ratios) > 1 and std > 0:
        from scipy import stats
        ci = stats.ttest_1samp(ratios, 1.0).confidence_interval(0.95)
        interval = f"; 95% CI of the mean {ci.low:.2f} to {ci.high:.2f}"
      out += ["", f"Ratio {g1} / {g2} of {header}, per seed: {mean:.2f}{spread} "
              f"(min {min(ratios):.2f}, max {max(ratios):.2f}; {len(ratios)} seeds{interval})."]
    else:
      out += ["", f"Ratio {g1} / {g2}: no seed where both reached it."]
  return out


def processor(record: dict) -> str:
  """The record's processor: its model name, with its family, model and instruction set where
  recorded ("AMD EPYC (family 25 model 17, AVX-512)")."""
  name = record.get("cpu_model", "not recorded")
  return f"{name} ({record['cpu_id']})" if record.get("cpu_id") else name


def _machine(runs: dict) -> str:
  all_runs = [r for rs in runs.values() for r in rs]
  loads = [r["load_average"] for r in all_runs if "load_average" in r]
  cpus = sorted({r["cpus"] for r in all_runs if "cpus" in r})
  accelerators = sorted({r["device"] for r in all_runs if r.get("device", "cpu") != "cpu"})
  text = f"{'/'.join(map(str, cpus)) or 'unrecorded'} CPU cores"
  if accelerators:
    text = f"{', '.join(accelerators)} with {text}"
  if loads:
    text += f", load average {min(loads):.1f}-{max(loads):.1f} at the runs' ends"
  if len(loads) < len(all_runs):
    text += f"; {len(all_runs) - len(loads)} runs without a recorded load"
  models = collections.Counter(processor(r) for r in all_runs if "cpu_model" in r)
  if models:  # Named since it was recorded: tables of older records read as they did.
    text += "; processors: " + ", ".join(f"{m} ({n} runs)" for m, n in sorted(models.items()))
    if sum(models.values()) < len(all_runs):
      text += f", {len(all_runs) - sum(models.values())} runs not recorded"
  shared = collections.Counter(f"{r['shared_from']['study']}'s {r['shared_from']['arm']!r}"
                               for r in all_runs if r.get("shared_from"))
  if shared:  # Runs another study trained with the same config, code version and machine.
    text += "; shared with other studies' records (the same runs): " + ", ".join(
        f"{n} of {source}" for source, n in sorted(shared.items()))
  return text


def csv_text(study: Study, runs: dict) -> str:
  import csv
  import io
  keys = list(dict.fromkeys(CSV_COLUMNS + tuple(study.columns)))
  out = io.StringIO()
  w = csv.writer(out, lineterminator="\n")
  w.writerow(["arm", "seed", *(column(k).csv for k in keys), "steps", "wall_s",
              "code_version", "command"])
  for arm, rs in runs.items():
    for r in rs:
      cells = []
      for k in keys:
        v = values(k, [r])[0]
        cells.append("" if math.isnan(v) else f"{v:.0f}" if column(k).kind != "percent"
                     else f"{v:.2f}")
      w.writerow([arm, r["seed"], *cells, r["steps"], r["wall_s"],
                  records_lib.version_of(r), r["command"]])
  return out.getvalue()


def write(study: Study, runs: dict, results_dir: str) -> str:
  """Writes the table, the CSV and the plot; returns the table."""
  from jaxcnn import fileio
  text = table(study, runs)
  fileio.atomic_write_text(os.path.join(results_dir, f"{study.name}.md"), text)
  fileio.atomic_write_text(os.path.join(results_dir, f"{study.name}.csv"),
                           csv_text(study, runs))
  plot(study, runs, os.path.join(results_dir, f"{study.name}.png"))
  return text


def plot(study: Study, runs: dict, path: str) -> None:
  import matplotlib.pyplot as plt

  fig = figure(study, runs)
  fig.savefig(path, dpi=110, metadata={"Software": None})
  plt.close(fig)


def figure(study: Study, runs: dict):
  """The study's learning curves: test and logged training error (and the study's own
  curves) against epochs, one line per arm."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  import numpy as np

  keys = [("eval/top1", "test error (%)"), ("train/top1", "training error (%), logged")]
  keys += [(k, k) for k in study.curves]
  fig, axes = plt.subplots(1, len(keys), figsize=(5.5 * len(keys), 4), squeeze=False)
  for ax, (key, label) in zip(axes[0], keys):
    medians_top, bands_top = 0.0, (-np.inf, "")
    for arm, rs in runs.items():
      rs = [r for r in rs if not r.get("diverged")]
      if not rs:
        continue
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
      ys = np.array([[b[step] for step in steps] for b in by_step])
      if key.endswith("top1"):
        ys = 100 * (1 - ys)
      epochs = np.array(steps) / rs[0]["steps_per_epoch"]
      # The median, not the mean: one seed that failed (stuck at chance) would otherwise
      # drag its arm's line far from every run it has; the band still shows that seed.
      middle = np.median(ys, 0)
      line, = ax.plot(epochs, middle, label=arm, marker="o" if n <= 20 else None,
                      markersize=3)
      medians_top = max(medians_top, float(middle.max()))
      if len(rs) > 1:
        ax.fill_between(epochs, ys.min(0), ys.max(0), color=line.get_color(), alpha=0.2)
        if ys.max() > bands_top[0]:
          bands_top = (float(ys.max()), arm)
    ax.set_xlabel("epoch")
    ax.set_ylabel(label)
    if "grad_norm" in key or (key == "train/top1" and any(
        _STEPS.match(c) for c in study.columns)):
      ax.set_yscale("log")
    elif bands_top[0] > 1.5 * medians_top > 0:
      # A band far above every line would squeeze the lines into a strip: cut it, and say so.
      ax.set_ylim(top=1.2 * medians_top)
      ax.set_title(f"band cut at the top: {bands_top[1]} reaches {bands_top[0]:.3g}",
                   fontsize=8)
    ax.grid(alpha=0.3)
  if axes[0][0].get_legend_handles_labels()[0]:
    axes[0][0].legend(fontsize=8)
  fig.suptitle(f"{study.title} (median over seeds; band: min-max)", fontsize=10)
  fig.tight_layout()
  return fig
