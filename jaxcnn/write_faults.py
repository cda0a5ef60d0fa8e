"""A write to the workdir that the filesystem refuses (full, read-only, no permission, deleted)
becomes one paragraph that says what failed, where, and from which step the run can resume.

Such a failure is not a bug, and a traceback from deep inside Orbax or TensorStore does not say
what to do. Orbax reports it in several shapes (an OSError, or a ValueError whose message holds
TensorStore's status, such as RESOURCE_EXHAUSTED ... [os_error_code='28']), so it is recognised
by the exception chain and the message. The worker threads of a failed save also report it, once
each, as they wind down; those reports are dropped, the paragraph says it once. A save that goes
on in a background thread counts as under way until it is waited for (``background_write``):
its failure is reported by the wait, as the save's.
"""

import contextlib
import dataclasses
import errno
import logging
import os
import re
import sys
from typing import Callable, Iterator

from jaxcnn.errors import UserError

_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOENT)
# Phrases in wrapped errors' messages; RESOURCE_EXHAUSTED only counts when it is not memory.
_PHRASES = ((re.compile(r"No space left on device"), errno.ENOSPC),
            (re.compile(r"Disk quota exceeded"), errno.EDQUOT),
            (re.compile(r"Read-only file system"), errno.EROFS),
            (re.compile(r"Permission denied|PERMISSION_DENIED"), errno.EACCES),
            (re.compile(r"Operation not permitted"), errno.EPERM),
            (re.compile(r"No such file or directory"), errno.ENOENT))
_OS_ERROR_CODE = re.compile(r"os_error_code='?(\d+)")

_ADVICE = {
    errno.ENOSPC: "Free space on the workdir's filesystem (or copy the workdir to one with room "
                  "and pass that --workdir)",
    errno.EDQUOT: "Free space within the quota (or raise it)",
    errno.EACCES: "Make the workdir writable again for this user",
    errno.EPERM: "Make the workdir writable again for this user",
    errno.EROFS: "Remount the workdir's filesystem read-write",
    errno.ENOENT: "Part of the workdir was deleted while the run used it; restore it (or pass a "
                  "new --workdir to start afresh)",
}


class WriteFailed(UserError):
  """A write to the workdir failed for a reason outside the program (see the module doc)."""


@dataclasses.dataclass(frozen=True)
class Fault:
  errno: int

  @property
  def reason(self) -> str:
    return os.strerror(self.errno).lower()


def classify(exc: BaseException) -> Fault | None:
  """The filesystem fault behind ``exc`` (its chain and groups included), or None."""
  seen, todo = set(), [exc]
  while todo:
    e = todo.pop()
    if e is None or id(e) in seen:
      continue
    seen.add(id(e))
    if isinstance(e, OSError) and e.errno in _ERRNOS:
      return Fault(e.errno)
    text = str(e)
    code = _OS_ERROR_CODE.search(text)
    if code and int(code.group(1)) in _ERRNOS:
      return Fault(int(code.group(1)))
    for phrase, number in _PHRASES:
      if phrase.search(text):
        return Fault(number)
    if "RESOURCE_EXHAUSTED" in text and "memory" not in text.lower():
      return Fault(errno.ENOSPC)
    todo.extend([e.__cause__, e.__context__, *getattr(e, "exceptions", ())])
  return None


@contextlib.contextmanager
def reported(what: str, path: str, last_good: Callable[[], int | None]) -> Iterator[None]:
  """Turns a filesystem fault inside the block into WriteFailed, naming ``what`` failed (e.g.
  "Saving the checkpoint at step 20"), ``path`` and ``last_good()``, the step to resume from."""
  _install_filters()
  _quiet["blocks"] += 1
  try:
    yield
  except Exception as e:
    fault = None if isinstance(e, WriteFailed) else classify(e)
    if fault is None:
      raise
    _quiet["after_fault"] = True
    try:
      step = last_good()
    except Exception:  # The checkpoints may have gone with the workdir.
      step = None
    resume = (f"The last good checkpoint is step {step}: re-run the same command to resume "
              f"from it" if step is not None else
              "No checkpoint was completed: re-running starts from the beginning")
    raise WriteFailed(f"{what} failed: {fault.reason} ({path}). {_ADVICE[fault.errno]}. "
                      f"{resume}.") from e
  finally:
    _quiet["blocks"] -= 1


def background_write(started: bool) -> None:
  """Marks a write going on in a background thread as under way (``started``) or waited for."""
  _install_filters()
  _quiet["blocks"] += 1 if started else -1


# While a write is under way, and once one has failed, the background threads' own reports of
# a fault are dropped: logged errors that carry one (Orbax's worker threads, asyncio's tasks
# nobody awaited) and the unraisable "Event loop is closed" of TensorStore callbacks that
# complete writes abandoned by the failed save.
_quiet = {"blocks": 0, "after_fault": False}


def _quieting() -> bool:
  return _quiet["blocks"] > 0 or _quiet["after_fault"]


class _DropFaultReports(logging.Filter):

  def filter(self, record: logging.LogRecord) -> bool:
    exc = record.exc_info[1] if record.exc_info else None
    return exc is None or not _quieting() or classify(exc) is None


_FILTER = _DropFaultReports()


def _install_filters() -> None:
  for name in ("absl", "asyncio"):
    logger = logging.getLogger(name)
    if _FILTER not in logger.filters:
      logger.addFilter(_FILTER)
  previous = sys.unraisablehook
  if getattr(previous, "drops_fault_reports", False):
    return

  def hook(unraisable):
    exc = unraisable.exc_value
    if _quieting() and exc is not None and (
        (isinstance(exc, RuntimeError) and "Event loop is closed" in str(exc))
        or classify(exc) is not None):
      return
    previous(unraisable)

  hook.drops_fault_reports = True
  sys.unraisablehook = hook
