import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxcnn import models


def param_count(model, size=32):
  shapes = jax.eval_shape(functools.partial(model.init, train=False), jax.random.PRNGKey(0),
                          jnp.zeros((1, size, size, 3)))
  return sum(int(np.prod(l.shape)) for l in jax.tree.leaves(shapes["params"]))


def test_nin_cifar_parameter_count():
  # Block 1: 5*5*3*192+192 = 14,592; 192*160+160 = 30,880; 160*96+96 = 15,456.
  # Block 2: 5*5*96*192+192 = 460,992; 2 x (192*192+192) = 74,112.
  # Block 3: 3*3*192*192+192 = 331,968; 192*192+192 = 37,056; 192*10+10 = 1,930.
  assert param_count(models.create("nin", num_classes=10)) == 966_986


def test_gap_head_has_no_fully_connected_layer_and_fc_head_does():
  gap = models.create("nin", num_classes=10)
  fc = models.create("nin_fc", num_classes=10)
  # fc: cccp6 becomes 192 maps (+37,056 - 1,930) and a linear layer on 8*8*192 (+122,890).
  assert param_count(fc) - param_count(gap) == 37_056 - 1_930 + 8 * 8 * 192 * 10 + 10


def test_feature_maps_follow_the_released_model():
  model = models.create("nin", num_classes=10)
  x = jnp.zeros((2, 32, 32, 3))
  variables = model.init(jax.random.PRNGKey(0), x, train=False)
  _, inter = model.apply(variables, x, train=False, capture_intermediates=True)
  shapes = {k: v["__call__"][0].shape for k, v in inter["intermediates"].items()
            if k.startswith(("conv", "cccp"))}
  assert shapes["cccp2"] == (2, 32, 32, 96)   # Pooled 3x3/2 (ceil) to 16x16 next.
  assert shapes["conv2"] == (2, 16, 16, 192)
  assert shapes["conv3"] == (2, 8, 8, 192)
  assert shapes["cccp6"] == (2, 8, 8, 10)     # One map per class, averaged.
