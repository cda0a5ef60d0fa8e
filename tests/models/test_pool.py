"""Max pooling from strided slices against flax's: values and gradients, ties included."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn.models import layers
from jaxcnn.models import ops
from jaxcnn.models.ops import pool
from tests.tolerance import assert_close

# (input shape, window, strides, padding): the models' pooling layers, at small sizes.
CASES = {
    "2x2/2": ((3, 8, 8, 4), (2, 2), (2, 2), "VALID"),
    "2x2/2_odd": ((2, 7, 9, 3), (2, 2), (2, 2), "VALID"),
    "3x3/3_tiling_ragged": ((2, 9, 11, 3), (3, 3), (3, 3), "VALID"),
    "3x3/2_overlapping": ((2, 11, 11, 5), (3, 3), (2, 2), "VALID"),
    "3x3/1_same": ((2, 6, 6, 4), (3, 3), (1, 1), ((1, 1), (1, 1))),
    "3x3/2_resnet_stem": ((2, 10, 10, 3), (3, 3), (2, 2), ((1, 1), (1, 1))),
    "3x3/2_ceil": ((2, 12, 12, 3), (3, 3), (2, 2), ((0, 1), (0, 1))),
    "SAME": ((2, 7, 7, 2), (3, 3), (2, 2), "SAME"),
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("ties", [False, True])
def test_values_and_gradients_equal_flax(name, ties):
  shape, window, strides, padding = CASES[name]
  kx, ky = jax.random.split(jax.random.PRNGKey(0))
  x = jax.random.normal(kx, shape)
  if ties:  # ReLU output rounded: many windows hold their maximum more than once.
    x = jnp.round(jax.nn.relu(x) * 2) / 2

  def run(fn):
    y, vjp = jax.vjp(lambda x: fn(x, window, strides, padding), x)
    return y, vjp(jax.random.normal(ky, y.shape))[0]

  got_y, got_dx = run(pool.max_pool)
  want_y, want_dx = run(nn.max_pool)
  np.testing.assert_array_equal(got_y, want_y)  # A maximum is one of its inputs: exact.
  assert_close(got_dx, want_dx, rtol=1e-6)  # Overlapping windows add up their gradients.


def test_ceil_pooling_uses_the_implementation_it_is_given():
  x = jax.random.normal(jax.random.PRNGKey(1), (2, 32, 32, 3))
  want = layers.max_pool_ceil(x, 3, 2)
  got = layers.max_pool_ceil(x, 3, 2, pool_fn=pool.max_pool)
  assert got.shape == want.shape == (2, 16, 16, 3)
  np.testing.assert_array_equal(got, want)  # Maxima select: exact.


def test_select_follows_conv_impl():
  assert ops.select("native").max_pool is nn.max_pool
  assert ops.select("fast").max_pool is pool.max_pool
