"""Stopping at a step boundary on SIGTERM/SIGINT, agreed by every process."""

import signal
import threading


class StopRequest:
  """Records SIGTERM/SIGINT; ``should_stop(step)`` is True on every process at the same step.

  One process: the signal handler sets a flag. Several processes: JAX's preemption
  sync manager (started by jax.distributed.initialize) catches SIGTERM and
  ``reached_preemption_sync_point`` makes all processes stop at one agreed step.
  A second SIGINT interrupts at once, as usual.
  """

  def __init__(self):
    self.signal_name: str | None = None
    self._previous = {}
    if threading.current_thread() is threading.main_thread():
      for sig in (signal.SIGTERM, signal.SIGINT):
        self._previous[sig] = signal.signal(sig, self._handle)

  def _handle(self, signum, frame):
    if self.signal_name is not None and signum == signal.SIGINT:
      raise KeyboardInterrupt
    self.signal_name = signal.Signals(signum).name

  def should_stop(self, step: int) -> bool:
    import jax  # Here, so that main can install the handlers before importing JAX.
    from jax.experimental import multihost_utils
    if jax.process_count() > 1:
      if multihost_utils.reached_preemption_sync_point(step):
        self.signal_name = self.signal_name or "SIGTERM"
        return True
      return False
    return self.signal_name is not None

  def restore_handlers(self) -> None:
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)
    self._previous = {}
