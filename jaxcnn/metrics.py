"""Metric sinks: WORKDIR/metrics.jsonl, TensorBoard event files, console progress.

tensorboardX writes the event files without importing TensorFlow (clu's writer
needs it), so the training process stays light.
"""

import json
import math
import os
import time

import numpy as np
from tensorboardX import summary as tb_summary
from tensorboardX.event_file_writer import EventsWriter
from tensorboardX.proto.event_pb2 import Event, SessionLog

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
      self._tb = _EventFile(os.path.join(workdir, "tensorboard"),
                            purge_step=resume_step + 1 if resume_step else None)

  def write(self, step: int, scalars: dict[str, float]) -> None:
    if not self.active:
      return
    row = {"step": int(step)}
    row.update({k: float(v) for k, v in scalars.items()})
    self._jsonl.write(json.dumps(row) + "\n")
    self._jsonl.flush()
    self._tb.write(step, scalars)

  def close(self) -> None:
    if self.active:
      try:
        self._jsonl.close()
      finally:
        self._tb.close()


class _EventFile:
  """TensorBoard scalars, written and flushed by the calling thread.

  tensorboardX's SummaryWriter writes from a thread of its own: there a full disk kills the
  thread with a traceback, and the run blocks once the thread's queue is full, instead of
  stopping with the error at the step that failed.
  """

  def __init__(self, logdir: str, purge_step: int | None):
    os.makedirs(logdir, exist_ok=True)
    self._events = EventsWriter(os.path.join(logdir, "events"))
    if purge_step:  # TensorBoard hides the earlier files' events from this step on.
      self._events.write_event(Event(step=purge_step, wall_time=time.time(),
                                     session_log=SessionLog(status=SessionLog.START)))
    self._events.flush()

  def write(self, step: int, scalars: dict[str, float]) -> None:
    now = time.time()
    for k, v in scalars.items():
      self._events.write_event(Event(step=int(step), wall_time=now,
                                     summary=tb_summary.scalar(k, float(v))))
    self._events.flush()

  def close(self) -> None:
    self._events.close()


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


# Per-step 0/1 flags of the train step, logged as counts over the window, not means.
COUNTS = {"nonfinite": "train/nonfinite_steps", "skipped": "train/skipped_steps"}


def train_scalars(host_history: list[dict]) -> dict[str, float]:
  """The logged scalars of a window of train-step metrics: means, and the counts of COUNTS."""
  scalars = {"train/" + k: float(np.mean([h[k] for h in host_history]))
             for k in host_history[0] if k not in COUNTS}
  scalars.update({name: float(sum(h[k] for h in host_history))
                  for k, name in COUNTS.items() if k in host_history[0]})
  return scalars


def first_nonfinite(host_history: list[dict], first_step: int):
  """(step, quantity) of the first step whose loss or gradients were NaN/Inf, else None."""
  for i, m in enumerate(host_history):
    if m["nonfinite"]:
      what = "loss" if not np.isfinite(m["loss"]) else "gradient norm"
      value = m["loss"] if what == "loss" else m["grad_norm"]
      return first_step + i + 1, f"{what} = {value}"
  return None


def eval_line(step: int, metrics: dict[str, float]) -> str:
  """The console line of an evaluation: the test split's figures, then the validation split's
  and the moving average's where there are."""
  parts = [(f"eval at step {step}: top1 {metrics['eval/top1']:.4f}  "
            f"top5 {metrics['eval/top5']:.4f}  loss {metrics['eval/loss']:.4f}")]
  for key, label in (("eval/ema_top1", "ema top1"), ("val/top1", "val top1"),
                     ("val/ema_top1", "val ema top1")):
    if key in metrics:
      parts.append(f"{label} {metrics[key]:.4f}")
  return "  ".join(parts)


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

