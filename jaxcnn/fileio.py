"""Files written whole or not at all: a reader (or a run resumed after a kill) sees either
the previous content or the new, never a part."""

import os
from typing import Callable, IO


def atomic_write(path: str, write: Callable[[IO], None], mode: str = "w") -> None:
  """Calls ``write(f)`` on a temporary file beside ``path``, then renames it over ``path``.

  The temporary name carries the process id, so concurrent writers never share one."""
  tmp = f"{path}.{os.getpid()}.tmp"
  try:
    with open(tmp, mode) as f:
      write(f)
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)


def atomic_write_text(path: str, text: str) -> None:
  atomic_write(path, lambda f: f.write(text))
