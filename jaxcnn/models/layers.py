"""Layers shared by several model families."""

import jax
import jax.numpy as jnp
import flax.linen as nn

from jaxcnn.errors import UserError


def local_response_norm(x: jax.Array, *, size: int = 5, k: float = 2.0, alpha: float = 1e-4,
                        beta: float = 0.75) -> jax.Array:
  """Local response normalisation across channels, as written in AlexNet (Sec. 3.3).

  b_c = a_c / (k + alpha * sum_{j=c-n/2}^{c+n/2} a_j^2) ** beta over the ``size``
  neighbouring maps of the last (channel) axis. alpha multiplies the plain sum: PyTorch's
  LocalResponseNorm divides it by ``size`` first, so its alpha is ours times ``size``.
  """
  sq = jnp.square(x.astype(jnp.float32))
  half = size // 2
  padded = jnp.pad(sq, [(0, 0)] * (x.ndim - 1) + [(half, size - 1 - half)])
  window_sum = jax.lax.reduce_window(padded, 0.0, jax.lax.add, (1,) * (x.ndim - 1) + (size,),
                                     (1,) * x.ndim, "VALID")
  return (x / jnp.power(k + alpha * window_sum, beta).astype(x.dtype)).astype(x.dtype)


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
