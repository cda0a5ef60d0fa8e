"""config.profile_steps: a jax.profiler trace of some training steps, for TensorBoard.

The trace goes to WORKDIR/profile (plugins/profile/RUN/HOST.xplane.pb), which TensorBoard's
profile plugin shows (`tensorboard --logdir=WORKDIR/profile`, with tensorboard-plugin-profile
installed). Each process traces its own devices.
"""

import jax

from jaxcnn.errors import UserError


class StepTrace:
  """Starts tracing before step ``start`` (counted from 0) and stops after step ``stop - 1``;
  steps () trace nothing. A run resumed past ``start`` traces nothing."""

  def __init__(self, steps, logdir: str):
    self.window = tuple(steps)
    self.logdir = logdir
    self.tracing = False

  def before(self, step: int) -> None:
    if self.window and step == self.window[0]:
      try:
        jax.profiler.start_trace(self.logdir)
      except Exception as e:  # No profiler in this jaxlib, or another trace running.
        raise UserError(f"config.profile_steps={self.window}: the profiler cannot start "
                        f"({type(e).__name__}: {e}). Set --config.profile_steps='()' to "
                        "train without it.") from e
      self.tracing = True

  def after(self, step: int, outputs) -> None:
    if self.tracing and step + 1 == self.window[1]:
      jax.block_until_ready(outputs)  # The traced steps' device work, complete.
      self.close()

  def close(self) -> None:
    if self.tracing:
      self.tracing = False
      jax.profiler.stop_trace()
