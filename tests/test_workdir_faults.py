"""One run per workdir, and a workdir that fails under a running job (full disk), end to end."""

import errno
import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import orbax.checkpoint as ocp
import pytest

from jaxcnn import write_faults
from tests.test_reliability import run, train_rows  # The same trainer runs and metrics rows.

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS, EVERY = 24, 4
FAIL_STEP = 2 * EVERY  # The first checkpoint is written; the second meets a full disk.


def command(workdir, data_dir, *extra):
  return [sys.executable, "-m", "jaxcnn.main", "--config=configs/lenet5.py:tiny",
          f"--workdir={workdir}", f"--config.data_dir={data_dir}", "--config.batch_size=32",
          "--config.eval_batch_size=128", f"--config.num_train_steps={STEPS}",
          f"--config.checkpoint_every_steps={EVERY}", f"--config.log_every_steps={EVERY}",
          "--config.eval_every_epochs=100", *extra]


def leaves(tree):
  if isinstance(tree, dict):
    for k in sorted(tree):
      yield from leaves(tree[k])
  else:
    yield np.asarray(tree)


def assert_same_final_params(workdir, reference):
  ours, theirs = [ocp.StandardCheckpointer().restore(
      os.path.join(w, "checkpoints", str(STEPS), "state"))["params"] for w in (workdir, reference)]
  for a, b in zip(leaves(ours), leaves(theirs), strict=True):
    np.testing.assert_array_equal(a, b)  # Bitwise.


def checkpoint_dirs(workdir):
  return sorted(os.listdir(os.path.join(workdir, "checkpoints")))


def contents(workdir):
  """Every file in the workdir with its bytes."""
  out = {}
  for dirpath, _, files in os.walk(workdir):
    for name in files:
      path = os.path.join(dirpath, name)
      with open(path, "rb") as f:
        out[os.path.relpath(path, workdir)] = f.read()
  return out


@pytest.fixture(scope="module")
def reference(tmp_path_factory, data_dir):
  """An uninterrupted run."""
  workdir = str(tmp_path_factory.mktemp("reference") / "run")
  result = run(command(workdir, data_dir))
  assert result.returncode == 0, result.stderr
  return workdir


def test_a_second_run_on_a_locked_workdir_is_refused_and_changes_nothing(reference, tmp_path,
                                                                         data_dir):
  workdir = str(tmp_path / "run")
  shutil.copytree(reference, workdir)
  fd = os.open(os.path.join(workdir, ".lock"), os.O_RDWR | os.O_CREAT)
  try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.ftruncate(fd, 0)
    os.write(fd, b'{"host": "node-17", "pid": 4242, "started": "2025-01-02T03:04:05Z"}\n')
    before = contents(workdir)
    result = run(command(workdir, data_dir))
    assert contents(workdir) == before
  finally:
    os.close(fd)
  assert result.returncode == 1, result.stderr
  assert "Traceback" not in result.stderr
  assert (f"error: The workdir {workdir} is in use by another run (host node-17, pid 4242, "
          "started 2025-01-02T03:04:05Z") in result.stderr, result.stderr
  assert "another --workdir" in result.stderr
  assert result.stdout == ""  # Refused before set-up.


def test_a_sigkilled_run_leaves_no_lock_that_blocks_the_next(reference, tmp_path, data_dir):
  workdir = str(tmp_path / "run")
  proc = subprocess.Popen(command(workdir, data_dir), cwd=REPO, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
  first = os.path.join(workdir, "checkpoints", str(EVERY))
  deadline = time.time() + 300
  while proc.poll() is None and time.time() < deadline and not os.path.isdir(first):
    time.sleep(0.005)
  proc.send_signal(signal.SIGKILL)
  assert proc.wait() == -signal.SIGKILL, "the run ended before it could be killed"
  with open(os.path.join(workdir, ".lock")) as f:
    assert json.load(f)["pid"] == proc.pid  # The file stays; the lock went with the process.
  result = run(command(workdir, data_dir))
  assert result.returncode == 0, result.stderr
  assert re.search(r"Resuming from the checkpoint at step \d+", result.stdout), result.stdout
  assert_same_final_params(workdir, reference)


def pages(path):
  """Bytes a tmpfs gives the files under ``path``: whole pages per file."""
  page, total = os.sysconf("SC_PAGE_SIZE"), 0
  for dirpath, _, files in os.walk(path):
    for name in files:
      total += -(-os.path.getsize(os.path.join(dirpath, name)) // page) * page
  return total


def mount_tmpfs(path, size_bytes) -> bool:
  if os.geteuid() != 0 or not shutil.which("mount"):
    return False
  os.makedirs(path, exist_ok=True)
  result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={-(-size_bytes // 1024)}k",
                           "tmpfs", path], capture_output=True)
  return result.returncode == 0


# Where no tmpfs can be mounted: TensorStore's own error for a full disk, raised where Orbax
# writes the arrays of the checkpoint at FAIL_STEP (its temporary directory already made).
ENOSPC_SHIM = textwrap.dedent(f"""
    import json, runpy, sys
    from orbax.checkpoint._src.serialization import serialization
    real = serialization.async_serialize_from_host
    async def full_disk(rslices, spec, **kwargs):
      if "/{FAIL_STEP}.orbax-checkpoint-tmp" in json.dumps(spec, default=str):
        raise ValueError("RESOURCE_EXHAUSTED: Error writing local file: Failed to write 4096 "
                         "bytes to file 12: No space left on device [os_error_code='28']")
      return await real(rslices, spec, **kwargs)
    serialization.async_serialize_from_host = full_disk
    sys.argv = ["jaxcnn.main"] + sys.argv[1:]
    runpy.run_module("jaxcnn.main", run_name="__main__", alter_sys=True)
""")


def test_a_full_disk_stops_with_one_paragraph_and_the_next_run_resumes_bitwise(
    reference, tmp_path, data_dir):
  # Room for the workdir's other files at their largest, one checkpoint and half another.
  ckpt_root = os.path.join(reference, "checkpoints")
  checkpoint = max(pages(os.path.join(ckpt_root, d)) for d in os.listdir(ckpt_root))
  others = pages(reference) - pages(ckpt_root)
  disk = str(tmp_path / "disk")
  mounted = mount_tmpfs(disk, others + checkpoint + checkpoint // 2)
  try:
    workdir = os.path.join(disk, "run")
    args = command(workdir, data_dir)
    if not mounted:
      os.makedirs(disk, exist_ok=True)
      args = [sys.executable, "-c", ENOSPC_SHIM] + args[3:]
    result = run(args)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    paragraph = result.stderr.strip().splitlines()[-1]
    assert re.fullmatch(
        rf"error: Saving the checkpoint at step {FAIL_STEP} failed: no space left on device "
        rf"\({re.escape(workdir)}/checkpoints/{FAIL_STEP}\)\. Free space .*\. The last good "
        rf"checkpoint is step {EVERY}: re-run the same command to resume from it\.",
        paragraph), result.stderr
    # Only Orbax's temporary directory holds the failed save, and Orbax ignores it.
    dirs = checkpoint_dirs(workdir)
    assert dirs[0] == str(EVERY), dirs
    assert dirs[1:] and all(d.startswith(f"{FAIL_STEP}.orbax-checkpoint-tmp") for d in dirs[1:])
    if mounted:  # The disk has room again.
      subprocess.run(["mount", "-o", "remount,size=256m", disk], check=True)
    resumed = run(command(workdir, data_dir))
    assert resumed.returncode == 0, resumed.stderr
    assert f"Resuming from the checkpoint at step {EVERY}" in resumed.stdout
    assert_same_final_params(workdir, reference)
    assert train_rows(workdir) == train_rows(reference)
  finally:
    if mounted:
      subprocess.run(["umount", disk], check=True)


def test_a_failed_metrics_write_stops_with_the_last_good_step(config, tmp_path, monkeypatch):
  from jaxcnn import metrics
  from jaxcnn import train
  write = metrics.MetricWriter.write

  def full_disk(self, step, scalars):
    if step >= 8:
      raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "metrics.jsonl")
    write(self, step, scalars)
  monkeypatch.setattr(metrics.MetricWriter, "write", full_disk)
  workdir = str(tmp_path / "run")
  with pytest.raises(write_faults.WriteFailed, match=(
      r"Writing the metrics of step 8 failed: no space left on device \(.*metrics\.jsonl\)\. "
      r".*The last good checkpoint is step 4")):
    train.train_and_evaluate(config, workdir)
  # The lock went with the run: the same workdir can be used again at once.
  monkeypatch.setattr(metrics.MetricWriter, "write", write)
  assert train.train_and_evaluate(config, workdir)["eval/count"] > 0


@pytest.mark.parametrize("exc, number", [
    (OSError(errno.ENOSPC, "No space left on device"), errno.ENOSPC),
    (PermissionError(errno.EACCES, "Permission denied"), errno.EACCES),
    (ValueError("RESOURCE_EXHAUSTED: Error writing local file \"/w/x\": Failed to write 398 "
                "bytes to file 12: No space left on device [os_error_code='28']"), errno.ENOSPC),
    (ValueError("PERMISSION_DENIED: Error opening file \"/w/x\" [os_error_code='13']"),
     errno.EACCES),
    (RuntimeError("RESOURCE_EXHAUSTED: quota"), errno.ENOSPC),
    (RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 8GiB."), None),
    (ValueError("shapes differ"), None),
    (FileExistsError(errno.EEXIST, "File exists"), None),
])
def test_filesystem_faults_are_recognised_however_wrapped(exc, number):
  try:
    try:
      raise exc
    except Exception as inner:
      raise RuntimeError("save failed") from inner
  except RuntimeError as outer:
    fault = write_faults.classify(outer)
  assert (fault.errno if fault else None) == number
