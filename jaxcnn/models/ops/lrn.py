"""Local response normalisation (AlexNet Sec. 3.3), computed as XLA trains it quickly."""

import jax
import jax.numpy as jnp


# Up to this many maps the LRN window sum is a band-matrix matmul (at most this many
# multiply-adds per value); with it and the square roots the small AlexNet's train step is
# shorter (benchmarks/RESULTS.md has the measurement).
_LRN_BAND_MAX_MAPS = 128


def local_response_norm(x: jax.Array, *, size: int = 5, k: float = 2.0, alpha: float = 1e-4,
                        beta: float = 0.75) -> jax.Array:
  """Local response normalisation across channels, as written in AlexNet (Sec. 3.3).

  b_c = a_c / (k + alpha * sum_{j=c-n/2}^{c+n/2} a_j^2) ** beta over the ``size``
  neighbouring maps of the last (channel) axis. alpha multiplies the plain sum: PyTorch's
  LocalResponseNorm divides it by ``size`` first, so its alpha is ours times ``size``.
  """
  sq = jnp.square(x.astype(jnp.float32))
  half = size // 2
  channels = x.shape[-1]
  if channels <= _LRN_BAND_MAX_MAPS:
    # The window sum as a matmul with a 0/1 band matrix: XLA:CPU's reduce_window is slow.
    offset = jnp.arange(channels)[:, None] - jnp.arange(channels)[None, :]
    band = ((offset >= -half) & (offset <= size - 1 - half)).astype(jnp.float32)
    window_sum = jnp.dot(sq, band, precision=jax.lax.Precision.HIGHEST)
  else:
    padded = jnp.pad(sq, [(0, 0)] * (x.ndim - 1) + [(half, size - 1 - half)])
    window_sum = jax.lax.reduce_window(padded, 0.0, jax.lax.add,
                                       (1,) * (x.ndim - 1) + (size,), (1,) * x.ndim, "VALID")
  denominator = k + alpha * window_sum
  if beta == 0.75:  # The papers' value: two square roots instead of a general power.
    inverse = jax.lax.rsqrt(denominator)
    scale = inverse * jnp.sqrt(inverse)
  else:
    scale = jnp.power(denominator, -beta)
  return (x * scale.astype(x.dtype)).astype(x.dtype)
