"""The training state: everything that decides the future of a run."""

from typing import Any

import jax
import optax
from flax.training import train_state


class TrainState(train_state.TrainState):
  """flax's TrainState (step, params, opt_state) plus batch_stats, rng and plateau.

  ``plateau`` holds the reduce-on-plateau bookkeeping whose ``scale`` multiplies
  every update; it stays 1 unless the schedule is "plateau".
  """
  batch_stats: Any
  rng: jax.Array
  plateau: optax.contrib.ReduceLROnPlateauState
