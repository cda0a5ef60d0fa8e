"""One run per workdir: an advisory lock on WORKDIR/.lock, held for the run's lifetime.

Two runs in one workdir would interleave their metrics and overwrite each other's checkpoints,
and each would resume from steps the other wrote; so a second run is refused at start, before
it writes anything. flock(2) locks belong to the open file, and the OS drops them when the
process ends however it ends: a SIGKILLed run leaves the file but never a stale lock. The file
is kept after the run (removing it would race with a run that has just opened it); its content
names the holder for the refusal message and means nothing while no one holds the lock.

In a multi-process run only process 0 takes the lock: the other processes share its workdir, so
they would only conflict with it. Every process learns whether process 0 got it.
On a filesystem without flock support the run goes on unlocked, with a warning.
"""

import datetime
import errno
import fcntl
import json
import os
import socket

from absl import logging
import jax
from jax.experimental import multihost_utils
import numpy as np

from jaxcnn.errors import UserError

LOCK_NAME = ".lock"
_UNSUPPORTED = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL)


class WorkdirLock:
  """The held lock: ``check()`` finds out whether the workdir is still the one locked, and
  ``release()`` (or the end of a ``with`` block) lets the next run in."""

  def __init__(self, workdir: str, fd: int | None):
    self.workdir, self.path, self._fd = workdir, os.path.join(workdir, LOCK_NAME), fd

  def check(self) -> None:
    """Raises UserError if the locked file is no longer at WORKDIR/.lock: the workdir was
    deleted, moved or replaced while the run used it, and what it writes next would go to
    files no one can find (open files survive their deletion) or to a new workdir."""
    if self._fd is None:
      return
    try:
      now = os.stat(self.path)
    except OSError:
      now = None
    held = os.fstat(self._fd)
    if now is None or (now.st_dev, now.st_ino) != (held.st_dev, held.st_ino):
      raise UserError(
          f"The workdir {self.workdir} was deleted, moved or replaced while this run used it "
          f"({self.path} is no longer the file this run locked), so the run stopped before "
          "writing more. Restore the workdir and re-run the same command to resume from its "
          "latest checkpoint, or re-run with a new --workdir to start afresh.")

  def release(self) -> None:
    if self._fd is not None:
      os.close(self._fd)  # Closing the file releases the lock.
      self._fd = None

  def __enter__(self) -> "WorkdirLock":
    return self

  def __exit__(self, *exc) -> None:
    self.release()


def acquire(workdir: str) -> WorkdirLock:
  """Locks ``workdir`` for this run (process 0), or raises UserError naming the holder.

  The workdir must exist. A refused run changes nothing in it: the lock file is opened without
  truncation and written only once the lock is held.
  """
  error, fd = None, None
  if jax.process_index() == 0:
    try:
      fd = _lock(workdir)
    except UserError as e:
      error = e
  if jax.process_count() > 1:
    ok = multihost_utils.broadcast_one_to_all(np.int32(error is None))
    if not ok and error is None:
      error = UserError(f"Process 0 could not lock the workdir {workdir}; its message says "
                        "why. Nothing in the workdir was changed.")
  if error is not None:
    raise error
  return WorkdirLock(workdir, fd)


def _lock(workdir: str) -> int | None:
  path = os.path.join(workdir, LOCK_NAME)
  try:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
  except OSError as e:
    raise UserError(f"Cannot open the lock file {path} ({e.strerror}). Choose a writable "
                    "--workdir.") from e
  try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except OSError as e:
    if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
      holder = _describe(_read(fd))
      os.close(fd)
      raise UserError(
          f"The workdir {workdir} is in use by another run ({holder}; from {path}). Wait for "
          "that run to finish, stop it, or pass another --workdir. Nothing in the workdir was "
          "changed.") from None
    os.close(fd)
    if e.errno in _UNSUPPORTED:
      logging.warning("The filesystem of %s does not support flock (%s): this run does not "
                      "lock it; make sure no other run uses it.", workdir, e.strerror)
      return None
    raise UserError(f"Cannot lock {path} ({e.strerror}). Choose another --workdir.") from e
  started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
  line = json.dumps({"host": socket.gethostname(), "pid": os.getpid(),
                     "started": started.replace("+00:00", "Z")}) + "\n"
  try:
    os.ftruncate(fd, 0)
    os.pwrite(fd, line.encode(), 0)
  except OSError as e:
    os.close(fd)
    raise UserError(f"Cannot write the lock file {path} ({e.strerror}). Choose a writable "
                    "--workdir.") from e
  return fd


def _read(fd: int) -> str:
  try:
    return os.pread(fd, 4096, 0).decode(errors="replace")
  except OSError:
    return ""


def _describe(text: str) -> str:
  """The holder as a phrase: host, pid and start time, from the lock file's JSON line."""
  try:
    holder = json.loads(text)
    return (f"host {holder['host']}, pid {holder['pid']}, started {holder['started']}")
  except (ValueError, KeyError, TypeError):
    return ("its lock file names no holder yet" if not text.strip()
            else f"holder: {' '.join(text.split())[:200]}")
