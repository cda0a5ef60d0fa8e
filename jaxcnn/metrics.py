"""Metric sinks: WORKDIR/metrics.jsonl, TensorBoard event files, console progress.

tensorboardX writes the event files without importing TensorFlow (clu's writer
needs it), so the training process stays light.
"""

import json
import math
import os
import time

from absl import logging
import numpy as np
import tensorboardX


class MetricWriter:
  """Writes scalars to metrics.jsonl and TensorBoard; only process 0 opens files."""

  def __init__(self, workdir: str, active: bool = True):
    self.active = active
    if active:
      os.makedirs(workdir, exist_ok=True)
      self._jsonl = open(os.path.join(workdir, "metrics.jsonl"), "a")
      self._tb = tensorboardX.SummaryWriter(os.path.join(workdir, "tensorboard"))

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


def mean_metrics(history: list[dict]) -> dict[str, float]:
  """Means over steps of per-step device metrics, fetched in one transfer."""
  import jax  # Local: keeps this module importable without initialising JAX.
  host = jax.device_get(history)
  return {k: float(np.mean([h[k] for h in host])) for k in host[0]}


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


def log(msg: str) -> None:
  logging.info(msg)
