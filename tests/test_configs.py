"""Every experiment config: documented, valid, builds its model, and its small variant trains."""

import glob
import importlib.util
import os
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn import checkpoint
from jaxcnn import config as config_lib
from jaxcnn import models
from jaxcnn import splits
from jaxcnn import train
from jaxcnn.data import sources

CONFIGS = os.path.join(os.path.dirname(__file__), "..", "configs")
NAMES = sorted(os.path.splitext(os.path.basename(p))[0]
               for p in glob.glob(os.path.join(CONFIGS, "*.py")))


def load(name):
  spec = importlib.util.spec_from_file_location(f"config_{name}",
                                                os.path.join(CONFIGS, f"{name}.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def variants(name):
  """A config file's variants, as its error for an unknown one lists them."""
  try:
    load(name).get_config("nope")
  except ValueError as e:
    return re.search(r"use one of: (.*)\.$", str(e)).group(1).split(", ")
  raise AssertionError(f"{name} accepted an unknown variant")


VARIANTS = [(name, v) for name in NAMES for v in variants(name)]
# The datasets' split sizes (TFDS's), for the overlap checks without the data.
SPLIT_SIZES = {"imagenet2012": {"train": 1_281_167, "validation": 50_000},
               "cifar10": {"train": 50_000, "test": 10_000},
               "fashion_mnist": {"train": 60_000, "test": 10_000}}


@pytest.mark.parametrize("name, variant", VARIANTS)
def test_selection_is_on_held_out_training_data(name, variant):
  """What chooses (a plateau schedule, the best checkpoint) sees a validation split carved
  from the training data, disjoint from the evaluation split; the ImageNet recipes hold one out."""
  c = load(name).get_config(variant)
  config_lib.validate(c)
  sizes = SPLIT_SIZES[c.dataset]
  if c.schedule.name == "plateau" or checkpoint.best_metric(c):
    assert c.validation_split
    trained_on = {part for part, _, _ in splits.ranges(c.train_split, sizes)}
    assert {part for part, _, _ in splits.ranges(c.validation_split, sizes)} <= trained_on
    assert splits.shared(c.validation_split, c.eval_split, sizes) == 0
    assert splits.shared(c.validation_split, c.train_split, sizes) == 0
    splits.check(c, sizes)
  if c.dataset == "imagenet2012":
    held_out = sum(stop - start for _, start, stop in splits.ranges(c.validation_split, sizes))
    trained = sum(stop - start for _, start, stop in splits.ranges(c.train_split, sizes))
    assert held_out == 10_000 and trained + held_out == sizes["train"]
  if variant in ("small", "tiny", "fig1") and c.schedule.name != "plateau":
    assert c.validation_split is None  # The ablation studies' training data are unchanged.


def test_every_family_has_its_configs():
  expected = {"lenet5", "alexnet", "zfnet", "vgg11", "vgg11_lrn", "vgg13", "vgg16", "vgg19",
              "nin", "googlenet", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
              "resnet20", "resnet32", "resnet44", "resnet56", "resnet110"}
  assert expected <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_docstring_names_the_command_and_the_expected_result(name):
  doc = load(name).__doc__
  assert f"python -m jaxcnn.main --config=configs/{name}.py" in doc
  assert "Expected" in doc and "small" in doc


@pytest.mark.parametrize("name", NAMES)
def test_unknown_variant_is_refused(name):
  with pytest.raises(ValueError, match="Unknown variant 'nope'.*small"):
    load(name).get_config("nope")


@pytest.mark.parametrize("name", NAMES)
def test_paper_recipe_builds_its_model(name):
  """The default variant validates and its model builds at the recipe's input size."""
  c = load(name).get_config(None)
  config_lib.validate(c)
  channels = 1 if c.dataset == "fashion_mnist" else 3
  size = c.data.image_size or 28
  num_classes = {"imagenet2012": 1000, "cifar10": 10, "fashion_mnist": 10}[c.dataset]
  model = models.create(c.model, num_classes=num_classes, input_size=size, width=c.width,
                        dtype=c.dtype, **c.model_kwargs.to_dict())
  logits = jax.eval_shape(lambda: model.init_with_output(
      jax.random.key(0), jnp.zeros((1, size, size, channels)), train=False)[0])
  assert logits.shape == (1, num_classes)


def test_imagenet_recipe_stops_at_once_with_the_preparation_steps(tmp_path):
  with pytest.raises(sources.DataError, match=r"manual download.*ILSVRC2012_img_train\.tar.*"
                     r"tfds build imagenet2012 --manual_dir=DIR"):
    sources.get_builder("imagenet2012", str(tmp_path))


# Small variants that are another config's but for the network (a deeper VGG, or a deeper
# ResNet of the same blocks; tests/models/test_registry.py runs each network forward and
# backward, or checks it is made of the blocks of one that does): the other config's two
# training steps test the recipe.
SAME_RECIPE = {"resnet34": "resnet18", "resnet101": "resnet50", "resnet152": "resnet50",
               "resnet32": "resnet20", "resnet56": "resnet44", "resnet110": "resnet44",
               **dict.fromkeys(("vgg11_lrn", "vgg13", "vgg_c", "vgg16", "vgg19"), "vgg11")}


@pytest.mark.parametrize("name", sorted(SAME_RECIPE))
def test_small_variant_differs_from_its_recipe_s_only_in_the_network(name):
  c, same = load(name).get_config("small"), load(SAME_RECIPE[name]).get_config("small")
  assert c.model != same.model
  c.model = same.model
  assert c.to_dict() == same.to_dict()


# inception_v3's small variant trains in tests/models/test_inception_v3.py (one compile of
# the network, with every layer's update checked there).
@pytest.mark.parametrize("name", [n for n in NAMES if n != "inception_v3" and n not in SAME_RECIPE])
def test_small_variant_trains_two_steps(name, data_dir):
  c = load(name).get_config("small")
  assert c.dataset == "fashion_mnist"
  c.data_dir = data_dir
  # The test's dataset has 1,024 training images: a slice such as train[:10000] is cut to
  # the whole split.
  c.train_split = c.train_split.split("[")[0]
  c.num_train_steps = 2
  c.batch_size = 8
  exp = train.Experiment(c, devices=jax.devices()[:1])
  state = exp.init_state()
  before = jax.device_get(state.params)
  batches = exp.train_batches()
  for step in range(2):
    batch = batches[step]
    assert batch["image"].shape[1:] == exp.input_shape
    state, metrics = exp.train_step(state, {k: jnp.asarray(v) for k, v in batch.items()})
    assert np.isfinite(float(metrics["loss"])) and float(metrics["grad_norm"]) > 0
  assert int(state.step) == 2
  moved = jax.tree.map(lambda a, b: float(np.abs(np.asarray(a) - b).max()),
                       jax.device_get(state.params), before)
  assert max(jax.tree.leaves(moved)) > 0
