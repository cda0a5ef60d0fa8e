"""python -m jaxcnn.models: every registered model, its family, paper, input and parameters."""

import json

from jaxcnn import models
from jaxcnn.models import __main__ as listing
from tests.models.test_googlenet import GOOGLENET_COUNT, TORCHVISION_COUNT
from tests.models.test_resnet import CIFAR_COUNTS, IMAGENET_COUNTS

# The counts the families' own tests hold (tests/models/test_*.py, tests/test_summary.py).
KNOWN = {**IMAGENET_COUNTS, **CIFAR_COUNTS, "googlenet": GOOGLENET_COUNT,
         "googlenet_torchvision": TORCHVISION_COUNT, "vgg16": 138_357_544,
         "vgg19_bn": 143_678_248, "alexnet": 60_965_224, "zfnet": 62_357_608, "nin": 966_986,
         "lenet5": 60_000}


def test_every_registered_model_is_listed_with_its_count(capsys):
  assert listing.main(["--json"]) == 0
  rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
  assert [r["name"] for r in rows] == list(models.MODELS)
  by_name = {r["name"]: r for r in rows}
  for name, count in KNOWN.items():
    assert by_name[name]["parameters"] == count, name
  assert (by_name["resnet50"]["input"], by_name["resnet50"]["num_classes"]) == ([224, 224, 3], 1000)
  assert (by_name["resnet56"]["input"], by_name["resnet56"]["num_classes"]) == ([32, 32, 3], 10)
  assert (by_name["lenet5"]["input"], by_name["lenet5"]["num_classes"]) == ([32, 32, 1], 10)
  assert by_name["alexnet"]["input"] == [227, 227, 3]
  assert (by_name["zfnet"]["family"], by_name["plain34"]["family"]) == ("ZFNet", "ResNet")
  assert by_name["zfnet"]["paper"].startswith("Zeiler & Fergus 2013")
  assert by_name["vgg_b_5x5"]["paper"].startswith("Simonyan & Zisserman 2014")
  assert all(r["family"] and r["paper"] for r in rows)


def test_the_table(capsys, monkeypatch):
  monkeypatch.setattr(models, "MODELS", {n: models.MODELS[n] for n in ("vgg16", "nin")})
  assert listing.main([]) == 0
  header, vgg16, nin = capsys.readouterr().out.splitlines()
  assert header.split() == ["model", "family", "input", "classes", "parameters", "paper"]
  assert vgg16.split()[:5] == ["vgg16", "VGG", "224x224x3", "1000", "138,357,544"]
  assert nin.split()[:5] == ["nin", "NiN", "32x32x3", "10", "966,986"]
  assert nin.endswith("Lin, Chen & Yan 2013, Network in network")
