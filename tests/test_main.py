"""The command line, run as users run it: python -m jaxcnn.main in a subprocess."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def command(workdir, data_dir, *extra, variant="tiny"):
  return [sys.executable, "-m", "jaxcnn.main", f"--config=configs/lenet5.py:{variant}",
          f"--workdir={workdir}", f"--config.data_dir={data_dir}",
          "--config.batch_size=32", "--config.eval_batch_size=128", *extra]


def run(args, **kwargs):
  return subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=600, **kwargs)


def read_metrics(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [json.loads(line) for line in f]


def test_train_then_eval_with_an_override(tmp_path, data_dir):
  workdir = str(tmp_path / "run")
  result = run(command(workdir, data_dir, "--config.num_train_steps=40",
                       "--config.optimizer.learning_rate=0.07", "--config.log_every_steps=10"))
  assert result.returncode == 0, result.stderr
  with open(os.path.join(workdir, "config.json")) as f:
    assert json.load(f)["optimizer"]["learning_rate"] == 0.07
  rows = read_metrics(workdir)
  train_rows = [r for r in rows if "train/loss" in r]
  # Every 10 steps, and at the checkpoint after the evaluation that ends epoch 1 (step 32).
  assert [r["step"] for r in train_rows] == [10, 20, 30, 32, 40]
  # Cosine from the overridden peak: the first logged mean lr is just under 0.07.
  assert 0.06 < train_rows[0]["train/learning_rate"] < 0.07
  evals = [r for r in rows if "eval/top1" in r]
  # One evaluation per epoch (1,024 / 32 = 32 steps) and one at the end.
  assert [r["step"] for r in evals] == [32, 40]
  assert all(r["eval/count"] == 300 for r in evals)
  assert 0.0 <= evals[-1]["eval/top1"] <= evals[-1]["eval/top5"] <= 1.0
  assert os.listdir(os.path.join(workdir, "tensorboard"))
  assert "Test accuracy: top-1" in result.stdout

  evaluated = run(command(workdir, data_dir, "--mode=eval"))
  assert evaluated.returncode == 0, evaluated.stderr
  top1 = float(re.search(r"top-1 ([0-9.]+)", evaluated.stdout).group(1))
  assert top1 == pytest.approx(evals[-1]["eval/top1"], abs=1e-4)


def test_misspelled_field_fails_with_a_clear_message(tmp_path, data_dir):
  result = run(command(str(tmp_path / "run"), data_dir, "--config.optimizer.learnin_rate=0.1"))
  assert result.returncode != 0
  assert "unknown config field 'learnin_rate'" in result.stderr
  assert 'Did you mean "learning_rate"' in result.stderr
  assert "Traceback" not in result.stderr
  assert not os.path.exists(tmp_path / "run")


def test_eval_without_checkpoint_is_a_clear_error(tmp_path, data_dir):
  result = run(command(str(tmp_path / "empty"), data_dir, "--mode=eval"))
  assert result.returncode == 1
  assert "No checkpoint in" in result.stderr and "Traceback" not in result.stderr


def test_killed_run_resumes_from_its_last_checkpoint(tmp_path, data_dir):
  workdir = str(tmp_path / "run")
  # Killed at its first checkpoint (step 50), far from its last step.
  args = command(workdir, data_dir, "--config.num_train_steps=300",
                 "--config.checkpoint_every_steps=50", "--config.log_every_steps=50",
                 "--config.eval_every_epochs=1000")
  ckpt_dir = os.path.join(workdir, "checkpoints")
  proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  deadline = time.time() + 300
  while time.time() < deadline and proc.poll() is None:
    if os.path.isdir(ckpt_dir) and any(d.isdigit() for d in os.listdir(ckpt_dir)):
      break
    time.sleep(0.02)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
  saved = sorted(int(d) for d in os.listdir(ckpt_dir) if d.isdigit())
  assert saved and saved[-1] < 300

  resumed = run(args)
  assert resumed.returncode == 0, resumed.stderr
  match = re.search(r"Resuming from the checkpoint at step (\d+)", resumed.stdout)
  assert match and int(match.group(1)) >= saved[-1]
  assert "Starting" not in resumed.stdout
  rows = read_metrics(workdir)
  assert rows[-1]["step"] == 300 and "eval/top1" in rows[-1]
  first_resumed_log = int(match.group(1)) + 50
  assert any(r["step"] == first_resumed_log and "train/loss" in r for r in rows)
