"""Crashes, preemption, damaged checkpoints, non-finite values and bad input, end to end."""

import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import orbax.checkpoint as ocp
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = 160


def command(workdir, data_dir, *extra):
  return [sys.executable, "-m", "jaxcnn.main", "--config=configs/lenet5.py:tiny",
          f"--workdir={workdir}", f"--config.data_dir={data_dir}", "--config.batch_size=32",
          "--config.eval_batch_size=128", f"--config.num_train_steps={STEPS}",
          "--config.checkpoint_every_steps=10", "--config.log_every_steps=20",
          "--config.eval_every_epochs=2", *extra]


def run(args, timeout=600):
  return subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=timeout)


def final_params(workdir):
  path = os.path.join(workdir, "checkpoints", str(STEPS), "state")
  return ocp.StandardCheckpointer().restore(path)["params"]


def train_rows(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    rows = [json.loads(line) for line in f]
  return [{k: v for k, v in r.items() if k != "train/images_per_s"} for r in rows]


def latest_checkpoint(workdir) -> int:
  root = os.path.join(workdir, "checkpoints")
  steps = [int(d) for d in os.listdir(root) if d.isdigit()] if os.path.isdir(root) else []
  return max(steps, default=-1)


def fingerprint(workdir):
  """Every file under checkpoints/ with its size and content hash."""
  out = {}
  root = os.path.join(workdir, "checkpoints")
  for dirpath, _, files in os.walk(root):
    for name in files:
      path = os.path.join(dirpath, name)
      with open(path, "rb") as f:
        out[os.path.relpath(path, root)] = hashlib.sha256(f.read()).hexdigest()
  return out


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, data_dir):
  """An uninterrupted run: the reference, and the template for damaged-checkpoint tests."""
  workdir = str(tmp_path_factory.mktemp("ref") / "run")
  result = run(command(workdir, data_dir))
  assert result.returncode == 0, result.stderr
  return workdir


def copy_run(src, tmp_path):
  dst = str(tmp_path / "run")
  shutil.copytree(src, dst)
  return dst


def kill_repeatedly(args, workdir, rng, times=3):
  """Starts the run of ``args`` and SIGKILLs it mid-training, up to ``times`` times; returns
  how many kills landed before it finished."""
  kills = 0
  for _ in range(12):
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    # Each kill lands mid-training, wherever the run has got to, however fast it steps: once
    # this attempt has written a checkpoint of its own, after a random delay.
    before, deadline = latest_checkpoint(workdir), time.time() + 300
    while proc.poll() is None and time.time() < deadline and \
        latest_checkpoint(workdir) <= before:
      time.sleep(0.005)
    time.sleep(rng.uniform(0.0, 0.25))
    if proc.poll() is not None:
      break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kills += 1
    if kills == times:
      break
  return kills


def test_sigkill_at_random_points_resumes_bitwise(finished_run, tmp_path, data_dir):
  workdir = str(tmp_path / "killed")
  kills = kill_repeatedly(command(workdir, data_dir), workdir, random.Random(1234))
  assert kills >= 2, "the run finished before it could be killed twice"
  result = run(command(workdir, data_dir))
  assert result.returncode == 0, result.stderr
  ours, reference = final_params(workdir), final_params(finished_run)
  for a, b in zip(_leaves(ours), _leaves(reference)):
    np.testing.assert_array_equal(a, b)  # Bitwise.
  assert train_rows(workdir) == train_rows(finished_run)


def test_sigkill_with_a_moving_average_resumes_bitwise(tmp_path, data_dir):
  """The average (and accumulation's and clipping's state) survive kills bit for bit."""
  extra = ("--config.ema_decay=0.9", "--config.grad_accum_steps=2",
           "--config.grad_clip_norm=1.0", "--config.num_train_steps=80")
  reference, workdir = str(tmp_path / "reference"), str(tmp_path / "killed")
  result = run(command(reference, data_dir, *extra))
  assert result.returncode == 0, result.stderr
  kills = kill_repeatedly(command(workdir, data_dir, *extra), workdir, random.Random(99), 2)
  assert kills >= 1, "the run finished before it could be killed"
  result = run(command(workdir, data_dir, *extra))
  assert result.returncode == 0, result.stderr
  ours, theirs = (ocp.StandardCheckpointer().restore(
      os.path.join(w, "checkpoints", "80", "state")) for w in (workdir, reference))
  for key in ("params", "ema", "opt_state"):
    a, b = list(_leaves(ours[key])), list(_leaves(theirs[key]))
    assert len(a) == len(b) > 0
    for x, y in zip(a, b):
      np.testing.assert_array_equal(x, y)  # Bitwise.
  assert train_rows(workdir) == train_rows(reference)


def _leaves(tree):
  if isinstance(tree, dict):
    for k in sorted(tree):
      yield from _leaves(tree[k])
  elif isinstance(tree, (list, tuple)):
    for v in tree:
      yield from _leaves(v)
  else:
    yield np.asarray(tree)


def test_sigterm_saves_and_exits_zero_then_resumes(tmp_path, data_dir):
  workdir = str(tmp_path / "run")
  args = command(workdir, data_dir, "--config.num_train_steps=100000")
  proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)
  deadline = time.time() + 300
  ckpt = os.path.join(workdir, "checkpoints")
  while time.time() < deadline:
    if os.path.isdir(ckpt) and any(d.isdigit() for d in os.listdir(ckpt)):
      break
    time.sleep(0.05)
  proc.send_signal(signal.SIGTERM)
  out, err = proc.communicate(timeout=120)
  assert proc.returncode == 0, err
  match = re.search(r"Received SIGTERM: saved the checkpoint at step (\d+)", out)
  assert match, out
  stopped = int(match.group(1))
  assert max(int(d) for d in os.listdir(ckpt) if d.isdigit()) == stopped
  proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)
  # During set-up (the checkpoint restored, the first step not yet compiled and run): the
  # signal is honoured at the first step boundary. Sent when the run says it resumed, not
  # after a fixed sleep, which a fast set-up (a warm compilation cache) would outrun.
  lines = []
  for line in proc.stdout:
    lines.append(line)
    if line.startswith("Resuming from the checkpoint"):
      proc.send_signal(signal.SIGTERM)
      break
  out, err = proc.communicate(timeout=300)
  out = "".join(lines) + out
  assert proc.returncode == 0, err
  assert f"Resuming from the checkpoint at step {stopped}" in out
  assert f"saved the checkpoint at step {stopped + 1}" in out


def test_damaged_latest_checkpoint_falls_back_to_the_previous_good_one(finished_run, tmp_path,
                                                                       data_dir):
  workdir = copy_run(finished_run, tmp_path)
  latest = os.path.join(workdir, "checkpoints", str(STEPS), "state")
  # Truncate every data file of the latest checkpoint.
  for dirpath, _, files in os.walk(latest):
    for name in files:
      path = os.path.join(dirpath, name)
      if os.path.getsize(path) > 0:
        with open(path, "r+b") as f:
          f.truncate(os.path.getsize(path) // 2)
  result = run(command(workdir, data_dir))
  assert result.returncode == 0, result.stderr
  assert f"the checkpoint at step {STEPS} is damaged; resuming from step {STEPS - 10}" \
      in result.stdout
  assert os.listdir(os.path.join(workdir, "damaged_checkpoints"))
  assert os.path.isdir(os.path.join(workdir, "checkpoints", str(STEPS)))  # Re-done.


def test_partial_checkpoint_directories_are_never_used(finished_run, tmp_path, data_dir):
  workdir = copy_run(finished_run, tmp_path)
  ckpt = os.path.join(workdir, "checkpoints")
  # What a crash in the middle of a save leaves: orbax's temporary directory...
  os.makedirs(os.path.join(ckpt, f"{STEPS + 10}.orbax-checkpoint-tmp-123"))
  # ...and a step directory whose files are missing.
  shutil.rmtree(os.path.join(ckpt, str(STEPS), "state"))
  result = run(command(workdir, data_dir))
  assert result.returncode == 0, result.stderr
  assert f"resuming from step {STEPS - 10}" in result.stdout


def test_no_good_checkpoint_is_an_error_unless_restart(finished_run, tmp_path, data_dir):
  workdir = copy_run(finished_run, tmp_path)
  ckpt = os.path.join(workdir, "checkpoints")
  for step in os.listdir(ckpt):
    shutil.rmtree(os.path.join(ckpt, step, "state"))
  before = fingerprint(workdir)
  result = run(command(workdir, data_dir))
  assert result.returncode == 1
  assert "No checkpoint in" in result.stderr and "--restart" in result.stderr
  assert "Traceback" not in result.stderr
  assert fingerprint(workdir) == before
  restarted = run(command(workdir, data_dir, "--restart"))
  assert restarted.returncode == 0, restarted.stderr
  assert "Starting lenet5_modern" in restarted.stdout
  assert os.listdir(os.path.join(workdir, "damaged_checkpoints"))


def test_nonfinite_loss_stops_with_the_step_and_keeps_checkpoints(finished_run, tmp_path,
                                                                   data_dir):
  workdir = copy_run(finished_run, tmp_path)
  before = fingerprint(workdir)
  args = command(workdir, data_dir, "--config.num_train_steps=400",
                 "--config.optimizer.learning_rate=1e30", "--allow_config_change")
  result = run(args)
  assert result.returncode == 1
  assert re.search(r"Non-finite (loss|gradient norm) = (nan|inf|-inf) at step \d+",
                   result.stderr), result.stderr
  assert f"the latest checkpoint, step {STEPS}, is untouched" in result.stderr
  assert fingerprint(workdir) == before


def test_nonfinite_steps_can_be_skipped_and_counted(tmp_path, data_dir):
  workdir = str(tmp_path / "run")
  result = run(command(workdir, data_dir, "--config.num_train_steps=40",
                       "--config.optimizer.learning_rate=1e30",
                       "--config.skip_nonfinite_steps=true"))
  assert result.returncode == 0, result.stderr
  rows = [r for r in train_rows(workdir) if "train/nonfinite_steps" in r]
  assert sum(r["train/nonfinite_steps"] for r in rows) > 0
  params = final_params_at(workdir, 40)
  assert all(np.all(np.isfinite(leaf)) for leaf in _leaves(params))


def final_params_at(workdir, step):
  return ocp.StandardCheckpointer().restore(
      os.path.join(workdir, "checkpoints", str(step), "state"))["params"]


BAD_INPUTS = {
    "unknown model": (["--config.model=lenet6"], 1, r"Unknown model 'lenet6'. Valid names: "),
    "misspelled field": (["--config.optimizer.learnin_rate=0.1"], 2,
                         r"unknown config field 'learnin_rate'"),
    "mistyped field": (["--config.batch_size=many"], 2, r"--config.batch_size=many"),
    "negative learning rate": (["--config.optimizer.learning_rate=-0.1"], 1,
                               r"optimizer.learning_rate=-0.1 must be positive"),
    "batch not divisible by devices": (["--config.batch_size=30"], 1,
                                       r"batch_size=30 must be a positive multiple of the 8"),
    "mesh larger than the devices": (["--config.mesh.data=16"], 1,
                                     r"mesh 16x1 does not match the 8 devices"),
    "model axis without a model-parallel model": (
        ["--config.mesh.model=2"], 1, r"mesh.model=2, but lenet5_modern has no layers to split"),
    "unknown dataset": (["--config.dataset=no_such_set"], 1, r"not in the TFDS catalogue"),
    "input too small": (["--config.model=lenet5"], 1, r"needs inputs of at least 32x32"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_gives_a_clear_error_and_changes_nothing(case, finished_run, tmp_path,
                                                           data_dir):
  extra, status, pattern = BAD_INPUTS[case]
  workdir = copy_run(finished_run, tmp_path)
  before = fingerprint(workdir)
  result = run(command(workdir, data_dir, *extra, "--allow_config_change"))
  assert result.returncode == status, result.stderr
  assert re.search(pattern, result.stderr), result.stderr
  assert "Traceback" not in result.stderr
  assert fingerprint(workdir) == before


def test_dataset_not_prepared_says_how_to_prepare_it(finished_run, tmp_path, data_dir):
  workdir = copy_run(finished_run, tmp_path)
  before = fingerprint(workdir)
  env = dict(os.environ, FASHION_MNIST_DIR=str(tmp_path / "nothing-here"))
  result = subprocess.run(command(workdir, str(tmp_path / "empty-tfds")),
                          cwd=REPO, capture_output=True, text=True, timeout=600, env=env)
  assert result.returncode == 1
  assert "apt-get install dataset-fashion-mnist" in result.stderr
  assert "Traceback" not in result.stderr
  assert fingerprint(workdir) == before


def test_checkpoint_of_another_architecture_names_the_parameters(finished_run, tmp_path,
                                                                 data_dir):
  workdir = copy_run(finished_run, tmp_path)
  before = fingerprint(workdir)
  # The tiny variant has width 0.5 (c1: 3 maps); width 1.0 builds 6.
  result = run(command(workdir, data_dir, "--config.width=1.0", "--allow_config_change"))
  assert result.returncode == 1
  assert "different architecture" in result.stderr
  assert re.search(r"params/c1/kernel: checkpoint \(5, 5, 1, 3\), model \(5, 5, 1, 6\)",
                   result.stderr), result.stderr
  assert fingerprint(workdir) == before
  evaluated = run(command(workdir, data_dir, "--config.width=1.0", "--mode=eval"))
  assert evaluated.returncode == 1 and "params/c1/kernel" in evaluated.stderr


def test_unwritable_workdir(tmp_path, data_dir):
  blocker = tmp_path / "a-file"
  blocker.write_text("not a directory")
  result = run(command(str(blocker / "run"), data_dir))
  assert result.returncode == 1
  assert "Cannot create workdir" in result.stderr and "Traceback" not in result.stderr


def test_workdir_with_another_config_is_refused_unless_allowed(finished_run, tmp_path, data_dir):
  workdir = copy_run(finished_run, tmp_path)
  before = fingerprint(workdir)
  result = run(command(workdir, data_dir, "--config.optimizer.momentum=0.5"))
  assert result.returncode == 1
  assert "holds a run with a different config (optimizer.momentum: 0.9 -> 0.5)" in result.stderr
  assert fingerprint(workdir) == before
