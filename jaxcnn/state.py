"""The training state: everything that decides the future of a run."""

from typing import Any

import jax
import optax
from flax import struct
from flax.training import train_state


class TrainState(train_state.TrainState):
  """flax's TrainState (step, params, opt_state) plus batch_stats, rng, plateau, ema and
  loss_scale.

  ``plateau`` holds the reduce-on-plateau bookkeeping whose ``scale`` multiplies
  every update; it stays 1 unless the schedule is "plateau". ``ema`` is the moving average
  {"params", "batch_stats"} of config.ema_decay, ``loss_scale`` float16's
  jaxcnn.loss_scale.LossScale; each is {} when off (no leaves: the checkpoints of runs
  without them keep their layout).
  """
  batch_stats: Any
  rng: jax.Array
  plateau: optax.contrib.ReduceLROnPlateauState
  ema: Any = struct.field(default_factory=dict)
  loss_scale: Any = struct.field(default_factory=dict)

  def averaged(self) -> "TrainState":
    """The state with the moving average in place of the parameters and statistics."""
    return self.replace(params=self.ema["params"], batch_stats=self.ema["batch_stats"])
