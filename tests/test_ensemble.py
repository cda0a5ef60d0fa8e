"""python -m jaxcnn.tools.ensemble: the mean of several runs' softmax, and each run's score."""

import json

import jax
import numpy as np
import pytest

from jaxcnn import checkpoint
from jaxcnn import loading
from jaxcnn import train
from jaxcnn.data import builders
from jaxcnn.data import sources
from jaxcnn.errors import UserError
from jaxcnn.tools import ensemble
from jaxcnn.tools import predict
from tests.conftest import tiny_config
from tests.tolerance import assert_close, differ

# Two epochs of the synthetic set, after which both runs classify (nearly) every test image:
# an ensemble of less trained runs need not match its better member, so the averaging itself
# is tested on its own below.
STEPS = 64


@pytest.fixture(scope="module")
def two_runs(data_dir, tmp_path_factory):
  """[(workdir, final eval metrics)] of two tiny LeNet-5 runs of different seeds."""
  runs = []
  for seed in (0, 1):
    c = tiny_config(data_dir)
    c.seed, c.num_train_steps = seed, STEPS
    workdir = str(tmp_path_factory.mktemp(f"seed{seed}"))
    runs.append((workdir, train.train_and_evaluate(c, workdir)))
  return runs


def test_the_ensemble_scores_at_least_its_better_member(two_runs):
  result = ensemble.ensemble([w for w, _ in two_runs])
  members = result["members"]
  # Each member scores as the trainer's evaluation did.
  for member, (workdir, metrics) in zip(members, two_runs):
    assert member["workdir"] == workdir and member["step"] == STEPS
    assert member["count"] == 300 and member["protocol"] == "center"
    assert member["top1"] == pytest.approx(metrics["eval/top1"], abs=1e-6)
    assert member["top5"] == pytest.approx(metrics["eval/top5"], abs=1e-6)
  assert result["ensemble"]["count"] == 300
  assert result["ensemble"]["top1"] >= max(m["top1"] for m in members)
  # -log of a mean probability is at most the mean of the -logs (Jensen).
  assert result["ensemble"]["loss"] <= np.mean([m["loss"] for m in members]) + 1e-6


def test_the_ensemble_probabilities_are_the_mean_of_the_members_softmax(two_runs, config,
                                                                        data_dir, tmp_path):
  # The two trained runs are nearly sure of every image; an untrained third is not.
  untrained = _checkpoint(config, tmp_path / "untrained", builders.FASHION_MNIST_CLASSES)
  paths = [w for w, _ in two_runs] + [untrained]
  result = ensemble.ensemble(paths)
  test = sources.load("fashion_mnist", ("test",), data_dir).splits["test"]
  np.testing.assert_array_equal(result["labels"], test.labels)
  # Each member's probabilities by predict's classifier, another path to the same protocol.
  members = [predict.classifier(loading.load_run(p))(test.images) for p in paths]
  assert differ(members[0], members[2]) and differ(result["probabilities"], members[0])
  assert_close(result["probabilities"], np.mean(members, axis=0), rtol=1e-5)
  assert_close(result["probabilities"].sum(-1), 1.0)


def test_command_line_table_and_json(two_runs, capsys):
  paths = [w for w, _ in two_runs]
  ensemble.main(paths + ["--json"])
  out = json.loads(capsys.readouterr().out)
  assert [m["workdir"] for m in out["members"]] == paths
  assert (out["dataset"], out["split"], out["ensemble"]["count"]) == ("fashion_mnist", "test", 300)
  ensemble.main(paths + ["--step", str(STEPS)])
  lines = capsys.readouterr().out.splitlines()
  assert lines[0] == "300 fashion_mnist 'test' images" and len(lines) == 5
  assert lines[2].startswith(paths[0]) and "lenet5_modern" in lines[2]
  assert lines[4].startswith("ensemble of 2")
  assert lines[4].split()[-2] == f"{out['ensemble']['top1']:.2%}"


def _checkpoint(config, workdir, class_names=None, num_classes=10):
  """A step-0 checkpoint of ``config``'s network, as jaxcnn.tools.convert writes one."""
  exp = train.Experiment(config, train=False, num_classes=num_classes, input_shape=(28, 28, 1),
                         class_names=class_names, devices=jax.devices()[:1])
  mngr = checkpoint.manager(str(workdir), keep=1)
  checkpoint.save(mngr, 0, exp.init_state(), config, metadata=exp.metadata())
  mngr.wait_until_finished()
  return str(workdir)


def test_members_of_other_classes_or_data_are_refused(two_runs, config, tmp_path, capsys):
  first = two_runs[0][0]
  seven = _checkpoint(config, tmp_path / "seven", num_classes=7)
  with pytest.raises(UserError, match=r"has 7 classes \(class 0, class 1, class 2, class 3, "
                     r"\.\.\.\), .* 10 \(T-shirt/top, .*same classes"):
    ensemble.ensemble([first, seven])
  config.eval_split = "test[:150]"
  half = _checkpoint(config, tmp_path / "half", builders.FASHION_MNIST_CLASSES)
  with pytest.raises(SystemExit) as exit_:
    ensemble.main([first, half])
  assert exit_.value.code == 1
  err = capsys.readouterr().err
  assert "is evaluated on fashion_mnist 'test[:150]'" in err and "fashion_mnist 'test'" in err
  assert "Traceback" not in err
  # A protocol the runs' configs cannot take is a message too.
  with pytest.raises(UserError, match="ten_crop' needs data.image_size > 0"):
    ensemble.ensemble([first], protocol="ten_crop")
