"""One run per workdir, a workdir that fails under a running job (full disk), and runs killed or
stopped while an asynchronous save is being written, end to end."""

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


def shim(step, action, *, once=False):
  """A trainer command line whose Orbax writes of the arrays of the checkpoint at ``step`` (its
  temporary directory already made) first run ``action``: the first write alone if ``once``."""
  return [sys.executable, "-c", textwrap.dedent(f"""
      import asyncio, json, runpy, sys
      from orbax.checkpoint._src.serialization import serialization
      real, done = serialization.async_serialize_from_host, []
      async def shimmed(rslices, spec, **kwargs):
        if "/{step}.orbax-checkpoint-tmp" in json.dumps(spec, default=str) and not (
            {once} and done):
          done.append(1)
          {action}
        return await real(rslices, spec, **kwargs)
      serialization.async_serialize_from_host = shimmed
      sys.argv = ["jaxcnn.main"] + sys.argv[1:]
      runpy.run_module("jaxcnn.main", run_name="__main__", alter_sys=True)
  """)]


# Where no tmpfs can be mounted: TensorStore's own error for a full disk.
ENOSPC_SHIM = shim(FAIL_STEP, 'raise ValueError("RESOURCE_EXHAUSTED: Error writing local file: '
                   'Failed to write 4096 bytes to file 12: No space left on device '
                   '[os_error_code=\'28\']")')


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
      args = ENOSPC_SHIM + args[3:]
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


def logged_steps(workdir):
  """The steps of metrics.jsonl's complete rows."""
  try:
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
      return [json.loads(line)["step"] for line in f if line.endswith("\n")]
  except FileNotFoundError:
    return []


def wait_until(proc, condition, timeout=300):
  deadline = time.time() + timeout
  while proc.poll() is None and time.time() < deadline and not condition():
    time.sleep(0.005)
  return condition()


def test_a_sigkill_during_an_asynchronous_save_resumes_bitwise(reference, tmp_path, data_dir):
  workdir = str(tmp_path / "run")
  in_flight = os.path.join(workdir, "checkpoints", f"{FAIL_STEP}.orbax-checkpoint-tmp")
  # The save at FAIL_STEP never ends; training goes on until the next save waits for it.
  proc = subprocess.Popen(shim(FAIL_STEP, "await asyncio.sleep(3600)") +
                          command(workdir, data_dir)[3:], cwd=REPO,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  try:
    assert wait_until(proc, lambda: os.path.isdir(in_flight) and
                      FAIL_STEP + EVERY in logged_steps(workdir)), "the save never started"
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
  finally:
    if proc.poll() is None:
      proc.kill()
  # Killed with the save in flight: its temporary directory, and no step directory.
  assert checkpoint_dirs(workdir) == [str(EVERY), f"{FAIL_STEP}.orbax-checkpoint-tmp"]
  resumed = run(command(workdir, data_dir))
  assert resumed.returncode == 0, resumed.stderr
  assert f"Resuming from the checkpoint at step {EVERY}" in resumed.stdout
  assert_same_final_params(workdir, reference)
  assert train_rows(workdir) == train_rows(reference)


def test_sigterm_during_an_asynchronous_save_waits_for_it(reference, tmp_path, data_dir):
  workdir = str(tmp_path / "run")
  ckpt = os.path.join(workdir, "checkpoints")
  proc = subprocess.Popen(shim(FAIL_STEP, "await asyncio.sleep(2)", once=True) +
                          command(workdir, data_dir)[3:], cwd=REPO, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
  try:
    assert wait_until(proc, lambda: os.path.isdir(os.path.join(
        ckpt, f"{FAIL_STEP}.orbax-checkpoint-tmp"))), "the save never started"
    proc.send_signal(signal.SIGTERM)
    during = not os.path.isdir(os.path.join(ckpt, str(FAIL_STEP)))
    out, err = proc.communicate(timeout=300)
  finally:
    if proc.poll() is None:
      proc.kill()
  assert during, "the save had finished before the signal"
  assert proc.returncode == 0, err
  stopped = int(re.search(r"Received SIGTERM: saved the checkpoint at step (\d+)", out)[1])
  assert stopped > FAIL_STEP
  # Both saves are committed and whole: no temporary directory is left.
  dirs = checkpoint_dirs(workdir)
  assert all(d.isdigit() for d in dirs) and {str(FAIL_STEP), str(stopped)} <= set(dirs), dirs
  saved = ocp.StandardCheckpointer().restore(os.path.join(ckpt, str(FAIL_STEP), "state"))
  assert int(saved["step"]) == FAIL_STEP
  resumed = run(command(workdir, data_dir))
  assert resumed.returncode == 0, resumed.stderr
  assert f"Resuming from the checkpoint at step {stopped}" in resumed.stdout
  assert_same_final_params(workdir, reference)


def test_synchronous_saves_train_the_same_bits(reference, tmp_path, data_dir):
  with open(os.path.join(reference, "config.json")) as f:
    assert json.load(f)["checkpoint_async"]  # The reference saved asynchronously.
  workdir = str(tmp_path / "run")
  result = run(command(workdir, data_dir, "--config.checkpoint_async=false"))
  assert result.returncode == 0, result.stderr
  assert checkpoint_dirs(workdir) == checkpoint_dirs(reference)
  assert_same_final_params(workdir, reference)
  assert train_rows(workdir) == train_rows(reference)


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
