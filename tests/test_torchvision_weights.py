"""torchvision's pretrained weights by name (torchvision:ARCH[.WEIGHTS], convert --weights),
read from torch's hub cache; a file missing there is an error naming where it belongs."""

import os
import subprocess
import sys
import urllib.error

import numpy as np
import pytest

from jaxcnn import finetune
from jaxcnn import loading
from jaxcnn import train
from jaxcnn.errors import UserError
from jaxcnn.tools import convert
from jaxcnn.tools.convert import hub
from tests.tolerance import assert_close

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The file name of torchvision's ResNet18_Weights.IMAGENET1K_V1 (its URL's last part).
RESNET18_FILE = "resnet18-f37072fd.pth"


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
  """An empty torch hub cache ($TORCH_HOME/hub/checkpoints) where downloads fail as offline."""
  monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))

  def offline(url, *args, **kwargs):
    raise urllib.error.URLError("no network here")
  monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
  return tmp_path / "torch_home" / "hub" / "checkpoints"


def _place_resnet18(cache) -> dict:
  """A randomly initialised torchvision resnet18, saved where torchvision keeps IMAGENET1K_V1."""
  torch.manual_seed(0)
  net = torchvision.models.resnet18(weights=None)
  for m in net.modules():  # Statistics unlike a fresh network's.
    if isinstance(m, torch.nn.BatchNorm2d):
      m.running_mean.uniform_(-0.5, 0.5)
      m.running_var.uniform_(0.5, 2.0)
  cache.mkdir(parents=True, exist_ok=True)
  torch.save(net.state_dict(), cache / RESNET18_FILE)
  return {k: v.numpy() for k, v in net.state_dict().items()}


def test_init_from_torchvision_starts_a_run_with_those_weights(config, hub_cache, tmp_path,
                                                                capsys):
  weights = _place_resnet18(hub_cache)
  config.model = "resnet18"
  config.width = 1.0  # torchvision's
  config.data.image_size = 32
  config.init_from = "torchvision:resnet18"
  config.num_train_steps = 1
  config.checkpoint_every_steps = 1
  # A step too small to move the weights measurably: the checkpoint shows where it started.
  config.optimizer.learning_rate = 1e-10
  config.optimizer.weight_decay = 0.0
  workdir = str(tmp_path / "run")
  train.train_and_evaluate(config, workdir)
  out = capsys.readouterr().out
  assert (f"Initialised from torchvision:resnet18 (IMAGENET1K_V1, {hub_cache / RESNET18_FILE}): "
          "copied") in out
  assert "re-initialised the classifier head (" in out
  assert "fc/kernel (512, 1000) -> (512, 10)" in out and "fc/bias (1000,) -> (10,)" in out
  assert "summed conv1 over its RGB input channels for grayscale input" in out

  params = loading.load_run(workdir).variables["params"]
  assert_close(params["layer3_1"]["conv2"]["kernel"],
               weights["layer3.1.conv2.weight"].transpose(2, 3, 1, 0))
  assert_close(params["layer1_0"]["bn1"]["scale"], weights["layer1.0.bn1.weight"])
  assert_close(params["conv1"]["kernel"],
               weights["conv1.weight"].transpose(2, 3, 1, 0).sum(axis=2, keepdims=True))


def test_without_the_file_the_error_names_where_it_belongs(config, hub_cache, tmp_path):
  config.model = "resnet18"
  config.data.image_size = 32
  config.init_from = "torchvision:resnet18.IMAGENET1K_V1"
  with pytest.raises(UserError) as e:
    train.train_and_evaluate(config, str(tmp_path / "run"))
  message = str(e.value)
  assert f"expected the file {RESNET18_FILE} at {hub_cache / RESNET18_FILE}" in message
  assert "downloading https://download.pytorch.org/models/resnet18-f37072fd.pth failed " \
      "(URLError" in message
  assert "TORCH_HOME" in message and "--pth=FILE" in message
  assert not hub_cache.exists() or not os.listdir(hub_cache)


def test_names_are_checked_before_any_file_is_looked_for(config, hub_cache):
  exp = train.Experiment(config, train=False)
  with pytest.raises(UserError, match="torchvision's resnet18 is jaxcnn's resnet18, not "
                     "lenet5_modern; set --config.model=resnet18"):
    finetune.initialize(exp.init_state(), config, exp.input_shape, "torchvision:resnet18",
                        exp.state_sharding)
  with pytest.raises(UserError, match="no resnet18 weights named 'IMAGENET1K_V9'; it has "
                     "IMAGENET1K_V1"):
    hub.load("torchvision:resnet18.IMAGENET1K_V9")
  with pytest.raises(UserError, match="No torchvision converter for 'mobilenet_v2'"):
    hub.load("torchvision:mobilenet_v2")


def test_default_weights_are_torchvision_s(hub_cache):
  # resnet50's DEFAULT is IMAGENET1K_V2 (resnet50-11ad3fa6.pth), V1 is resnet50-0676ba61.pth.
  assert hub.cache_path(hub.weights_entry("resnet50")) == str(hub_cache / "resnet50-11ad3fa6.pth")
  assert hub.cache_path(hub.weights_entry("resnet50", "IMAGENET1K_V1")) == \
      str(hub_cache / "resnet50-0676ba61.pth")


def test_convert_reads_named_weights_from_the_hub_cache(tmp_path, hub_cache):
  weights = _place_resnet18(hub_cache)
  workdir = tmp_path / "converted"
  env = {**os.environ, "TORCH_HOME": str(tmp_path / "torch_home")}
  result = subprocess.run(
      [sys.executable, "-m", "jaxcnn.tools.convert", "--arch=resnet18",
       "--weights=IMAGENET1K_V1", "--config=configs/lenet5.py", "--config.data.image_size=32",
       f"--workdir={workdir}"], cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
      check=False)
  assert result.returncode == 0, result.stderr
  assert f"Wrote resnet18 (IMAGENET1K_V1 from {hub_cache / RESNET18_FILE}, 1000 classes)" \
      in result.stdout
  run = loading.load_run(workdir)
  assert_close(run.variables["batch_stats"]["layer2_0"]["bn2"]["var"],
               weights["layer2.0.bn2.running_var"])
  np.testing.assert_array_equal(run.variables["params"]["fc"]["bias"], weights["fc.bias"])


def test_convert_takes_the_architecture_s_config_by_default():
  assert convert.default_config("vgg16_bn").dataset == "imagenet2012"
  assert convert.default_config("resnet50").model == "resnet50"
