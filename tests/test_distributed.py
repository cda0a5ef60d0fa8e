"""Several processes as one JAX cluster (gloo collectives over CPU), run as users run them."""

import json
import os
import socket
import subprocess
import sys

import numpy as np

from tests.tolerance import assert_close

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def base_args(workdir, data_dir, steps):
  return [sys.executable, "-m", "jaxcnn.main", "--config=configs/lenet5.py:tiny",
          f"--workdir={workdir}", f"--config.data_dir={data_dir}", "--config.batch_size=32",
          "--config.eval_batch_size=128", f"--config.num_train_steps={steps}",
          "--config.schedule.name=constant", "--config.log_every_steps=4",
          "--config.checkpoint_every_steps=12", "--config.eval_every_epochs=1000"]


def env_with_devices(n):
  env = dict(os.environ)
  env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={n}"
  return env


def run_cluster(workdir, data_dir, steps, *extra):
  port = free_port()
  procs = [subprocess.Popen(
      base_args(workdir, data_dir, steps) + [
          f"--coordinator_address=localhost:{port}", "--num_processes=2",
          f"--process_id={i}", *extra],
      cwd=REPO, env=env_with_devices(2), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
      text=True) for i in range(2)]
  outs = [p.communicate(timeout=600) for p in procs]
  for p, (out, err) in zip(procs, outs):
    assert p.returncode == 0, err[-3000:]
  return outs


def losses(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    rows = [json.loads(line) for line in f]
  return {r["step"]: r["train/loss"] for r in rows if "train/loss" in r}


def test_two_processes_match_one_process_and_resume(tmp_path, data_dir):
  single = str(tmp_path / "single")
  result = subprocess.run(base_args(single, data_dir, 36), cwd=REPO, env=env_with_devices(4),
                          capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "4 devices, 1 processes" in result.stdout

  cluster = str(tmp_path / "cluster")
  (out0, _), (out1, _) = run_cluster(cluster, data_dir, 24)
  assert "4 devices, 2 processes" in out0 and "Test accuracy" in out0
  assert "Test accuracy" not in out1 and "Starting" not in out1  # Only process 0 reports.
  # Restarted with more steps, the cluster resumes from its step-24 checkpoint.
  (out0, _), _ = run_cluster(cluster, data_dir, 36, "--allow_config_change")
  assert "Resuming from the checkpoint at step 24" in out0

  ours, reference = losses(cluster), losses(single)
  assert sorted(ours) == sorted(reference) == list(range(4, 37, 4))
  # float32 losses, read back from JSON as float64.
  assert_close([ours[s] for s in sorted(ours)], [reference[s] for s in sorted(reference)],
               rtol=1e-4, dtype=np.float32)
