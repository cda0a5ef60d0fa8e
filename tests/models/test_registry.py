"""Every registered model: builds by name, runs forward and backward at a small input."""

import functools
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxcnn import models
from jaxcnn.errors import UserError
from tests.models.variables import random_variables

# Smallest convenient input per model; everything else runs at 32x32.
SMALL_INPUT = {"alexnet": 67, "alexnet_torchvision": 63, "zfnet": 67,
               "googlenet": 64, "googlenet_torchvision": 64, "inception_v3": 299}
# Inception-v3's auxiliary head needs 299x299 inputs: a narrow net keeps the step small.
SMALL_WIDTH = {"inception_v3": 0.125}


# Deeper nets made of the same blocks as a shallower one, which runs forward and backward for
# them (each net's exact parameter count, the blocks' widths and numbers, is checked in
# test_resnet.py; test_same_blocks checks the blocks are the same).
# inception_v3 trains, every layer's update checked, in test_inception_v3.py.
SAME_BLOCKS = {
    **{f"{kind}{d}": f"{kind}18" for kind in ("resnet", "plain") for d in (34,)},
    **{f"resnet{d}": "resnet50" for d in (101, 152)},
    **{f"{kind}{d}": f"{kind}20" for kind in ("resnet", "plain") for d in (32, 44, 56, 110)},
}
# torchvision's deeper VGGs: the paper's configuration B, D or E with torchvision's head
# (the 7x7 average pooling before fc6), with or without BatchNorm, as vgg11 and vgg11_bn are
# configuration A with it; test_torchvision_vgg checks this, and the parts run forward and
# backward in vgg_b, vgg_d, vgg_e, vgg11 and vgg11_bn.
TORCHVISION_VGG = {"vgg13": "vgg_b", "vgg16": "vgg_d", "vgg19": "vgg_e"}
COVERED_ELSEWHERE = {"inception_v3", *TORCHVISION_VGG, *(f"{n}_bn" for n in TORCHVISION_VGG)}


def small_input(name):
  for prefix, size in SMALL_INPUT.items():
    if name == prefix:
      return size
  return 32


def test_unknown_name_lists_the_valid_ones():
  with pytest.raises(UserError, match="Valid names: .*lenet5"):
    models.create("lenet6")


@functools.lru_cache(maxsize=None)
def block_pattern(name):
  """The model's parameters as (path, shape), each layer's index within its stage replaced
  (``layer3_5`` and ``conv4_3`` become ``layer3_#`` and ``conv4_#``)."""
  size = small_input(name)
  model = models.create(name, num_classes=10, input_size=size, width=SMALL_WIDTH.get(name, 1.0))
  x = jnp.zeros((1, size, size, 1 if name.startswith("lenet") else 3))
  shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), x, train=False))
  return {(re.sub(r"_\d+'", "_#'", jax.tree_util.keystr(path)), leaf.shape)
          for path, leaf in jax.tree_util.tree_leaves_with_path(shapes["params"])}


@pytest.mark.parametrize("name", sorted(SAME_BLOCKS))
def test_same_blocks(name):
  assert name in models.MODELS
  assert block_pattern(name) == block_pattern(SAME_BLOCKS[name])


@pytest.mark.parametrize("name", sorted(TORCHVISION_VGG))
def test_torchvision_vgg(name):
  head = block_pattern("vgg11") ^ block_pattern("vgg_a")
  assert head and block_pattern(name) ^ block_pattern(TORCHVISION_VGG[name]) == head
  batch_norm = block_pattern("vgg11_bn") ^ block_pattern("vgg11")
  assert batch_norm and block_pattern(f"{name}_bn") ^ block_pattern(name) == batch_norm


# The networks here run on XLA's native kernels, which compile in about two thirds of the time
# of the CPU formulations: those are checked against the native ones for every kind of layer
# (tests/models/test_conv.py) and train each config's small variant (tests/test_configs.py).
@pytest.mark.parametrize("name", sorted(set(models.MODELS) - set(SAME_BLOCKS) - COVERED_ELSEWHERE))
def test_forward_and_backward_with_finite_gradients(name):
  size = small_input(name)
  channels = 1 if name.startswith("lenet") else 3
  model = models.create(name, num_classes=10, input_size=size, width=SMALL_WIDTH.get(name, 1.0),
                        conv_impl="native")
  x = jax.random.normal(jax.random.PRNGKey(0), (2, size, size, channels))
  labels = jnp.array([1, 7])
  variables = random_variables(model, x, train=True)
  params = variables["params"]
  others = {k: v for k, v in variables.items() if k != "params"}

  def loss_fn(params):
    out, _ = model.apply({"params": params, **others}, x, train=True,
                         rngs={"dropout": jax.random.key(3)}, mutable=["batch_stats"])
    outs = [out["logits"], *out["aux_logits"]] if isinstance(out, dict) else [out]
    loss = sum(optax.softmax_cross_entropy_with_integer_labels(o, labels).mean() for o in outs)
    return loss, outs[0]

  (loss, logits), grads = jax.jit(jax.value_and_grad(loss_fn, has_aux=True))(params)
  assert logits.shape == (2, 10) and logits.dtype == jnp.float32
  assert np.all(np.isfinite(logits)) and np.isfinite(loss)
  for path, g in jax.tree_util.tree_leaves_with_path(grads):
    assert np.all(np.isfinite(g)), f"non-finite gradient at {jax.tree_util.keystr(path)}"
  # Every parameter takes part: some gradient entry is non-zero in each leaf.
  dead = [jax.tree_util.keystr(p) for p, g in jax.tree_util.tree_leaves_with_path(grads)
          if not np.any(g)]
  assert not dead, f"parameters without gradient: {dead}"
