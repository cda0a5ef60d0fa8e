"""The ablation runner: every arm x seed trained once, records, table, CSV, curves; the
committed study files name valid configs and overrides."""

import datetime
import glob
import json
import math
import os
import shutil
import signal

import jax
import jax.numpy as jnp
import pytest

from experiments import records
from experiments import report
from experiments import run
from experiments import status
from experiments import study as study_lib
from jaxcnn import config as config_lib
from jaxcnn import models

STUDY = '''
from experiments.study import Arm
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
  monkeypatch.setenv("JAXCNN_CODE_VERSION", "abc1234")
  study = tmp_path / "width.py"
  study.write_text(STUDY.format(data_dir=data_dir))
  results, runs = tmp_path / "results", tmp_path / "runs"
  argv = [str(study), f"--results_dir={results}", f"--workdir_root={runs}"]
  assert run.main(argv) == 0
  records = sorted(glob.glob(str(results / "width" / "*.json")))
  assert [os.path.basename(r) for r in records] == [
      "narrow-seed0.json", "narrow-seed1.json", "wide-seed0.json", "wide-seed1.json"]
  record = json.load(open(records[0]))
  assert record["steps"] == 8 and record["seed"] == 0
  # The network's own parameter count, once (not with the summary's total row added).
  model = models.from_config(run.build_config(study_lib.load(str(study)).arms[0], 0), 10,
                             (28, 28, 1))
  variables = model.init(jax.random.key(0), jnp.zeros((1, 28, 28, 1)), train=False)
  assert record["params"] == sum(x.size for x in jax.tree.leaves(variables["params"]))
  assert record["counts"] == "total"
  assert record["config_values"]["width"] == 0.25 and record["config_values"]["seed"] == 0
  assert "--config.width=0.25" in record["command"] and "--config.seed=0" in record["command"]
  assert 0 <= record["top1"] <= record["top5"] <= 1 and 0 <= record["train_top1"] <= 1
  assert [row["step"] for row in record["curve"] if "train/loss" in row] == [2, 4, 6, 8]
  # A study's extra curves (here the first layer's gradient norm) are kept in the record.
  assert [row["step"] for row in record["curve"] if "train/grad_norm/c1" in row] == [2, 4, 6, 8]
  assert record["device"] == "cpu" and record["cpus"] == os.cpu_count()
  assert record["cpu_model"] == run.cpu_model() and record["cpu_model"] not in ("", "unknown")
  assert record["cpu_id"] == run.cpu_id()
  assert record["code_version"] == "abc1234"
  assert record["workdir"] == str(runs / "width" / "narrow" / "seed0")  # Outside the repo.
  assert f"--workdir={record['workdir']} " in record["command"]

  table = (results / "width.md").read_text()
  assert "| narrow | 2 |" in table and "| wide | 2 |" in table and "vs narrow (t = " in table
  assert "code version abc1234)" in table
  assert f"({os.cpu_count()} CPU cores, load average" in table
  assert f"; processors: {report.processor(record)} (4 runs)" in table
  csv_rows = (results / "width.csv").read_text().splitlines()
  assert len(csv_rows) == 5 and csv_rows[0].startswith("arm,seed,top1_err")
  assert csv_rows[0].endswith(",steps_to_25,steps,wall_s,code_version,command")
  assert csv_rows[1].split(",")[6] == str(record["params"])  # arm, seed, 4 errors, params.
  assert (results / "width.png").stat().st_size > 10_000
  assert record["resumed"] is False and record["sitting_from_step"] == 0
  # A run resumed from its workdir's checkpoint says where its sitting started (here its
  # last step: its wall time then times no training, and paces nothing).
  os.remove(records[0])
  assert run.main(argv + ["--arms", "narrow", "--seeds", "0"]) == 0
  resumed = json.load(open(records[0]))
  assert resumed["resumed"] is True and resumed["sitting_from_step"] == 8
  assert resumed["top1"] == record["top1"] and status.pace([resumed]) is None
  # Its record times only that sitting, and the table's wall time says so.
  assert "min, with the resumed run's last sitting only (" in (results / "width.md").read_text()
  assert report._wall_time([record, {**record, "resumed": True}] * 2).endswith(
      ", with the 2 resumed runs' last sittings only")

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
  assert report.mean_std([1.0, 2.0, 3.0]) == (2.0, 1.0)
  # (5 - 2) / sqrt(1/3 + 1/3), in float64.
  assert report.welch_t([1.0, 2.0, 3.0], [4.0, 5.0, 6.0]) == pytest.approx(3 / (2 / 3) ** 0.5,
                                                                             rel=1e-12)
  # Equal variances and sizes: Welch's degrees of freedom are 2 (3 - 1) = 4, and the 97.5%
  # quantile of Student's t with 4 degrees of freedom is 2.7764451...
  low, high = report.welch_interval([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])
  half = 2.7764451051977987 * (2 / 3) ** 0.5
  assert (low, high) == pytest.approx((3 - half, 3 + half), rel=1e-9)
  # Unequal variances: fewer degrees of freedom than the pooled test's, so a wider interval
  # than the pooled one with the same standard error.
  a, b = [1.0, 1.1, 0.9, 1.0, 1.05], [2.0, 4.0, 3.0]
  low, high = report.welch_interval(a, b)
  mean_diff = 3.0 - 1.01
  se = (report.mean_std(a)[1] ** 2 / 5 + 1.0 / 3) ** 0.5
  assert low < mean_diff < high and (high - low) / 2 > 2.4469 * se  # t(0.975, 6) = 2.4469
  assert report.welch_interval([1.0, 1.0], [2.0, 2.0]) == (1.0, 1.0)
  assert all(v != v for v in report.welch_interval([1.0], [2.0, 3.0]))  # nan: one run


def test_paired_t_pairs_runs_by_seed():
  # Differences 1.0, 1.2, 0.8 (seed 3 lacks a pair, seed 4 diverged in b): mean 1.0, sample
  # std 0.2, so t = 1.0 / (0.2 / sqrt(3)).
  a = {0: 10.0, 1: 20.0, 2: 15.0, 3: 11.0, 4: 12.0}
  b = {0: 11.0, 1: 21.2, 2: 15.8, 4: float("nan")}
  t, n = report.paired_t(a, b)
  assert n == 3 and t == pytest.approx(1.0 / (0.2 / 3 ** 0.5), rel=1e-9)
  # The seeds' shared spread (10 to 20) that Welch's t counts against the difference is gone.
  assert abs(report.welch_t([a[s] for s in (0, 1, 2)], [b[s] for s in (0, 1, 2)])) < 0.5
  assert report.paired_t(b, a)[0] == pytest.approx(-t)
  assert report.paired_t({0: 1.0, 1: 2.0}, {0: 2.0, 1: 3.0}) == (math.inf, 2)  # exact
  t, n = report.paired_t({0: 1.0}, {0: 2.0})
  assert n == 1 and t != t  # nan: one pair


def test_steps_to_train_error_reads_the_logged_windows():
  curve = [{"step": 10, "train/top1": 0.5}, {"step": 20, "train/top1": 0.74},
           {"step": 25, "eval/top1": 0.9}, {"step": 30, "train/top1": 0.76}]
  assert report.steps_to_train_error(curve, 0.25) == 30
  assert report.steps_to_train_error(curve, 0.1) is None
  # A short window closed early (step 25, at an evaluation) does not count with ``every``.
  short = [{"step": 20, "train/top1": 0.7}, {"step": 25, "train/top1": 0.9},
           {"step": 30, "train/top1": 0.8}]
  assert report.steps_to_train_error(short, 0.25) == 25
  assert report.steps_to_train_error(short, 0.25, every=10) == 30


STUDIES = [os.path.join(study_lib.REPO, p) for p in study_lib.study_files()]


@pytest.mark.parametrize("path", STUDIES, ids=lambda p: os.path.basename(p))
def test_committed_studies_build_every_arm(path):
  study = study_lib.load(path)
  assert study.title and study.claim.strip() and study.scale.strip()
  assert len(study.seeds) >= 3 and len(study.arms) >= 2
  for arm in study.arms:
    # Overrides name real fields of the config.
    config = run.build_config(arm, 1, run.source_workdir(
        study, arm, 1, os.path.join(study_lib.REPO, "runs", "experiments")))
    config_lib.validate(config)
    assert config.dataset == "fashion_mnist" and config.seed == 1
  # Each committed record was trained with the config its arm builds today, so the table can
  # be reproduced from the committed files. (Fields added to the config since a run, which
  # the record lacks, are left out; the first study's records predate config_values.)
  for (name, seed), record in records.read(records.RESULTS, study).items():
    arm = study.arm(name)
    source = run.source_workdir(study, arm, seed,
                                os.path.join(study_lib.REPO, "runs", "experiments"))
    now = json.loads(run.build_config(arm, seed, source).to_json_best_effort())
    assert records.config_changes(record, now) == [], (study.name, name, seed)


@pytest.mark.parametrize("path", STUDIES, ids=lambda p: os.path.basename(p))
def test_committed_tables_are_regenerated_byte_for_byte_or_refused(path, tmp_path, capsys):
  """From the committed records, the runner rewrites the committed table and CSV exactly, or
  (records of several code versions) refuses to write any."""
  study = study_lib.load(path)
  existing = records.read(records.RESULTS, study)
  if len(existing) < len(study.arms) * len(study.seeds):
    pytest.skip(f"{study.name}: {len(existing)} of {len(study.arms) * len(study.seeds)} runs "
                "recorded; no table yet")
  results = tmp_path / "results"
  shutil.copytree(os.path.join(records.RESULTS, study.name), results / study.name)
  code = run.main([path, "--summarize_only", f"--results_dir={results}"])
  if run.mixed_versions(study, existing) or run.mixed_devices(study, existing):
    assert code == 1 and "python -m experiments.run" in capsys.readouterr().err
    assert not (results / f"{study.name}.md").exists()
    return
  assert code == 0
  for ext in (".md", ".csv"):
    committed = open(os.path.join(records.RESULTS, study.name + ext), "rb").read()
    assert (results / (study.name + ext)).read_bytes() == committed, study.name + ext
  assert (results / f"{study.name}.png").stat().st_size > 10_000


def _fake_record(arm, seed, version, top1=0.9):
  curve = [{"step": 10, "train/top1": 0.5}, {"step": 20, "train/top1": 0.8}]
  return {"study": "width", "arm": arm, "seed": seed, "command": "c", "code_version": version,
          "top1": top1, "top5": 1.0, "train_top1": top1, "steps": 20, "steps_per_epoch": 10,
          "params": 10, "macs": 100, "wall_s": 1.0, "curve": curve,
          "config_values": {"log_every_steps": 10}}


def test_records_of_two_code_versions_make_no_table_and_rerun_stale_retrains_them(
    tmp_path, monkeypatch, capsys):
  study_file = tmp_path / "width.py"
  study_file.write_text(STUDY.format(data_dir=str(tmp_path)))
  study = study_lib.load(str(study_file))
  results = tmp_path / "results"
  for arm in study.arms:
    for seed in study.seeds:
      version = "old0001" if (arm.name, seed) == ("wide", 1) else "new0002"
      records.write(str(results), "width", arm, seed, _fake_record(arm.name, seed, version))
  argv = [str(study_file), f"--results_dir={results}", f"--workdir_root={tmp_path / 'runs'}"]
  assert run.main(argv + ["--summarize_only"]) == 1
  err = capsys.readouterr().err
  assert "old0001: 1 runs (wide seed 1)" in err and "new0002: 3 runs" in err
  assert "--rerun_stale" in err and not (results / "width.md").exists()

  # The current version is new0002: only the stale run is retrained (from a fresh workdir).
  monkeypatch.setenv("JAXCNN_CODE_VERSION", "new0002")
  monkeypatch.setattr(run, "stale_runs", lambda s, existing, current, root: {
      k: "old" for k, r in existing.items() if r["code_version"] != current})
  stale_workdir = tmp_path / "runs" / "width" / "wide" / "seed1"
  stale_workdir.mkdir(parents=True)
  trained = []

  def fake_run_one(study, arm, seed, results_dir, workdir_root, stop=None):
    assert not stale_workdir.exists()  # An old version's checkpoints are never resumed.
    trained.append((arm.name, seed))
    record = _fake_record(arm.name, seed, "new0002", top1=0.95)
    records.write(results_dir, study.name, arm, seed, record)
    return record

  monkeypatch.setattr(run, "run_one", fake_run_one)
  assert run.main(argv) == 1  # Without --rerun_stale nothing is retrained or written.
  assert trained == [] and not (results / "width.md").exists()
  assert run.main(argv + ["--rerun_stale"]) == 0
  assert trained == [("wide", 1)]
  assert "code version new0002)" in (results / "width.md").read_text()


def test_records_of_two_kinds_of_device_make_no_table(tmp_path, capsys):
  study_file = tmp_path / "width.py"
  study_file.write_text(STUDY.format(data_dir=str(tmp_path)))
  study = study_lib.load(str(study_file))
  results = tmp_path / "results"
  # One code version; the GPU's count does not matter, its kind does.
  devices = {("narrow", 0): "cpu", ("narrow", 1): "1 x NVIDIA H200",
             ("wide", 0): "8 x NVIDIA H200", ("wide", 1): "cpu"}
  for arm in study.arms:
    for seed in study.seeds:
      records.write(str(results), "width", arm, seed, {
          **_fake_record(arm.name, seed, "v1"), "device": devices[arm.name, seed]})
  argv = [str(study_file), f"--results_dir={results}", "--summarize_only"]
  assert run.main(argv) == 1
  err = capsys.readouterr().err
  assert "NVIDIA H200: 2 runs (narrow seed 1, wide seed 0); cpu: 2 runs" in err, err
  assert not (results / "width.md").exists()
  # The GPU runs trained again on the CPU: one kind, and the table is written.
  for arm, seed in (("narrow", 1), ("wide", 0)):
    records.write(str(results), "width", study.arm(arm), seed, {
        **_fake_record(arm, seed, "v1"), "device": "cpu"})
  assert run.main(argv) == 0 and (results / "width.md").exists()


def test_stale_runs_names_other_versions_and_changed_configs(tmp_path, monkeypatch):
  study_file = tmp_path / "width.py"
  study_file.write_text(STUDY.format(data_dir=str(tmp_path)))
  study = study_lib.load(str(study_file))
  narrow, wide = study.arms
  same = json.loads(run.build_config(narrow, 0).to_json_best_effort())
  existing = {
      ("narrow", 0): {**_fake_record("narrow", 0, "v2"), "config_values": same},
      ("narrow", 1): _fake_record("narrow", 1, "v1"),
      ("wide", 0): {**_fake_record("wide", 0, "v2"), "config_values": {**same, "width": 0.5}},
  }
  stale = run.stale_runs(study, existing, "v2")
  assert set(stale) == {("narrow", 1), ("wide", 0)}
  assert "code version v1, not v2" in stale["narrow", 1]
  assert "width 0.5 -> 1.0" in stale["wide", 0]


def test_code_version_is_the_last_commit_that_changed_the_training_code(monkeypatch):
  monkeypatch.delenv("JAXCNN_CODE_VERSION", raising=False)
  version = records.code_version()
  clean = version.removesuffix("+dirty")
  assert clean == records._git("log", "-1", "--format=%h", "--", "jaxcnn", "configs")
  # A commit that touches neither (here: the first commit of experiments/report.py, or any
  # later commit of the tests alone) has the code version of the last one that did.
  head = records._git("rev-parse", "--short", "HEAD")
  assert records.code_version_at(head) == clean
  assert records.version_of({"commit": head}) == clean
  assert records.version_of({"commit": head, "code_version": "x"}) == "x"


def test_workdirs_inside_the_repository_are_recorded_relative_to_it(tmp_path):
  assert records.relative(os.path.join(study_lib.REPO, "runs", "a")) == os.path.join("runs", "a")
  assert records.relative(str(tmp_path)) == str(tmp_path)


def test_a_study_file_with_an_unknown_field_or_column_is_refused(tmp_path):
  bad = tmp_path / "bad.py"
  bad.write_text(STUDY.format(data_dir="x") + "COLUMS = ('top1',)\n")
  with pytest.raises(SystemExit, match="unknown field.*COLUMS"):
    study_lib.load(str(bad))
  bad.write_text(STUDY.format(data_dir="x").replace('"steps_to_25"', '"steps_to_x"'))
  with pytest.raises(SystemExit, match="unknown column 'steps_to_x'"):
    study_lib.load(str(bad))


def test_an_arm_starts_from_an_earlier_arms_run_of_the_same_seed(data_dir, tmp_path,
                                                                 monkeypatch):
  monkeypatch.setenv("JAXCNN_CODE_VERSION", "abc1234")
  study = tmp_path / "warm.py"
  # "copy" starts from "narrow" at a learning rate too small to move a float32 weight, so it
  # must end where narrow did.
  text = STUDY.format(data_dir=data_dir).replace("SEEDS = (0, 1)", "SEEDS = (0,)")
  text = text.replace('Arm("wide", "configs/lenet5.py:tiny", {**_RUN, "width": 1.0}, '
                      'paper="better")',
                      'Arm("copy", "configs/lenet5.py:tiny", {**_RUN, "width": 0.25, '
                      '"optimizer.learning_rate": 1e-30}, init_from="narrow")')
  assert 'init_from="narrow"' in text
  study.write_text(text)
  results, runs = tmp_path / "results", tmp_path / "runs"
  assert run.main([str(study), f"--results_dir={results}", f"--workdir_root={runs}"]) == 0
  narrow = json.load(open(results / "warm" / "narrow-seed0.json"))
  copy = json.load(open(results / "warm" / "copy-seed0.json"))
  assert f"--config.init_from={narrow['workdir']} " in copy["command"]
  assert copy["config_values"]["init_from"] == narrow["workdir"]
  assert (copy["loss"], copy["top1"]) == (narrow["loss"], narrow["top1"])
  # Stale detection builds the same config, the source's workdir included.
  assert run.stale_runs(study_lib.load(str(study)), {("copy", 0): copy}, "abc1234",
                        str(runs)) == {}
  # Another study's record of narrow's run is not shared: copy needs narrow's workdir here.
  shutil.copytree(results / "warm", results / "other")
  assert run.shared_record(study_lib.load(str(study)), study_lib.load(str(study)).arm("narrow"),
                           0, str(results), str(runs), "abc1234") is None


def test_arms_that_start_from_an_arm_train_right_after_it():
  depth = study_lib.load("experiments/vgg_depth.py")
  assert [a.name for a in run.training_order(depth)] == [
      "A (11 layers)", "B from A", "C from A", "D from A", "E from A", "B (13 layers)",
      "C (16, 1x1)", "D (16 layers)", "E (19 layers)"]
  lrn = study_lib.load("experiments/lrn.py")  # No init_from: the study's order.
  assert run.training_order(lrn) == list(lrn.arms)


def test_an_arms_source_recorded_on_another_machine_is_trained_again_first(tmp_path,
                                                                           monkeypatch, capsys):
  study_file = tmp_path / "warm.py"
  study_file.write_text(STUDY.format(data_dir=str(tmp_path)).replace(
      'paper="better")', 'paper="better", init_from="narrow")').replace(
      "SEEDS = (0, 1)", "SEEDS = (0, 1, 2)"))
  narrow, wide = study_lib.load(str(study_file)).arms
  results, runs = tmp_path / "results", tmp_path / "runs"
  for seed in (0, 1, 2):  # narrow trained elsewhere: recorded, no workdir here (but seed 1's).
    records.write(str(results), "warm", narrow, seed,
                  {**_fake_record("narrow", seed, "v1"), "wall_s": 120.0})
  (runs / "warm" / "narrow" / "seed1" / "checkpoints").mkdir(parents=True)
  records.write(str(results), "warm", wide, 2, {**_fake_record("wide", 2, "v1"), "wall_s": 10.0})
  monkeypatch.setenv("JAXCNN_CODE_VERSION", "v1")
  trained = []

  def fake_run_one(study, arm, seed, results_dir, *a):
    trained.append((arm.name, seed))
    record = {**_fake_record(arm.name, seed, "v1"), "top1": 0.5}
    records.write(results_dir, "warm", arm, seed, record)
    return record

  monkeypatch.setattr(run, "run_one", fake_run_one)
  argv = [str(study_file), f"--results_dir={results}", f"--workdir_root={runs}"]
  in_a_minute = datetime.datetime.now() + datetime.timedelta(minutes=1)
  # wide's seed 0 needs narrow's run too (130 s in all): put off; seed 1's is here (10 s).
  assert run.main(argv + [f"--stop_at={in_a_minute.isoformat(timespec='seconds')}"]) == 1
  assert trained == [("wide", 1)]
  assert "wide, seed 0 (about 2 min, with narrow's run)" in capsys.readouterr().out
  assert run.main(argv) == 0
  assert trained == [("wide", 1), ("narrow", 0), ("wide", 0)]
  assert "narrow, seed 0 is recorded, but its workdir, which wide starts from, is not on this "\
         "machine: training it again here first" in capsys.readouterr().out
  assert json.load(open(results / "warm" / "narrow-seed0.json"))["top1"] == 0.5  # Replaced.
  # The rerun is compared with the record it replaced, which is not lost.
  entry, = [json.loads(line) for line in (results / run.REPRODUCTIONS).read_text().splitlines()]
  assert (entry["arm"], entry["seed"], entry["recorded_top1"], entry["top1"]) == (
      "narrow", 0, 0.9, 0.5)
  assert entry["difference_points"] == -40 and entry["code_version"] == "v1"
  assert json.load(open(results / "warm" / "narrow-seed1.json"))["top1"] == 0.9  # Kept.
  # A source put off (not recorded; narrow's pace is now 61 s) puts off the arm that starts
  # from it.
  (results / "warm" / "narrow-seed2.json").unlink()
  (results / "warm" / "wide-seed2.json").unlink()
  in_half_a_minute = datetime.datetime.now() + datetime.timedelta(seconds=30)
  assert run.main(argv + [f"--stop_at={in_half_a_minute.isoformat(timespec='seconds')}"]) == 1
  assert trained == [("wide", 1), ("narrow", 0), ("wide", 0)]  # Nothing more.
  assert "narrow, seed 2 (about 1 min); wide, seed 2 (after narrow's run)." in (
      capsys.readouterr().out)


def test_a_run_that_diverges_is_recorded_and_reported_as_such(data_dir, tmp_path, monkeypatch):
  monkeypatch.setenv("JAXCNN_CODE_VERSION", "abc1234")
  study = tmp_path / "hot.py"
  text = STUDY.format(data_dir=data_dir).replace("SEEDS = (0, 1)", "SEEDS = (0,)")
  text = text.replace('{**_RUN, "width": 1.0}', '{**_RUN, "width": 1.0, '
                      '"optimizer.learning_rate": 1e30}')
  assert "1e30" in text
  study.write_text(text)
  results, runs = tmp_path / "results", tmp_path / "runs"
  assert run.main([str(study), f"--results_dir={results}", f"--workdir_root={runs}"]) == 0
  hot = json.load(open(results / "hot" / "wide-seed0.json"))
  assert hot["diverged"].startswith("Non-finite") and hot["top1"] is None
  assert 0 < hot["steps"] <= 8
  table = (results / "hot.md").read_text()
  row = next(line for line in table.splitlines() if line.startswith("| wide |"))
  assert "diverged in 1 of 1 runs" in row
  assert "not reached in 1 of 1 runs, 1 of them diverged" in row  # steps_to_25
  assert (results / "hot.png").exists()


def test_an_arm_can_start_only_from_an_earlier_arm(tmp_path):
  bad = tmp_path / "bad.py"
  bad.write_text(STUDY.format(data_dir="x").replace('paper="baseline")',
                                                    'paper="baseline", init_from="wide")'))
  with pytest.raises(SystemExit, match="starts from 'wide', which is not an arm listed before"):
    study_lib.load(str(bad))


def test_a_sweep_chooses_one_arm_per_group_and_reports_the_ratio(tmp_path):
  sweep = tmp_path / "sweep.py"
  sweep.write_text("""
from experiments.study import Arm
TITLE, CLAIM, SCALE = "t", "c", "s"
SEEDS = (0, 1)
ARMS = [Arm("a slow", "configs/lenet5.py:tiny", group="a"),
        Arm("a fast", "configs/lenet5.py:tiny", group="a"),
        Arm("b", "configs/lenet5.py:tiny", group="b")]
COLUMNS = ("steps_to_25",)
SELECT = "steps_to_25"
RATIO = True
""")
  study = study_lib.load(str(sweep))

  def runs_reaching(*steps):  # One run per seed, 25% error first reached at these steps.
    return [{**_fake_record("x", i, "v"), "curve": [{"step": s, "train/top1": 0.8}]}
            for i, s in enumerate(steps)]

  runs = {"a slow": runs_reaching(600, 700), "a fast": runs_reaching(300, 400),
          "b": runs_reaching(100, 100)}
  assert {g: a.name for g, a in report.selected(study, runs).items()} == {
      "a": "a fast", "b": "b"}
  text = report.table(study, runs)
  assert "- a: a fast, 350 ± 71" in text
  assert "Ratio a / b of steps to 25% train err, per seed: 3.50 ± 0.71" in text
  # Ratios 3 and 4: 3.5 ± t(0.975, 1 degree of freedom) = 12.706 times the standard error 0.5.
  assert "2 seeds; 95% CI of the mean -2.85 to 9.85)." in text


def test_delta_compares_the_column_the_claim_is_about(tmp_path):
  """DELTA = "train_error": the Δ column gives the training errors' difference and t, not the
  test errors'; an unknown DELTA is refused when the study is read."""
  path = tmp_path / "fit.py"
  text = """
from experiments.study import Arm
TITLE, CLAIM, SCALE = "t", "c", "s"
SEEDS = (0, 1, 2)
ARMS = [Arm("shallow", "configs/lenet5.py:tiny"), Arm("deep", "configs/lenet5.py:tiny")]
COLUMNS = ("top1", "train_error")
DELTA = "%s"
"""
  path.write_text(text % "train_error")
  study = study_lib.load(str(path))

  def runs(test, train):  # One run per seed with these accuracies.
    return [{**_fake_record("x", i, "v", top1=t), "train_top1": f}
            for i, (t, f) in enumerate(zip(test, train))]

  # Test errors level (10%); training errors 5, 4, 3 % against 7, 5.5, 5 %: differences 2,
  # 1.5 and 2 points, mean 1.83, sample std 0.289, so the paired t is 1.83 / (0.289 / sqrt 3).
  table = report.table(study, {"shallow": runs([0.9] * 3, [0.95, 0.96, 0.97]),
                               "deep": runs([0.9] * 3, [0.93, 0.945, 0.95])})
  assert "| Δ train err (Welch t; 95% CI; paired t, n) |" in table
  welch = report.welch_t([5.0, 4.0, 3.0], [7.0, 5.5, 5.0])
  assert f"+1.83 vs shallow (t = {welch:+.1f};" in table and "paired t = +11.0, n = 3)" in table
  path.write_text(text % "top9")
  with pytest.raises(SystemExit, match="unknown column 'top9'"):
    study_lib.load(str(path))


def test_curves_follow_the_median_seed_and_a_far_band_is_cut_and_named(tmp_path):
  """One seed stuck at chance draws its arm's band, not its line; the axis is cut where the
  lines are, and the plot says which arm's band goes beyond it."""
  path = tmp_path / "stuck.py"
  path.write_text("""
from experiments.study import Arm
TITLE, CLAIM, SCALE = "t", "c", "s"
SEEDS = (0, 1, 2)
ARMS = [Arm("steady", "configs/lenet5.py:tiny"), Arm("one stuck", "configs/lenet5.py:tiny")]
""")
  study = study_lib.load(str(path))

  def runs(*finals):  # Test accuracy 0.7 after one epoch, then these at the second.
    return [{**_fake_record("x", i, "v"), "curve": [{"step": 10, "eval/top1": 0.7},
                                                    {"step": 20, "eval/top1": f}]}
            for i, f in enumerate(finals)]

  import matplotlib.pyplot as plt
  fig = report.figure(study, {"steady": runs(0.9, 0.91, 0.92), "one stuck": runs(0.88, 0.1, 0.9)})
  test_axis = fig.axes[0]
  lines = {line.get_label(): list(line.get_ydata()) for line in test_axis.get_lines()}
  assert lines["steady"] == pytest.approx([30.0, 9.0]) and lines["one stuck"] == pytest.approx(
      [30.0, 12.0])  # Medians: the stuck seed's 90% error does not move the line.
  assert test_axis.get_ylim()[1] == pytest.approx(36.0)  # 1.2 x the highest line.
  assert test_axis.get_title() == "band cut at the top: one stuck reaches 90"
  plt.close(fig)


def test_records_before_the_counts_fix_hold_twice_the_parameters():
  old, new = {"params": 200, "macs": 4000}, {"params": 100, "macs": 2000, "counts": "total"}
  assert report.values("params", [old, new]) == [100.0, 100.0]
  assert report.values("macs", [old, new]) == [2000.0, 2000.0]


def test_the_table_names_an_accelerator_and_the_commit_can_be_given(monkeypatch):
  cpu = {"cpus": 2, "load_average": 0.5, "device": "cpu"}
  gpu = {"cpus": 16, "load_average": 1.5, "device": "1 x NVIDIA H200"}
  assert report._machine({"a": [cpu, {"cpus": 2, "load_average": 1.0}]}) == (
      "2 CPU cores, load average 0.5-1.0 at the runs' ends")
  assert report._machine({"a": [gpu]}).startswith("1 x NVIDIA H200 with 16 CPU cores")
  monkeypatch.setenv("JAXCNN_COMMIT", "abc1234")
  assert run._git_commit() == "abc1234"


def _totals(study, size=64):
  from jaxcnn.tools import summary
  totals = {}
  for arm in study.arms:
    model = models.from_config(run.build_config(arm, 0), 10, (size, size, 1))
    totals[arm.name] = next(r for r in summary.summarize(model, (1, size, size, 1))
                            if r.path == "")
  return totals


def test_the_factorisation_studys_arms_cost_the_same():
  """Each factorised arm's width brings its multiply-adds within 1% of GoogLeNet's, the
  figures its SETUP states."""
  study = study_lib.load(os.path.join(study_lib.REPO, "experiments", "factorisation.py"))
  assert [arm.overrides["model_kwargs.factorise"] for arm in study.arms] == [
      "none", "3x3", "asymmetric"]
  totals = _totals(study)
  base = totals["5x5 (GoogLeNet)"].macs
  for name, total in totals.items():
    assert abs(total.macs - base) <= 0.01 * base, name
    assert f"{total.macs:,}" in study.setup and f"{total.params:,}" in study.setup, name


def test_the_factorisation_follow_ups_counts_at_128_are_its_setups():
  study = study_lib.load(os.path.join(study_lib.REPO, "experiments", "factorisation_128.py"))
  assert all(arm.overrides["data.image_size"] == 128 for arm in study.arms)
  totals = _totals(study, 128)
  setup = " ".join(study.setup.split())
  for name, total in totals.items():
    assert f"{total.macs:,}" in setup and f"{total.params:,}" in setup, name
  two, asymmetric = totals["two 3x3"].macs, totals["1x3 + 3x1"].macs
  assert abs(asymmetric - two) <= 0.01 * two


def test_the_grid_reduction_studys_counts_are_its_setups():
  study = study_lib.load(os.path.join(study_lib.REPO, "experiments", "grid_reduction.py"))
  totals = _totals(study)
  setup = " ".join(study.setup.split())
  for name, total in totals.items():
    assert f"{total.params:,} parameters and {total.macs / 1e6:.2f}M" in setup or \
        f"{total.params:,} and {total.macs / 1e6:.2f}M" in setup, name
  conv_then_pool, parallel = totals["convolution then pooling"], totals["parallel (Fig. 10)"]
  assert conv_then_pool.params == parallel.params and conv_then_pool.macs > parallel.macs


def test_a_loss_logged_after_a_stop_and_resume_is_not_compared(tmp_path, capsys):
  # The record's run was stopped at step 10 and resumed: it logged there, off the grid of
  # 4, and its loss at 12 averages steps 11-12 only. The rerun ran unbroken.
  arm = study_lib.Arm("wide", "configs/lenet5.py:small", {})
  study = study_lib.Study(name="width", path="width.py", title="", claim="", scale="",
                          seeds=(0,), arms=(arm,))
  record = {"top1": 0.5, "curve": [{"step": 4, "train/loss": 2.0},
                                   {"step": 8, "train/loss": 1.5},
                                   {"step": 10, "train/loss": 1.4, "train/top1": 0.3},
                                   {"step": 12, "train/loss": 1.25},
                                   {"step": 16, "train/loss": 1.0}]}
  workdir = tmp_path / "rerun"
  workdir.mkdir()
  rows = [{"step": 4, "train/loss": 2.0}, {"step": 8, "train/loss": 1.5},
          {"step": 12, "train/loss": 1.3}, {"step": 16, "train/loss": 1.0}]
  (workdir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
  entry = run.compare(study, arm, 0, record, 0.5, str(workdir), str(tmp_path))
  assert entry["losses_after_a_stop"] == [12] and entry["first_different_step"] is None
  assert entry["losses_compared"] == entry["losses_equal"] == 3
  assert "the losses at step 12, logged after one run stopped" in capsys.readouterr().out
  # A difference elsewhere is still found.
  rows[3]["train/loss"] = 0.9
  (workdir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
  entry = run.compare(study, arm, 0, record, 0.5, str(workdir), str(tmp_path))
  assert entry["first_different_step"] == 16 and entry["losses_equal"] == 2


def test_reproduce_trains_a_recorded_run_again_and_compares_it(data_dir, tmp_path,
                                                               monkeypatch, capsys):
  monkeypatch.setenv("JAXCNN_CODE_VERSION", "abc1234")
  study = tmp_path / "width.py"
  study.write_text(STUDY.format(data_dir=data_dir).replace("SEEDS = (0, 1)", "SEEDS = (3,)"))
  results, runs = tmp_path / "results", tmp_path / "runs"
  argv = [str(study), f"--results_dir={results}", f"--workdir_root={runs}"]
  assert run.main(argv) == 0
  capsys.readouterr()
  cache = jax.config.jax_enable_compilation_cache
  try:
    assert run.main(argv + ["--reproduce=wide"]) == 0  # The first seed, 3.
    assert not jax.config.jax_enable_compilation_cache  # Compiled afresh.
  finally:
    jax.config.update("jax_enable_compilation_cache", cache)
  entry, = [json.loads(line) for line in (results / run.REPRODUCTIONS).read_text().splitlines()]
  record = json.load(open(results / "width" / "wide-seed3.json"))
  # The same machine, code version and cores: bit for bit.
  assert entry["arm"] == "wide" and entry["seed"] == 3 and entry["code_version"] == "abc1234"
  assert entry["top1"] == entry["recorded_top1"] == record["top1"]
  assert entry["difference_points"] == 0 and entry["first_different_step"] is None
  assert entry["losses_compared"] == entry["losses_equal"] == 4
  assert entry["workdir"] == str(runs / "width" / "reproduce" / "wide" / "seed3")
  assert "every one of the 4 logged training losses equal" in capsys.readouterr().out
  # A second reproduction is appended, not written over the first.
  assert run.main(argv + ["--reproduce=narrow:3"]) == 0
  assert len((results / run.REPRODUCTIONS).read_text().splitlines()) == 2
  # Reproducing a run again trains it again: the finished reproduction's workdir is not
  # resumed (which would train nothing).
  marker = runs / "width" / "reproduce" / "wide" / "seed3" / "marker"
  marker.write_text("")
  assert run.main(argv + ["--reproduce=wide:3"]) == 0
  assert not marker.exists() and "starting it afresh" in capsys.readouterr().out
  third = json.loads((results / run.REPRODUCTIONS).read_text().splitlines()[2])
  assert third["losses_compared"] == third["losses_equal"] == 4

  # Another code version, an unknown arm or seed: refused, saying why.
  monkeypatch.setenv("JAXCNN_CODE_VERSION", "def5678")
  assert run.main(argv + ["--reproduce=wide:3"]) == 1
  assert "trained at code version abc1234" in capsys.readouterr().err
  monkeypatch.setenv("JAXCNN_CODE_VERSION", "abc1234")
  assert run.main(argv + ["--reproduce=medium"]) == 1
  assert "'narrow', 'wide'" in capsys.readouterr().err
  assert run.main(argv + ["--reproduce=wide:0"]) == 1
  assert "no record of wide, seed 0" in capsys.readouterr().err


def test_cpu_id_names_the_family_model_and_widest_vector_instructions(tmp_path):
  cpuinfo = tmp_path / "cpuinfo"
  head = "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 17\n" \
         "model name\t: AMD EPYC\n"
  cpuinfo.write_text(head + "flags\t\t: fpu sse avx avx2 avx512f avx512bw\n\n" + head)
  assert run.cpu_id(str(cpuinfo)) == "family 25 model 17, AVX-512"
  cpuinfo.write_text(head + "flags\t\t: fpu sse avx avx2\n")
  run.cpu_id.cache_clear()
  assert run.cpu_id(str(cpuinfo)) == "family 25 model 17, AVX2"
  assert run.cpu_id(str(tmp_path / "absent")) == ""


def test_reproduce_chooses_a_run_of_this_processor_and_says_when_it_is_another(
    tmp_path, monkeypatch, capsys):
  study_file = tmp_path / "width.py"
  study_file.write_text(STUDY.format(data_dir=str(tmp_path)))
  narrow, wide = study_lib.load(str(study_file)).arms
  results = tmp_path / "results"
  here = {"device": run._device(), "cpu_model": run.cpu_model(), "cpu_id": run.cpu_id()}
  elsewhere = {"device": "cpu", "cpu_model": "Another CPU"}
  # One model name on another family or instruction set: another processor too.
  same_name = {**here, "cpu_id": "family 1 model 2, SSE"}
  for arm, seed, machine in [(narrow, 0, same_name), (narrow, 1, here), (wide, 0, elsewhere),
                             (wide, 1, elsewhere)]:
    records.write(str(results), "width", arm, seed,
                  {**_fake_record(arm.name, seed, "v1"), **machine})
  monkeypatch.setenv("JAXCNN_CODE_VERSION", "v1")
  trained = []
  from jaxcnn import train
  monkeypatch.setattr(train, "train_and_evaluate", lambda config, workdir: trained.append(
      config.seed) or {"eval/top1": 0.9})
  argv = [str(study_file), f"--results_dir={results}", f"--workdir_root={tmp_path / 'runs'}"]
  assert run.main(argv + ["--reproduce=narrow"]) == 0
  assert trained == [1] and "Another processor" not in capsys.readouterr().out
  assert run.main(argv + ["--reproduce=wide"]) == 0  # None of this processor's: the first.
  assert trained == [1, 0] and "Another processor or device than the record's" in (
      capsys.readouterr().out)


def test_status_says_what_is_recorded_in_progress_and_left(tmp_path, monkeypatch, capsys):
  study_file = tmp_path / "width.py"
  study_file.write_text(STUDY.format(data_dir=str(tmp_path)))
  study = study_lib.load(str(study_file))
  narrow, wide = study.arms
  results, runs = tmp_path / "results", tmp_path / "runs"
  records.write(str(results), "width", narrow, 0,
                {**_fake_record("narrow", 0, "v1"), "wall_s": 600.0, "device": "cpu"})
  records.write(str(results), "width", narrow, 1,  # Resumed: its wall time is not a run's.
                {**_fake_record("narrow", 1, "v1"), "wall_s": 5.0, "resumed": True,
                 "device": "cpu"})
  workdir = runs / "width" / "wide" / "seed0"
  workdir.mkdir(parents=True)
  (workdir / "metrics.jsonl").write_text('{"step": 4}\n{"step": 6}\n{"ste')  # Cut short.
  monkeypatch.setenv("JAXCNN_CODE_VERSION", "v2")
  argv = [str(study_file), f"--results_dir={results}", f"--workdir_root={runs}", "--status"]
  monkeypatch.setattr(run, "run_one", lambda *a: pytest.fail("--status trained a run"))
  assert run.main(argv) == 0
  out = capsys.readouterr().out
  assert "width: 2 of 4 runs recorded." in out
  assert "v1 (2); this checkout: v2" in out and "worktree at v1" in out
  assert "seeds 0, 1 recorded (of another code version: seeds 0, 1)" in out
  # Retraining them here (--rerun_stale) costs narrow's pace, 600 s, each.
  assert "the 2 runs of another code version train again too: about 20 min more." in out
  # One of them being retrained (a fresh workdir, short of the recorded 20 steps).
  stale_workdir = runs / "width" / "narrow" / "seed0"
  stale_workdir.mkdir(parents=True)
  (stale_workdir / "metrics.jsonl").write_text('{"step": 5}\n')
  assert run.main(argv) == 0
  out = capsys.readouterr().out
  assert "seed 0 retraining, at step 5 of 20" in out and "about 18 min more" in out
  assert "Devices: cpu (2)." in out and "Processors:" not in out  # None recorded.
  lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ")}
  assert "seeds 0, 1 recorded" in lines["narrow"]
  assert "seed 0 at step 6" in lines["wide"] and "seed 1 not started" in lines["wide"]
  # Only narrow's runs have a pace (600 s, the one not resumed); both of its seeds are recorded,
  # and wide has no run of its own to time.
  assert "min of training" not in out and "to go: the runs of wide, which no recorded" in out

  records.write(str(results), "width", wide, 1,
                {**_fake_record("wide", 1, "v1"), "wall_s": 1200.0, "steps": 20,
                 "cpu_model": "AMD EPYC"})
  assert run.main(argv) == 0
  out = capsys.readouterr().out
  # wide seed 0 is at step 6 of the 20 its recorded run took: 70% of 1,200 s left.
  assert "3 of 4 runs recorded" in out and "seed 0 at step 6 of 20" in out
  monkeypatch.setenv("JAXCNN_CODE_VERSION", "v1")  # Now every record is of this version.
  assert run.main(argv) == 0
  out = capsys.readouterr().out
  assert "another code version" not in out and "worktree" not in out
  assert "about 14 min of training left" in out and "plus" not in out
  assert "Devices: cpu (2), not recorded (1)." in out
  assert "Processors: AMD EPYC (1), not recorded (2)." in out
  assert "Mixed kinds of device" not in out
  records.write(str(results), "width", wide, 1,
                {**_fake_record("wide", 1, "v1"), "device": "1 x NVIDIA H200"})
  assert run.main(argv) == 0
  out = capsys.readouterr().out
  assert "Devices: 1 x NVIDIA H200 (1), cpu (2)." in out
  assert "Mixed kinds of device: a table needs one." in out
  assert "Not reproduced from a record at its code version yet" in out
  rerun = {"study": "width", "arm": "narrow", "seed": 0, "code_version": "v1",
           "difference_points": -0.5, "losses_equal": 0, "losses_compared": 4, "device": "cpu",
           "recorded_device": "cpu", "cpu_model": "Xeon", "recorded_cpu_model": "Xeon",
           "date": "2026-12-01"}
  (results / run.REPRODUCTIONS).write_text("".join(json.dumps(e) + "\n" for e in [
      rerun, {**rerun, "seed": 1, "code_version": "v0"},  # Of another code version.
      {**rerun, "study": "depth", "date": "2026-12-02"},  # Of another study.
      rerun, {**rerun, "cpu_model": "AMD EPYC", "date": "2026-12-03"},  # Later, elsewhere.
      {**rerun, "recorded_cpu_model": None, "date": "2026-12-04"}]))  # Record's not known.
  assert run.main(argv) == 0
  out = capsys.readouterr().out
  assert ("Reproduced from its record: narrow, seed 0, -0.50 points, 0 of 4 logged losses "
          "equal (cpu, 2026-12-01).") in out and "Not reproduced" not in out
  # Where none ran on the record's own processor: one where either is unknown, else another.
  lines = (results / run.REPRODUCTIONS).read_text().splitlines()
  (results / run.REPRODUCTIONS).write_text("\n".join(lines[1:3] + lines[4:]) + "\n")
  assert run.main(argv) == 0
  assert ("equal (cpu, 2026-12-04; the record's processor or the rerun's not recorded)."
          in capsys.readouterr().out)
  (results / run.REPRODUCTIONS).write_text("\n".join(lines[1:3] + lines[4:5]) + "\n")
  assert run.main(argv) == 0
  assert ("-0.50 points, 0 of 4 logged losses equal (cpu, 2026-12-03; another processor than "
          "the record's).") in capsys.readouterr().out
  # Several studies at once, with --status only.
  other = tmp_path / "depth.py"
  other.write_text(STUDY.format(data_dir=str(tmp_path)).replace('"Width"', '"Depth"'))
  assert run.main([str(study_file), str(other)] + argv[1:]) == 0
  out = capsys.readouterr().out
  assert "width: 3 of 4 runs recorded." in out and "depth: 0 of 4 runs recorded." in out
  with pytest.raises(SystemExit):
    run.main([str(study_file), str(other)] + argv[1:-1])
  assert "one study at a time" in capsys.readouterr().err
  # No study named: every study file of the repository, from the committed records.
  assert run.main(["--status"]) == 0
  out = capsys.readouterr().out
  assert "factorisation: 15 of 15 runs recorded." in out and "Every run is recorded." in out
  factorisation, = [block for block in out.split("\n\n") if block.startswith("factorisation:")]
  assert "Reproduced from its record: " in factorisation
  assert len([line for line in out.splitlines() if " runs recorded." in line]) == len(STUDIES)


def test_seeds_flag_trains_only_those_seeds_and_refuses_unknown_ones(tmp_path, monkeypatch,
                                                                     capsys):
  study = tmp_path / "width.py"
  study.write_text(STUDY.format(data_dir=str(tmp_path)))
  trained = []
  monkeypatch.setattr(run, "run_one", lambda study, arm, seed, *a: trained.append(
      (arm.name, seed)) or {"arm": arm.name, "seed": seed})
  argv = [str(study), f"--results_dir={tmp_path / 'results'}", f"--workdir_root={tmp_path}"]
  # Seed 0 of neither arm is recorded: with --seeds 1 the table still lacks it.
  assert run.main(argv + ["--seeds", "1"]) == 1
  assert trained == [("narrow", 1), ("wide", 1)]
  assert "have no record yet" in capsys.readouterr().out
  assert run.main(argv + ["--seeds", "1", "7"]) == 1
  assert trained == [("narrow", 1), ("wide", 1)]
  assert "width has no seed 7; its seeds are 0, 1." in capsys.readouterr().err
  # --arms: only those arms, of every seed (or of --seeds); an unknown arm is refused. (The
  # stand-in run_one writes no record, so seed 1 is not recorded here.)
  assert run.main(argv + ["--arms", "wide"]) == 1
  assert trained[2:] == [("wide", 0), ("wide", 1)]
  assert run.main(argv + ["--arms", "narrow", "--seeds", "0"]) == 1
  assert trained[4:] == [("narrow", 0)]
  assert run.main(argv + ["--arms", "widest"]) == 1
  assert "width has no arm 'widest'; its arms are 'narrow', 'wide'." in capsys.readouterr().err
  assert len(trained) == 5


def test_a_run_another_process_is_training_is_left_to_it(tmp_path, monkeypatch, capsys):
  from jaxcnn import workdir_lock
  study_file = tmp_path / "warm.py"
  study_file.write_text(STUDY.format(data_dir=str(tmp_path)).replace(
      'paper="better")', 'paper="better", init_from="narrow")'))
  runs = tmp_path / "runs"
  workdir = runs / "warm" / "narrow" / "seed0"
  workdir.mkdir(parents=True)
  monkeypatch.setenv("JAXCNN_CODE_VERSION", "v1")
  trained = []

  def fake_run_one(study, arm, seed, results_dir, workdir_root, stop=None):
    trained.append((arm.name, seed))
    os.makedirs(os.path.join(run.run_workdir(workdir_root, study.name, arm, seed),
                             "checkpoints"), exist_ok=True)
    record = _fake_record(arm.name, seed, "v1")
    records.write(results_dir, study.name, arm, seed, record)
    return record

  monkeypatch.setattr(run, "run_one", fake_run_one)
  argv = [str(study_file), f"--results_dir={tmp_path / 'results'}", f"--workdir_root={runs}"]
  assert status.training_elsewhere(str(workdir)) is None
  with workdir_lock.acquire(str(workdir)):  # As a run in another process holds it.
    assert f"pid {os.getpid()} on " in status.training_elsewhere(str(workdir))
    assert run.main(argv) == 1  # Neither narrow's seed 0 nor wide's, which starts from it.
    assert trained == [("narrow", 1), ("wide", 1)]
    out = capsys.readouterr().out
    assert (f"Left to the runs training them now in other processes: narrow, seed 0 (pid "
            f"{os.getpid()} on ") in out and "wide, seed 0 (after narrow's run, pid " in out
  assert status.training_elsewhere(str(workdir)) is None  # Released: trained here now.
  assert run.main(argv) == 0
  assert trained[2:] == [("narrow", 0), ("wide", 0)]


def test_pace_scales_a_resumed_sitting_and_an_untimed_arm_by_its_multiply_adds():
  # Resumed at step 15 of 20: its 100 s trained a quarter of the run, so 400 s a run; a
  # resumed record that does not say where its sitting started times nothing.
  resumed = {"arm": "a", "wall_s": 100.0, "steps": 20, "resumed": True, "sitting_from_step": 15}
  old = {"arm": "a", "wall_s": 5.0, "steps": 20, "resumed": True}
  assert status.pace([resumed, old]) == 400.0 and status.pace([old]) is None
  assert status.pace([resumed, {"arm": "a", "wall_s": 200.0, "steps": 20}]) == 300.0
  assert status.time_left([resumed], 10) == 200.0
  # An arm timed by nothing of its own: the other arms' seconds per multiply-add and step
  # (a: 400 s for 100 MACs x 20 steps), times its own (300 MACs x 10 steps), less its steps.
  b = {"arm": "b", "wall_s": 9.0, "steps": 10, "resumed": True, "macs": 300}
  others = [{**resumed, "macs": 100}]
  assert status.time_left([b], None, others) == 600.0
  assert status.time_left([b], 5, others) == 300.0
  assert status.time_left([b], None) is None and status.time_left([], None, others) is None


def test_stop_at_starts_only_the_runs_that_should_finish_by_then(tmp_path, monkeypatch,
                                                                  capsys):
  study_file = tmp_path / "width.py"
  study_file.write_text(STUDY.format(data_dir=str(tmp_path)))
  narrow, wide = study_lib.load(str(study_file)).arms
  results, runs = tmp_path / "results", tmp_path / "runs"
  # narrow's seed 0 trained in one sitting in 600 s; wide has no run to time it by.
  records.write(str(results), "width", narrow, 0,
                {**_fake_record("narrow", 0, "v1"), "wall_s": 600.0})
  monkeypatch.setenv("JAXCNN_CODE_VERSION", "v1")
  trained = []

  def fake_run_one(study, arm, seed, results_dir, *a):
    trained.append((arm.name, seed))
    if (arm.name, seed) == ("wide", 0):  # As if another process recorded it meanwhile: 1 h.
      records.write(results_dir, "width", wide, 1, {**_fake_record("wide", 1, "v1"),
                                                      "wall_s": 3600.0})
    return {"arm": arm.name, "seed": seed}

  monkeypatch.setattr(run, "run_one", fake_run_one)
  argv = [str(study_file), f"--results_dir={results}", f"--workdir_root={runs}"]
  in_five_minutes = datetime.datetime.now() + datetime.timedelta(minutes=5)
  stop = f"--stop_at={in_five_minutes.isoformat(timespec='seconds')}"
  assert run.main(argv + [stop]) == 1  # The table still lacks narrow's seed 1.
  # wide, untimed, started; then narrow's 10 min and wide's hour, timed meanwhile: put off.
  assert trained == [("wide", 0)]
  out = capsys.readouterr().out
  assert ("would not finish by --stop_at: narrow, seed 1 (about 10 min); wide, seed 1 (about "
          "60 min).") in out
  # Three quarters of it trained before a cut: the 150 s left fit.
  workdir = runs / "width" / "narrow" / "seed1"
  workdir.mkdir(parents=True)
  (workdir / "metrics.jsonl").write_text('{"step": 15}\n')
  trained.clear()
  assert run.main(argv + ["--seeds", "1", stop]) == 1
  # (wide's seed 1 is recorded now.)
  assert trained == [("narrow", 1)] and "--stop_at" not in capsys.readouterr().out
  # An arm whose only record was resumed (and does not say from where) is paced by the other
  # arm per multiply-add and step: wide's seed 1, as costly as narrow's 600 s, is put off.
  results = tmp_path / "results2"
  records.write(str(results), "width", narrow, 0,
                {**_fake_record("narrow", 0, "v1"), "wall_s": 600.0})
  records.write(str(results), "width", wide, 0,
                {**_fake_record("wide", 0, "v1"), "wall_s": 60.0, "resumed": True})
  trained.clear()
  assert run.main([str(study_file), f"--results_dir={results}", f"--workdir_root={runs}",
                   "--seeds", "1", "--arms", "wide", stop]) == 1
  assert trained == [] and "by --stop_at: wide, seed 1 (about 10 min)." in (
      capsys.readouterr().out)
  # HH:MM is the next such time; anything else is refused, saying what a time looks like.
  assert 0 < run.stop_time("00:00") - datetime.datetime.now().timestamp() <= 86400
  with pytest.raises(SystemExit):
    run.main(argv + ["--stop_at=soon"])
  assert "'soon' is not a time: give HH:MM" in capsys.readouterr().err


@pytest.mark.parametrize("when", ["in the final evaluation", "between runs"])
def test_a_sigterm_late_in_a_run_records_it_and_stops_before_the_next(when, tmp_path,
                                                                      monkeypatch, capsys):
  study = tmp_path / "width.py"
  study.write_text(STUDY.format(data_dir=str(tmp_path)))
  trained = []

  def fake_run_one(study, arm, seed, results_dir, workdir_root, stop):
    if when == "between runs":  # Training returned and put the runner's handlers back.
      stop.restore_handlers()
    os.kill(os.getpid(), signal.SIGTERM)  # After the training's last chance to stop.
    trained.append((arm.name, seed))
    record = _fake_record(arm.name, seed, "abc1234")
    records.write(results_dir, study.name, arm, seed, record)
    return record

  monkeypatch.setattr(run, "run_one", fake_run_one)
  results = tmp_path / "results"
  argv = [str(study), f"--results_dir={results}", f"--workdir_root={tmp_path / 'runs'}"]
  assert run.main(argv) == 0
  assert trained == [("narrow", 0)]
  assert [p.name for p in (results / "width").iterdir()] == ["narrow-seed0.json"]
  assert "Received SIGTERM: narrow, seed 0 finished and is recorded" in capsys.readouterr().out
  assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # The runner's handlers removed.


def test_records_keep_the_variables_that_change_a_runs_arithmetic(monkeypatch):
  monkeypatch.delenv("XLA_FLAGS", raising=False)
  monkeypatch.delenv("OPENBLAS_CORETYPE", raising=False)
  assert run._environment() == {}
  monkeypatch.setenv("OPENBLAS_CORETYPE", "Zen")
  assert run._environment() == {"environment": {"OPENBLAS_CORETYPE": "Zen"}}


def test_another_studys_record_of_the_same_run_is_shared_not_retrained(tmp_path, monkeypatch,
                                                                       capsys):
  monkeypatch.setenv("JAXCNN_CODE_VERSION", "abc1234")
  study_file = tmp_path / "width.py"
  study_file.write_text(STUDY.format(data_dir=str(tmp_path)))
  study = study_lib.load(str(study_file))
  narrow, wide = study.arms
  results = tmp_path / "results"
  here = {"device": run._device(), "cpu_model": run.cpu_model(), "cpu_id": run.cpu_id(),
          "cpus": os.cpu_count(), **run._environment()}

  def other(arm, seed, **changes):  # "depth"'s record of the run ``arm`` builds at ``seed``.
    config = json.loads(run.build_config(arm, seed).to_json_best_effort())
    record = {**_fake_record("deep", seed, "abc1234", top1=0.8), **here, "study": "depth",
              "config_values": config, "workdir": f"runs/depth/deep/seed{seed}"}
    record.update(changes)
    records.write(str(results), "depth", study_lib.Arm("deep", "c"), seed, record)

  other(narrow, 0)                                  # The same run: shared.
  other(narrow, 1, cpu_model="another processor")   # Another machine: trained.
  trained = []

  def fake_run_one(study, arm, seed, results_dir, workdir_root, stop=None):
    trained.append((arm.name, seed))
    record = {**_fake_record(arm.name, seed, "abc1234"), **here}
    records.write(results_dir, study.name, arm, seed, record)
    return record

  monkeypatch.setattr(run, "run_one", fake_run_one)
  argv = [str(study_file), f"--results_dir={results}", f"--workdir_root={tmp_path / 'runs'}"]
  assert run.main(argv + ["--status"]) == 0  # Says so, and counts it as no training.
  out = capsys.readouterr().out
  assert "4 runs to go: 1 of them shared from other studies' records, no training" in out
  narrow_line = next(line for line in out.splitlines() if line.startswith("  narrow"))
  assert "seed 1 not started; seed 0 to share from depth's 'deep' (recorded there" in narrow_line
  assert run.main(argv) == 0
  assert trained == [("wide", 0), ("narrow", 1), ("wide", 1)]
  record = json.load(open(results / "width" / "narrow-seed0.json"))
  assert record["study"] == "width" and record["arm"] == "narrow" and record["top1"] == 0.8
  assert record["shared_from"] == {"study": "depth", "arm": "deep"}
  assert record["workdir"] == "runs/depth/deep/seed0"  # Where the run lies.
  assert "is depth's run 'deep', seed 0" in capsys.readouterr().out
  table = (results / "width.md").read_text()
  assert "shared with other studies' records (the same runs): 1 of depth's 'deep'" in table
  # --refresh_curves reads a shared record's curve from the run's workdir, the one it names.
  deep = tmp_path / "runs" / "depth" / "deep" / "seed0"
  deep.mkdir(parents=True)
  (deep / "metrics.jsonl").write_text(  # The validation metrics kept, their count not.
      '{"step": 3, "train/loss": 1.5, "val/top1": 0.7, "val/count": 6000.0}\n')
  with monkeypatch.context() as m:
    m.setattr(run, "REPO", str(tmp_path))
    assert run.refresh_curves(study, str(results), str(tmp_path / "runs")) == 1
  assert json.load(open(results / "width" / "narrow-seed0.json"))["curve"] == [
      {"step": 3, "train/loss": 1.5, "val/top1": 0.7}]

  # --no_sharing, a config that differs in one field, a dirty tree: trained here.
  shutil.rmtree(results / "width")
  trained.clear()
  assert run.main(argv + ["--no_sharing", "--seeds", "0"]) == 1
  assert trained == [("narrow", 0), ("wide", 0)]
  shutil.rmtree(results / "width")
  trained.clear()
  other(narrow, 0, config_values={**json.loads(run.build_config(narrow, 0)
                                               .to_json_best_effort()), "width": 0.5})
  assert run.main(argv + ["--seeds", "0"]) == 1
  assert trained == [("narrow", 0), ("wide", 0)]
  shutil.rmtree(results / "width")
  trained.clear()
  other(narrow, 0)
  monkeypatch.setenv("JAXCNN_CODE_VERSION", "abc1234+dirty")
  assert run.main(argv + ["--seeds", "0"]) == 1
  assert ("narrow", 0) in trained
  # The same model name on another family or instruction set, or a record that does not say
  # which: another machine, trained here.
  monkeypatch.setenv("JAXCNN_CODE_VERSION", "abc1234")
  for changes in ({"cpu_id": "family 1 model 2, SSE"}, {"cpu_id": None}):
    shutil.rmtree(results / "width")
    trained.clear()
    other(narrow, 0, **changes)
    assert run.main(argv + ["--seeds", "0"]) == 1
    assert trained == [("narrow", 0), ("wide", 0)]


def test_device_run_sh_trains_each_argument_in_a_process_and_returns_every_record(tmp_path):
  """experiments/device/run.sh with a stand-in python3: each argument is one process (a study
  with seeds, or experiments.run's own arguments, ';' between runs one after another), arm
  names with spaces stay one argument, and every record written comes back in records.tar
  with each process's log in logs.tar."""
  import subprocess
  import tarfile
  kit = tmp_path / "repo" / ".devkit"
  (kit / "whl").mkdir(parents=True)
  (kit / "whl" / "x.whl").write_text("")
  (kit / "VERSION").write_text("abc1234\n")
  (tmp_path / "empty").mkdir()
  for name in ("data.tar", "tree.tar"):
    with tarfile.open(kit / name, "w") as tar:
      tar.add(tmp_path / "empty", arcname="experiments/results")
  bin_dir = tmp_path / "bin"
  bin_dir.mkdir()
  stub = bin_dir / "python3"  # Prints experiments.run's arguments and writes one record.
  stub.write_text("""#!/usr/bin/env bash
case "$1" in
  -c) echo 0.3 ;;
  -m) if [ "$2" = experiments.run ]; then
        shift 2; printf '<%s>' "$@"; echo " code version $JAXCNN_CODE_VERSION"
        mkdir -p experiments/results/s && echo '{}' > "experiments/results/s/$$.json"
      fi ;;
esac
""")
  stub.chmod(0o755)
  env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "OUT": str(tmp_path / "out"),
         "SCRATCH": str(tmp_path / "scratch"), "HOME": str(tmp_path / "home")}
  script = os.path.join(study_lib.REPO, "experiments", "device", "run.sh")
  result = subprocess.run(
      ["bash", script, "60", "experiments/a.py --arms 'x, y' --seeds 0 3",
       "experiments/a.py --arms z; experiments/a.py --reproduce z:0", "experiments/b.py:1,2"],
      cwd=tmp_path / "repo", env=env, capture_output=True, text=True, timeout=60)
  assert result.returncode == 0, result.stderr
  with tarfile.open(tmp_path / "out" / "logs.tar") as tar:
    logs = {os.path.basename(m.name): tar.extractfile(m).read().decode()
            for m in tar.getmembers() if m.isfile()}
  assert "<experiments/a.py><--arms><x, y><--seeds><0><3> code version abc1234" in logs["1.log"]
  first, second = (logs["2.log"].index(s) for s in ("<--arms><z>", "<--reproduce><z:0>"))
  assert first < second
  assert "<experiments/b.py><--seeds><1><2>" in logs["3.log"]
  with tarfile.open(tmp_path / "out" / "records.tar") as tar:
    assert len([m for m in tar.getnames() if m.endswith(".json")]) == 4
