"""Layers shared by several model families."""

import jax
import jax.numpy as jnp
import flax.linen as nn

from jaxcnn.errors import UserError
from jaxcnn.models.ops.lrn import local_response_norm


class LRN(nn.Module):
  """``local_response_norm`` as a module (no parameters)."""
  size: int = 5
  k: float = 2.0
  alpha: float = 1e-4
  beta: float = 0.75

  @nn.compact
  def __call__(self, x):
    return local_response_norm(x, size=self.size, k=self.k, alpha=self.alpha, beta=self.beta)


def scaled_width(channels: int, width: float) -> int:
  """Channels after a width multiplier, at least 1."""
  return max(1, int(round(channels * width)))


def check_input_size(x: jax.Array, minimum: int, model: str) -> None:
  """Raises a clear error when the spatial input is smaller than the network needs."""
  if min(x.shape[1], x.shape[2]) < minimum:
    raise UserError(f"{model} needs inputs of at least {minimum}x{minimum} pixels; got "
                     f"{x.shape[1]}x{x.shape[2]}. Raise config.data.image_size.")


def ceil_pooled_size(size: int, window: int, stride: int) -> int:
  """Output size of an unpadded pooling that keeps a partial last window (Caffe's rounding)."""
  return -(-(size - window) // stride) + 1


def _ceil_pads(x: jax.Array, window: int, stride: int):
  return [(0, (ceil_pooled_size(s, window, stride) - 1) * stride + window - s)
          for s in x.shape[1:3]]


def max_pool_ceil(x: jax.Array, window: int, stride: int, pool_fn=nn.max_pool) -> jax.Array:
  """Max pooling with Caffe's ceil rounding (torch's ceil_mode=True), e.g. 32 -> 16 for 3x3/2.

  ``pool_fn``: a max pooling with nn.max_pool's signature (a model's ``ops.max_pool``).
  """
  return pool_fn(x, (window, window), (stride, stride), padding=_ceil_pads(x, window, stride))


def avg_pool_ceil(x: jax.Array, window: int, stride: int) -> jax.Array:
  """Caffe's average pooling: a partial last window averages only the pixels it covers."""
  return nn.avg_pool(x, (window, window), (stride, stride), padding=_ceil_pads(x, window, stride),
                     count_include_pad=False)


def adaptive_avg_pool(x: jax.Array, output_size: int) -> jax.Array:
  """torch.nn.AdaptiveAvgPool2d on NHWC: bin i averages rows floor(i*H/o) .. ceil((i+1)*H/o)-1.

  Written out because flax has no adaptive pooling; the bins overlap when H is not a
  multiple of ``output_size`` and repeat pixels when H < ``output_size``, as in torch.
  """
  if x.shape[1] == output_size and x.shape[2] == output_size:
    return x

  def bins(n):
    m = [[0.0] * n for _ in range(output_size)]
    for i in range(output_size):
      lo, hi = (i * n) // output_size, -(-((i + 1) * n) // output_size)
      for j in range(lo, hi):
        m[i][j] = 1.0 / (hi - lo)
    return jnp.asarray(m, x.dtype)

  return jnp.einsum("ih,nhwc,jw->nijc", bins(x.shape[1]), x, bins(x.shape[2]))
