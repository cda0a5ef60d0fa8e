"""Max pooling that XLA:CPU trains quickly; ``flax.linen.max_pool``'s signature and results.

XLA computes max pooling as ``reduce_window`` and its gradient as ``select_and_scatter``,
both of which XLA:CPU runs slowly. Written as the maximum of the K*K strided slices of the
input, the same pooling is an elementwise computation, much faster forward and backward. Its
gradient goes, in each window, to the first position (in row-major window order) that holds
the maximum, as ``select_and_scatter`` does, so the two give identical gradients, ties
included (after a ReLU, windows of zeros are common). The forward pass keeps that position per
window (an argmax, which XLA does not fuse into its consumers, so it is computed once); the
backward pass only compares it with each tap, and when the windows tile the input (2x2/2) it
is a masked broadcast with no scattering at all. Keeping the position shortens the small
VGG-11's and GoogLeNet's train steps against recomputing it in the gradient from the saved
input and output.

``jaxcnn.models.ops.select`` picks this on CPU (``conv_impl`` auto or fast) and flax's pooling
on GPU/TPU. The measurements: benchmarks/RESULTS.md, section "Why the CPU code is written as
it is: the measurements behind its comments".
"""

import functools

import jax
import jax.numpy as jnp
from jax import lax
import flax.linen as nn



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
  views = _slices(x, window, strides, _out_shape(x, window, strides))
  # The window position of each output's first maximum, kept for the backward pass (which
  # then only compares indices instead of recomputing and comparing the K*K views).
  y = functools.reduce(jnp.maximum, views)
  index = jnp.int8 if len(views) <= 127 else jnp.int32
  first = jnp.argmax(jnp.stack(views), axis=0).astype(index)
  return y, (x.shape, first)


def _max_pool_valid_bwd(window, strides, residuals, dy):
  x_shape, first = residuals
  n, h, w, c = x_shape
  ho, wo = first.shape[1:3]
  zero = jnp.zeros((), dy.dtype)
  if tuple(strides) == tuple(window):
    # Windows tile the input: each input pixel belongs to exactly one window, so the
    # gradient is a broadcast of dy over the window, masked, with no scattering.
    kh, kw = window
    tap = jnp.arange(kh * kw, dtype=first.dtype).reshape(kh, kw)
    hit = first[:, :, None, :, None, :] == tap[None, None, :, None, :, None]
    dx = jnp.where(hit, dy[:, :, None, :, None, :], zero).reshape(n, ho * kh, wo * kw, c)
    return (lax.pad(dx, zero, [(0, 0, 0), (0, h - ho * kh, 0), (0, w - wo * kw, 0),
                               (0, 0, 0)]),)
  _, to_input = jax.vjp(lambda x: _slices(x, window, strides, (ho, wo)),
                        jnp.zeros(x_shape, dy.dtype))
  return to_input([jnp.where(first == k, dy, zero)
                   for k in range(window[0] * window[1])])


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
