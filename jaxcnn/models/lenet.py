"""LeNet-5 (LeCun et al., 1998, "Gradient-based learning applied to document recognition").

``LeNet5Modern`` keeps the paper's layer sizes (C1 6@5x5, S2, C3 16@5x5, S4, C5 120,
F6 84) with today's parts: ReLU, max-pooling, fully connected C3 and a softmax
classifier. On 28x28 input C1 pads by 2, which gives the 32x32 field of the paper.
"""

import jax.numpy as jnp
import flax.linen as nn


class LeNet5Modern(nn.Module):
  num_classes: int = 10
  width: float = 1.0
  dtype: str = "float32"

  @nn.compact
  def __call__(self, x, *, train: bool):
    del train  # No dropout or normalisation.
    w = lambda c: max(1, int(round(c * self.width)))
    dtype = jnp.dtype(self.dtype)
    x = x.astype(dtype)
    pad = 2 if x.shape[1] < 32 else 0
    x = nn.Conv(w(6), (5, 5), padding=pad, dtype=dtype, name="c1")(x)
    x = nn.max_pool(nn.relu(x), (2, 2), (2, 2))
    x = nn.Conv(w(16), (5, 5), padding="VALID", dtype=dtype, name="c3")(x)
    x = nn.max_pool(nn.relu(x), (2, 2), (2, 2))
    x = x.reshape(x.shape[0], -1)
    x = nn.relu(nn.Dense(w(120), dtype=dtype, name="c5")(x))
    x = nn.relu(nn.Dense(w(84), dtype=dtype, name="f6")(x))
    x = nn.Dense(self.num_classes, dtype=dtype, name="output")(x)
    return x.astype(jnp.float32)
