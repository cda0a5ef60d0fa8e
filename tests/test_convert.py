"""torchvision .pth -> Orbax checkpoint that the trainer restores, with the same logits."""

import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from jaxcnn import checkpoint
from jaxcnn.tools import convert
from jaxcnn import loading
from jaxcnn import train
from jaxcnn.errors import UserError

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _lenet_config():
  from jaxcnn import config as config_lib
  return config_lib.load_file("configs/lenet5.py", root=REPO)


def test_pth_converts_to_a_checkpoint_the_trainer_restores(tmp_path, no_inference):
  torch.manual_seed(0)
  net = torchvision.models.resnet18(weights=None, num_classes=7).eval()
  for m in net.modules():  # Non-trivial BatchNorm statistics.
    if isinstance(m, torch.nn.BatchNorm2d):
      m.running_mean.uniform_(-0.5, 0.5)
      m.running_var.uniform_(0.5, 2.0)
  pth = tmp_path / "resnet18.pth"
  torch.save(net.state_dict(), pth)
  workdir = tmp_path / "run"
  result = subprocess.run(
      [sys.executable, "-m", "jaxcnn.tools.convert", "--arch=resnet18", f"--pth={pth}",
       "--config=configs/lenet5.py", "--config.data.image_size=64", f"--workdir={workdir}"],
      cwd=REPO, capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr
  assert "Wrote resnet18 (7 classes) as checkpoint 0" in result.stdout

  config = _lenet_config()
  with config.unlocked():
    config.model = "resnet18"
  exp = train.Experiment(config, train=False, num_classes=7, input_shape=(64, 64, 3),
                         devices=jax.devices()[:1])
  mngr = checkpoint.manager(str(workdir), keep=1, create=False)
  assert mngr.all_steps() == [0]
  assert checkpoint.restore_config(mngr, 0)["model"] == "resnet18"
  metadata = checkpoint.restore_metadata(mngr, 0)  # Seven classes: none of them named.
  assert (metadata.model, metadata.num_classes, metadata.input_shape, metadata.class_names) \
      == ("resnet18", 7, (64, 64, 3), None)
  run = loading.load_run(workdir)  # From the metadata (no_inference).
  assert (run.num_classes, run.input_shape) == (7, (64, 64, 3))
  state = checkpoint.restore(mngr, 0, exp.abstract_state)

  x = np.random.default_rng(0).standard_normal((2, 64, 64, 3)).astype(np.float32)
  ours = exp.model.apply({"params": state.params, "batch_stats": state.batch_stats}, x,
                         train=False)
  with torch.no_grad():
    theirs = net(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy()
  np.testing.assert_allclose(np.asarray(ours), theirs, atol=1e-4 * np.abs(theirs).max())

  again = subprocess.run(
      [sys.executable, "-m", "jaxcnn.tools.convert", "--arch=resnet18", f"--pth={pth}",
       "--config=configs/lenet5.py", f"--workdir={workdir}"],
      cwd=REPO, capture_output=True, text=True, timeout=600)
  assert again.returncode == 1 and "already holds checkpoints" in again.stderr


def test_unknown_arch_lists_the_available_ones():
  with pytest.raises(UserError, match="Available: alexnet"):
    convert.torchvision_to_flax("vgg17", {})


def test_a_state_dict_of_another_architecture_is_refused():
  net = torchvision.models.resnet18(weights=None)
  with pytest.raises(ValueError):
    convert.torchvision_to_flax("resnet34", net.state_dict())


def test_weights_without_auxiliary_heads_fit_a_model_with_them():
  """torchvision's aux_logits=False state dicts leave a model's auxiliary heads (GoogLeNet's
  aux1/aux2, Inception-v3's AuxLogits) at their initial values; any other gap is refused."""
  from jaxcnn.tools.convert.__main__ import _merge
  initial = {"AuxLogits": {"fc": {"kernel": np.zeros((4, 2), np.float32)}},
             "aux1": {"fc": {"kernel": np.zeros((4, 2), np.float32)}},
             "fc": {"kernel": np.zeros((4, 2), np.float32)},
             "conv": {"kernel": np.zeros((3,), np.float32)}}
  converted = {"fc": {"kernel": np.ones((4, 2), np.float32)},
               "conv": {"kernel": np.ones((3,), np.float32)}}
  merged = _merge(initial, converted, "params")
  assert merged["fc"]["kernel"].sum() == 8 and merged["AuxLogits"]["fc"]["kernel"].sum() == 0
  with pytest.raises(UserError, match=r"missing \[\"\['conv'\]\['kernel'\]\"\]"):
    _merge(initial, {"fc": converted["fc"]}, "params")
