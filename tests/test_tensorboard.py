"""make tensorboard: TensorBoard serves the scalars a run writes to WORKDIR/tensorboard/."""

import json
import os
import re
import subprocess
import threading
import urllib.request

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")


def _jsonl(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [json.loads(line) for line in f]


def test_tensorboard_reads_the_scalars_a_run_writes(trained_run):
  workdir, _ = trained_run
  events = event_accumulator.EventAccumulator(os.path.join(workdir, "tensorboard"))
  events.Reload()
  rows = _jsonl(workdir)
  for tag in ("train/loss", "train/learning_rate", "eval/top1"):
    want = [(r["step"], r[tag]) for r in rows if tag in r]
    got = [(e.step, e.value) for e in events.Scalars(tag)]
    assert len(got) == len(want) >= 2
    for (step, value), (want_step, want_value) in zip(got, want):
      assert step == want_step and value == pytest.approx(want_value, rel=1e-6)


def test_make_tensorboard_serves_the_run(trained_run):
  workdir, _ = trained_run
  dry = subprocess.run(["make", "-n", "tensorboard", f"WORKDIR={workdir}", "PORT=0"], cwd=REPO,
                       capture_output=True, text=True, timeout=60, check=True).stdout
  command = next(line for line in dry.splitlines() if "tensorboard --logdir" in line).split()
  assert command[1:] == [f"--logdir={workdir}/tensorboard", "--port=0"]
  # PORT=0: a free port of the operating system's choosing, on the loopback interface only.
  server = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
  watchdog = threading.Timer(180, server.kill)  # A server that never says where it is.
  watchdog.start()
  try:
    url = None
    for line in server.stdout:  # Up to the line that names the address it serves on.
      found = re.search(r"(http://[^ ]+/)", line)
      if found:
        url = found.group(1)
        break
    assert url and re.match(r"http://(localhost|127\.0\.0\.1|\[::1\]):\d+/", url), url
    with urllib.request.urlopen(url + "data/plugin/scalars/tags", timeout=60) as response:
      tags = json.load(response)
    assert set(tags) == {"."}
    assert {"train/loss", "train/top1", "eval/top1", "eval/loss"} <= set(tags["."])
  finally:
    watchdog.cancel()
    server.terminate()
    server.wait(timeout=60)
