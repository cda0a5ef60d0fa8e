"""One JSON record per finished run, and the code version that trained it.

A record names the *code version*: the last commit that changed the code that trains
(``jaxcnn/`` and ``configs/``), not merely HEAD, so commits to the README, the tests or the
reports leave every run valid. What the study file contributes to a run, its arm's config, is
stored whole in the record (``config_values``) and compared with what the arm builds now.
A study's table is written only from records of one code version and of today's configs.
"""

import functools
import json
import os
import re
import subprocess

from experiments.study import REPO, Arm, Study

RESULTS = os.path.join(REPO, "experiments", "results")
CODE_PATHS = ("jaxcnn", "configs")


def record_path(results_dir: str, study: str, arm: Arm, seed: int) -> str:
  return os.path.join(results_dir, study, f"{arm.slug}-seed{seed}.json")


def read(results_dir: str, study: Study) -> dict:
  """{(arm name, seed): record} for the runs that have one."""
  out = {}
  for arm in study.arms:
    for seed in study.seeds:
      path = record_path(results_dir, study.name, arm, seed)
      if os.path.exists(path):
        with open(path) as f:
          out[arm.name, seed] = json.load(f)
  return out


def write(results_dir: str, study: str, arm: Arm, seed: int, record: dict) -> None:
  """Writes the record whole or not at all."""
  from jaxcnn import fileio
  path = record_path(results_dir, study, arm, seed)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  fileio.atomic_write_text(path, json.dumps(record, indent=1))


def _git(*args: str) -> str:
  return subprocess.run(["git", *args], cwd=REPO, text=True, capture_output=True,
                        check=True).stdout.strip()


def code_version() -> str:
  """The short hash of the last commit that changed jaxcnn/ or configs/, with "+dirty" when
  the working tree changes them; $JAXCNN_CODE_VERSION where set (a copy of the tree whose
  .git is not its own); "unknown" without git."""
  if os.environ.get("JAXCNN_CODE_VERSION"):
    return os.environ["JAXCNN_CODE_VERSION"]
  try:
    version = _git("log", "-1", "--format=%h", "--", *CODE_PATHS)
    dirty = _git("status", "--porcelain", "--untracked-files=no", "--", *CODE_PATHS)
  except (OSError, subprocess.CalledProcessError):
    return "unknown"
  return version + ("+dirty" if dirty else "")


@functools.lru_cache(maxsize=None)
def code_version_at(commit: str) -> str:
  """The code version of a commit (for records written before they named one)."""
  try:
    return _git("log", "-1", "--format=%h", commit, "--", *CODE_PATHS) or "unknown"
  except (OSError, subprocess.CalledProcessError):
    return "unknown"


def version_of(record: dict) -> str:
  return record.get("code_version") or code_version_at(record.get("commit", "unknown"))


def device_kind(record: dict) -> str:
  """The kind of device a run trained on, whatever their number: "cpu", "NVIDIA H200"."""
  return re.sub(r"^\d+ x ", "", record.get("device", "cpu"))


def config_changes(record: dict, now: dict) -> list:
  """The config fields whose recorded value differs from what the arm builds now (fields
  added to jaxcnn since the run, which the record lacks, are left out)."""
  return _changed(record.get("config_values", {}), now)


def same_config(then: dict, now: dict) -> bool:
  """Whether two configs agree on every field (neither has one the other lacks)."""
  return not _changed(then, now) and not _changed(now, then)


def _changed(then: dict, now: dict, prefix: str = "") -> list:
  out = []
  for key, value in then.items():
    if isinstance(value, dict) and isinstance(now.get(key), dict):
      out += _changed(value, now[key], f"{prefix}{key}.")
    elif key not in now or now[key] != value:
      out.append((prefix + key, value, now.get(key, "<absent>")))
  return out


def relative(path: str) -> str:
  """``path`` relative to the repository when it lies inside it, else absolute."""
  rel = os.path.relpath(os.path.abspath(path), REPO)
  return os.path.abspath(path) if rel.startswith("..") else rel
