"""Checkpoint metadata: what the trainer and jaxcnn.tools.convert record about the network, what
loading reads from it, and checkpoints written before there was any."""

import os
import shutil
import subprocess
import sys

import jax
import numpy as np
import orbax.checkpoint as ocp

import jaxcnn
from jaxcnn import checkpoint
from jaxcnn.tools import convert
from jaxcnn import loading
from jaxcnn import models
from jaxcnn.tools import predict
from jaxcnn import train
from jaxcnn.data import builders
from jaxcnn.data import pipeline
from jaxcnn.data import sources
from tests.conftest import tiny_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The tiny LeNet-5 (configs/lenet5.py:tiny with width 0.25) as the trainer wrote it before
# checkpoints carried metadata: 30 steps of batch 32 on the synthetic data of conftest.py,
# only the last checkpoint kept. Its evaluation then: top-1 0.54 on the 300 test images.
BEFORE_METADATA = os.path.join(REPO, "tests", "data", "pre_metadata_lenet5")


def _test_images(data_dir):
  return sources.load("fashion_mnist", ("test",), data_dir).splits["test"]


def test_every_checkpoint_of_a_trained_run_records_its_network(trained_run, data_dir,
                                                                request):
  workdir, _ = trained_run
  _, _, mngr = loading.locate(workdir)
  expected = checkpoint.Metadata(
      model="lenet5_modern",
      model_kwargs={"num_classes": 10, "input_size": 28, "width": 0.5, "dtype": "float32",
                    "conv_impl": "auto"},
      num_classes=10, input_shape=(28, 28, 1), class_names=builders.FASHION_MNIST_CLASSES)
  assert mngr.all_steps() == [16, 20, 24]
  for step in mngr.all_steps():
    assert checkpoint.restore_metadata(mngr, step) == expected

  request.getfixturevalue("no_inference")  # Loading reads all that from the metadata.
  run = loading.load_run(workdir, data_dir=data_dir)
  assert (run.num_classes, run.input_shape, run.image_shape) == (10, (28, 28, 1), (28, 28, 1))
  assert run.class_names == builders.FASHION_MNIST_CLASSES
  # The model is the one the metadata records.
  assert models.config_kwargs(run.config, run.num_classes, run.input_shape) == \
      expected.model_kwargs
  model, variables, _ = jaxcnn.load(workdir)
  test = _test_images(data_dir)
  images = pipeline.make_preprocess(run.config.data, train=False)(test[np.arange(8)])["image"]
  np.testing.assert_array_equal(model.apply(variables, images, train=False),
                                run.model.apply(run.variables, images, train=False))


def _resnet18_state_dict(num_classes: int, seed: int = 0) -> dict:
  """Random tensors under torchvision's resnet18 names and shapes, as numpy arrays."""
  shapes = {"conv1.weight": (64, 3, 7, 7)}

  def batch_norm(prefix, n):
    shapes.update({f"{prefix}.{k}": (n,) for k in ("weight", "bias", "running_mean",
                                                   "running_var")})

  batch_norm("bn1", 64)
  in_ch = 64
  for i, width in enumerate((64, 128, 256, 512)):
    for j in range(2):
      key = f"layer{i + 1}.{j}"
      shapes[f"{key}.conv1.weight"] = (width, in_ch, 3, 3)
      batch_norm(f"{key}.bn1", width)
      shapes[f"{key}.conv2.weight"] = (width, width, 3, 3)
      batch_norm(f"{key}.bn2", width)
      if i > 0 and j == 0:
        shapes[f"{key}.downsample.0.weight"] = (width, in_ch, 1, 1)
        batch_norm(f"{key}.downsample.1", width)
      in_ch = width
  shapes.update({"fc.weight": (num_classes, 512), "fc.bias": (num_classes,)})
  rng = np.random.default_rng(seed)
  return {k: (rng.uniform(0.5, 2.0, s) if k.endswith("running_var")
              else rng.normal(0.0, 0.05, s)).astype(np.float32) for k, s in shapes.items()}


def test_a_converted_checkpoint_records_its_network(data_dir, tmp_path, request):
  # Without torch: a state dict of numpy arrays with torchvision's names goes through the
  # converter's own entry point. In a subprocess, as python -m jaxcnn.tools.convert runs, whose
  # command-line flags are then its own. Seven classes have no names in the config's
  # dataset; ten are Fashion-MNIST's.
  for n in (7, 10):
    np.savez(tmp_path / f"resnet18_{n}.npz", **_resnet18_state_dict(n))
  script = (
      "import sys, numpy as np\n"
      "from jaxcnn.tools.convert.__main__ import convert_to_checkpoint\n"
      "from tests.conftest import tiny_config\n"
      "config = tiny_config(sys.argv[1])\n"
      "config.width, config.data.image_size = 1.0, 64\n"
      "for n in (7, 10):\n"
      "  sd = dict(np.load(f'{sys.argv[2]}/resnet18_{n}.npz'))\n"
      "  convert_to_checkpoint(config, 'resnet18', sd, f'{sys.argv[2]}/run{n}')\n")
  result = subprocess.run([sys.executable, "-c", script, data_dir, str(tmp_path)], cwd=REPO,
                          capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr

  request.getfixturevalue("no_inference")
  for n, names in ((7, None), (10, builders.FASHION_MNIST_CLASSES)):
    workdir = tmp_path / f"run{n}"
    metadata = checkpoint.restore_metadata(loading.locate(workdir)[2], 0)
    assert (metadata.model, metadata.num_classes, metadata.input_shape, metadata.class_names) \
        == ("resnet18", n, (64, 64, 3), names)
    run = loading.load_run(workdir, data_dir=data_dir)
    assert (run.config.model, run.num_classes, run.input_shape, run.image_shape) == \
        ("resnet18", n, (64, 64, 3), (64, 64, 3))
    assert run.class_names == (names or tuple(f"class {i}" for i in range(n)))
    converted = convert.torchvision_to_flax("resnet18", _resnet18_state_dict(n))
    jax.tree.map(np.testing.assert_array_equal, run.variables, converted)


def test_a_checkpoint_from_before_metadata_still_loads(data_dir, tmp_path):
  workdir = shutil.copytree(BEFORE_METADATA, tmp_path / "run")  # Reading writes nothing...
  _, step, mngr = loading.locate(workdir)
  assert step == 30 and checkpoint.restore_metadata(mngr, step) is None  # ...nor is there any.

  run = loading.load_run(workdir, data_dir=data_dir)
  assert (run.config.model, run.config.width, run.num_classes, run.input_shape,
          run.image_shape) == ("lenet5_modern", 0.25, 10, (28, 28, 1), (28, 28, 1))
  assert run.class_names == builders.FASHION_MNIST_CLASSES

  # The network applied to the saved parameters, read and built here without jaxcnn.loading.
  params = ocp.StandardCheckpointer().restore(
      os.path.join(workdir, "checkpoints", "30", "state"))["params"]
  reference = models.create("lenet5_modern", num_classes=10, input_size=28, width=0.25)
  test = _test_images(data_dir)
  images = pipeline.make_preprocess(run.config.data, train=False)(
      test[np.arange(len(test))])["image"]
  expected = np.asarray(reference.apply({"params": params}, images, train=False))
  model, variables, _ = jaxcnn.load(workdir)  # With the data_dir its config names.
  np.testing.assert_array_equal(model.apply(variables, images, train=False), expected)
  # A trained network (chance is 0.1), whatever processor summed its floats.
  assert np.mean(np.argmax(expected, -1) == test.labels) > 0.3
  probabilities = predict.classifier(run, batch_size=128)(test.images)
  np.testing.assert_array_equal(np.argmax(probabilities, -1), np.argmax(expected, -1))


def test_a_run_from_before_metadata_resumes_and_then_records_it(data_dir, tmp_path):
  workdir = str(shutil.copytree(BEFORE_METADATA, tmp_path / "run"))
  config = tiny_config(data_dir)
  config.width = 0.25
  config.num_train_steps = 32
  config.checkpoint_every_steps = 30
  config.keep_checkpoints = 2
  train.train_and_evaluate(config, workdir)
  _, _, mngr = loading.locate(workdir)
  assert mngr.all_steps() == [30, 32]
  assert checkpoint.restore_metadata(mngr, 30) is None
  assert checkpoint.restore_metadata(mngr, 32).class_names == builders.FASHION_MNIST_CLASSES
