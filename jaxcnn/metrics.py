"""Metric sinks: WORKDIR/metrics.jsonl, TensorBoard event files, console progress.

tensorboardX writes the event files without importing TensorFlow (clu's writer
needs it), so the training process stays light.
"""

import json
import math
import os
import time

import tensorboardX

from jaxcnn import fileio


class MetricWriter:
  """Writes scalars to metrics.jsonl and TensorBoard; only process 0 opens files."""

  def __init__(self, workdir: str, active: bool = True, resume_step: int = 0):
    """Rows after ``resume_step`` (left by an interrupted run) are dropped: the resumed run
    recomputes those steps exactly and writes them again."""
    self.active = active
    if active:
      os.makedirs(workdir, exist_ok=True)
      path = os.path.join(workdir, "metrics.jsonl")
      _truncate_after(path, resume_step)
      self._jsonl = open(path, "a")
      self._tb = tensorboardX.SummaryWriter(os.path.join(workdir, "tensorboard"),
                                            purge_step=resume_step + 1 if resume_step else None)

  def write(self, step: int, scalars: dict[str, float]) -> None:
    if not self.active:
      return
    row = {"step": int(step)}
    row.update({k: float(v) for k, v in scalars.items()})
    self._jsonl.write(json.dumps(row) + "\n")
    self._jsonl.flush()
    for k, v in scalars.items():
      self._tb.add_scalar(k, float(v), int(step))
    self._tb.flush()

  def close(self) -> None:
    if self.active:
      self._jsonl.close()
      self._tb.close()


def _truncate_after(path: str, step: int) -> None:
  if not os.path.exists(path):
    return
  with open(path) as f:
    lines = f.readlines()
  keep = []
  for line in lines:
    try:
      if json.loads(line)["step"] <= step:
        keep.append(line)
    except (ValueError, KeyError):
      continue  # A line cut short by a kill.
  if len(keep) != len(lines):
    fileio.atomic_write(path, lambda f: f.writelines(keep))


class Progress:
  """Console progress: epoch, step, throughput and ETA."""

  def __init__(self, total_steps: int, steps_per_epoch: int, global_batch: int, start_step: int):
    self.total, self.per_epoch, self.batch = total_steps, steps_per_epoch, global_batch
    self._t, self._step = time.perf_counter(), start_step

  def rate(self, step: int) -> float:
    """Images/s since the last call; resets the interval."""
    now = time.perf_counter()
    rate = (step - self._step) * self.batch / max(now - self._t, 1e-9)
    self._t, self._step = now, step
    return rate

  def line(self, step: int, images_per_s: float, scalars: dict[str, float]) -> str:
    eta_s = (self.total - step) * self.batch / max(images_per_s, 1e-9)
    epoch = step / self.per_epoch
    return (f"epoch {epoch:6.2f}  step {step}/{self.total}  "
            f"loss {scalars['train/loss']:.4f}  top1 {scalars['train/top1']:.4f}  "
            f"lr {scalars['train/learning_rate']:.4g}  {images_per_s:,.0f} img/s  "
            f"ETA {_hms(eta_s)}")


def _hms(seconds: float) -> str:
  if not math.isfinite(seconds):
    return "?"
  s = int(seconds)
  return f"{s // 3600:d}:{s % 3600 // 60:02d}:{s % 60:02d}"

