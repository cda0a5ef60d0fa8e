"""Max pooling that XLA:CPU trains quickly; ``flax.linen.max_pool``'s signature and results.

XLA computes max pooling as ``reduce_window`` and its gradient as ``select_and_scatter``,
both of which XLA:CPU runs slowly: measured at batch 128 on the 2-core CPU, the forward and
backward pass of a 2x2/2 pool over 32x32x16 maps took 40 ms, and of a 3x3/2 pool over
55x55x24 maps 221 ms. Written as the maximum of the K*K strided slices of the input, the
same pooling is an elementwise computation: 4 and 55 ms. Its gradient goes, in each window,
to the first position (in row-major window order) that holds the maximum, as
``select_and_scatter`` does, so the two give identical gradients, ties included (after a
ReLU, windows of zeros are common).

``select`` picks this on CPU (with ``conv_impl`` auto or fast) and flax's pooling on GPU/TPU.
"""

import functools

import jax
import jax.numpy as jnp
from jax import lax
import flax.linen as nn

from jaxcnn.models import conv as conv_lib


def _slices(x, window, strides, out_shape):
  """The window's K*K strided views of x, each of out_shape's spatial size."""
  n, _, _, c = x.shape
  ho, wo = out_shape
  return [lax.slice(x, (0, i, j, 0), (n, i + (ho - 1) * strides[0] + 1,
                                      j + (wo - 1) * strides[1] + 1, c), (1, *strides, 1))
          for i in range(window[0]) for j in range(window[1])]


def _out_shape(x, window, strides):
  return tuple((x.shape[1 + d] - window[d]) // strides[d] + 1 for d in range(2))


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2))
def _max_pool_valid(x, window, strides):
  views = _slices(x, window, strides, _out_shape(x, window, strides))
  return functools.reduce(jnp.maximum, views)


def _max_pool_valid_fwd(x, window, strides):
  y = _max_pool_valid(x, window, strides)
  return y, (x, y)


def _max_pool_valid_bwd(window, strides, residuals, dy):
  x, y = residuals
  out_shape = y.shape[1:3]
  views, to_input = jax.vjp(lambda x: _slices(x, window, strides, out_shape), x)
  taken = jnp.zeros(y.shape, bool)
  parts = []
  for view in views:
    hit = (view == y) & ~taken
    taken = taken | hit
    parts.append(jnp.where(hit, dy, jnp.zeros((), dy.dtype)))
  return to_input(parts)


_max_pool_valid.defvjp(_max_pool_valid_fwd, _max_pool_valid_bwd)


def max_pool(inputs, window_shape, strides=None, padding="VALID"):
  """``nn.max_pool`` over NHWC inputs, computed from strided slices (see the module doc)."""
  window = tuple(int(k) for k in window_shape)
  strides = tuple(int(s) for s in (strides or (1,) * len(window)))
  if inputs.ndim != 4 or len(window) != 2:
    return nn.max_pool(inputs, window_shape, strides, padding)
  if isinstance(padding, str):
    padding = lax.padtype_to_pads(inputs.shape[1:3], window, strides, padding)
  pads = [(0, 0, 0), *((int(lo), int(hi), 0) for lo, hi in padding), (0, 0, 0)]
  if any(lo or hi for lo, hi, _ in pads):
    inputs = lax.pad(inputs, jnp.array(-jnp.inf, inputs.dtype), pads)
  return _max_pool_valid(inputs, window, strides)


def select(impl: str):
  """The max pooling for a model built with ``conv_impl=impl``."""
  return max_pool if conv_lib.use_fast(impl) else nn.max_pool
