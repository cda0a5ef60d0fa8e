"""The ablation runner: every arm x seed trained once, records, table, CSV, curves; the
committed study files name valid configs and overrides."""

import glob
import json
import os

import pytest

from experiments import run
from jaxcnn import config as config_lib

STUDY = '''
from experiments.run import Arm
TITLE = "Width"
CLAIM = "A wider LeNet-5 is better."
SCALE = "The synthetic test data, 8 steps."
SEEDS = (0, 1)
_RUN = {{"data_dir": {data_dir!r}, "num_train_steps": 8, "batch_size": 32, "log_every_steps": 2,
        "eval_every_epochs": 100.0, "log_layer_grad_norms": True}}
ARMS = [
    Arm("narrow", "configs/lenet5.py:tiny", {{**_RUN, "width": 0.25}}, paper="baseline"),
    Arm("wide", "configs/lenet5.py:tiny", {{**_RUN, "width": 1.0}}, paper="better"),
]
COLUMNS = ("top1", "top5", "train_error", "gap", "steps_to_25", "params", "macs")
CURVES = ("train/grad_norm/c1",)
'''


def test_runner_trains_every_arm_and_seed_once_and_writes_the_table(data_dir, tmp_path,
                                                                    monkeypatch):
  study = tmp_path / "width.py"
  study.write_text(STUDY.format(data_dir=data_dir))
  results, runs = tmp_path / "results", tmp_path / "runs"
  argv = [str(study), f"--results_dir={results}", f"--workdir_root={runs}"]
  assert run.main(argv) == 0
  records = sorted(glob.glob(str(results / "width" / "*.json")))
  assert [os.path.basename(r) for r in records] == [
      "narrow-seed0.json", "narrow-seed1.json", "wide-seed0.json", "wide-seed1.json"]
  record = json.load(open(records[0]))
  assert record["steps"] == 8 and record["seed"] == 0 and record["params"] > 0
  assert record["config_values"]["width"] == 0.25 and record["config_values"]["seed"] == 0
  assert "--config.width=0.25" in record["command"] and "--config.seed=0" in record["command"]
  assert 0 <= record["top1"] <= record["top5"] <= 1 and 0 <= record["train_top1"] <= 1
  assert [row["step"] for row in record["curve"] if "train/loss" in row] == [2, 4, 6, 8]
  # A study's extra curves (here the first layer's gradient norm) are kept in the record.
  assert [row["step"] for row in record["curve"] if "train/grad_norm/c1" in row] == [2, 4, 6, 8]
  assert record["device"] == "cpu" and record["cpus"] == os.cpu_count()

  table = (results / "width.md").read_text()
  assert "| narrow | 2 |" in table and "| wide | 2 |" in table and "vs narrow (t = " in table
  assert f"({os.cpu_count()} CPU cores, load average" in table
  csv_rows = (results / "width.csv").read_text().splitlines()
  assert len(csv_rows) == 5 and csv_rows[0].startswith("arm,seed,top1_err")
  assert (results / "width.png").stat().st_size > 10_000

  # A second sitting trains nothing: every record exists.
  monkeypatch.setattr("jaxcnn.train.train_and_evaluate",
                      lambda *a, **k: pytest.fail("retrained a finished run"))
  assert run.main(argv) == 0

  # Curves re-read from the workdirs into records that lack them, without training.
  stripped = {**record, "curve": []}
  json.dump(stripped, open(records[0], "w"))
  assert run.main(argv + ["--refresh_curves", "--summarize_only"]) == 0
  assert json.load(open(records[0]))["curve"] == record["curve"]


def test_mean_std_and_welch_t():
  assert run._mean_std([1.0, 2.0, 3.0]) == (2.0, 1.0)
  # (5 - 2) / sqrt(1/3 + 1/3)
  assert run.welch_t([1.0, 2.0, 3.0], [4.0, 5.0, 6.0]) == pytest.approx(3 / (2 / 3) ** 0.5)


def test_steps_to_train_error_reads_the_logged_windows():
  curve = [{"step": 10, "train/top1": 0.5}, {"step": 20, "train/top1": 0.74},
           {"step": 25, "eval/top1": 0.9}, {"step": 30, "train/top1": 0.76}]
  assert run.steps_to_train_error(curve, 0.25) == 30
  assert run.steps_to_train_error(curve, 0.1) is None


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(
    os.path.dirname(__file__), "..", "experiments", "*.py"))))
def test_committed_studies_build_every_arm(path):
  name = os.path.splitext(os.path.basename(path))[0]
  if name in ("__init__", "run"):
    return
  study = run.load_module(path, f"study_{name}")
  assert study.TITLE and study.CLAIM.strip() and study.SCALE.strip()
  assert len(study.SEEDS) >= 3 and len(study.ARMS) >= 2
  names = [arm.name for arm in study.ARMS]
  assert len(set(names)) == len(names) and all(a.baseline in ("", *names) for a in study.ARMS)
  assert set(getattr(study, "COLUMNS", ())) <= set(run.COLUMNS)
  for arm in study.ARMS:
    config = run.build_config(arm, seed=1)  # Overrides name real fields of the config.
    config_lib.validate(config)
    assert config.dataset == "fashion_mnist" and config.seed == 1
  # Each committed record was trained with the config its arm builds today, so the table can
  # be reproduced from the committed files. (Fields added to the config since a run, which
  # the record lacks, are left out; the first study's records predate config_values.)
  for arm in study.ARMS:
    for seed in study.SEEDS:
      record_file = run.record_path(name, arm, seed)
      if not os.path.exists(record_file):
        continue
      record = json.load(open(record_file))
      if "config_values" in record:
        now = json.loads(run.build_config(arm, seed).to_json_best_effort())
        assert _changed(record["config_values"], now) == [], (name, arm.name, seed)


def _changed(then: dict, now: dict, prefix: str = "") -> list:
  """The fields of ``then`` whose value differs in ``now`` (nested dicts compared per key)."""
  out = []
  for key, value in then.items():
    if isinstance(value, dict) and isinstance(now.get(key), dict):
      out += _changed(value, now[key], f"{prefix}{key}.")
    elif key not in now or now[key] != value:
      out.append((prefix + key, value, now.get(key, "<absent>")))
  return out


def test_the_table_names_an_accelerator_and_the_commit_can_be_given(monkeypatch):
  cpu = {"cpus": 2, "load_average": 0.5, "device": "cpu"}
  gpu = {"cpus": 16, "load_average": 1.5, "device": "1 x NVIDIA H200"}
  assert run._machine({"a": [cpu, {"cpus": 2, "load_average": 1.0}]}) == (
      "2 CPU cores, load average 0.5-1.0 at the runs' ends")
  assert run._machine({"a": [gpu]}).startswith("1 x NVIDIA H200 with 16 CPU cores")
  monkeypatch.setenv("JAXCNN_COMMIT", "abc1234")
  assert run._git_commit() == "abc1234"
