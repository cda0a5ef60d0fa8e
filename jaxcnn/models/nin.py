"""Network in Network (Lin, Chen & Yan, 2013, "Network In Network", Sec. 3 and 4.2).

Three mlpconv blocks (a spatial convolution followed by two 1x1 convolutions, the
"micro network") and global average pooling over the last block's maps, one map per
class, in place of fully connected layers. Widths, pools and dropout follow the
authors' released CIFAR-10 model (192-160-96, 192-192-192, 192-192-C, 3x3/2 max then
average pooling with Caffe's ceil rounding, dropout 0.5 after the first two blocks).
"""

import functools
from typing import Sequence

import jax.numpy as jnp
import flax.linen as nn

from jaxcnn.models import layers
from jaxcnn.models import ops as ops_lib

# Per block: the spatial conv (maps, kernel), the two 1x1 convs, then the pooling after it.
# The last block's final 1x1 conv has num_classes maps ("C") when the head is GAP.
CIFAR_BLOCKS = (
    ((192, 5), (160, 96), "max"),
    ((192, 5), (192, 192), "avg"),
    ((192, 3), (192, "C"), None),
)


class NiN(nn.Module):
  """NiN; ``head`` "gap" (the paper's) or "fc" (flatten, dropout 0.5, linear: Table 2's baseline)."""
  blocks: Sequence = CIFAR_BLOCKS
  num_classes: int = 10
  input_size: int = 32
  width: float = 1.0
  dtype: str = "float32"
  ops: ops_lib.Ops = ops_lib.AUTO  # The convs' and max pools' kernels (jaxcnn.models.ops).
  head: str = "gap"
  dropout: float = 0.5
  # "normal": N(0, 0.05^2) as the released model; "he": N(0, 2 / fan_in), for narrow variants
  # trained from scratch (from the former their signal fades to nothing through the nine
  # layers and training does not start).
  weight_init: str = "normal"

  @nn.compact
  def __call__(self, x, *, train: bool):
    layers.check_input_size(x, 8, "nin")
    if self.head not in ("gap", "fc"):
      raise ValueError(f"NiN head must be 'gap' or 'fc', got {self.head!r}.")
    dtype = jnp.dtype(self.dtype)
    if self.weight_init not in ("normal", "he"):
      raise ValueError(f"NiN weight_init must be normal or he, got {self.weight_init!r}.")
    init = (nn.initializers.normal(0.05) if self.weight_init == "normal"
            else nn.initializers.he_normal())
    conv = functools.partial(nn.Conv, dtype=dtype, kernel_init=init,
                             conv_general_dilated=self.ops.conv)
    x = x.astype(dtype)
    n_conv = 0
    for b, ((maps, k), micro, pool) in enumerate(self.blocks):
      last_block = b == len(self.blocks) - 1
      n_conv += 1
      x = nn.relu(conv(layers.scaled_width(maps, self.width), (k, k), padding=k // 2,
                       name=f"conv{b + 1}")(x))
      for i, m in enumerate(micro):
        if m == "C":
          m = self.num_classes if self.head == "gap" else micro[i - 1]
        else:
          m = layers.scaled_width(m, self.width)
        # The released model applies ReLU after every 1x1 conv, the class maps included.
        x = nn.relu(conv(m, (1, 1), name=f"cccp{2 * b + i + 1}")(x))
      if pool is not None:
        # 3x3/2 with Caffe's ceil rounding: 32 -> 16 -> 8.
        if pool == "max":
          x = layers.max_pool_ceil(x, 3, 2, pool_fn=self.ops.max_pool)
        else:
          x = layers.avg_pool_ceil(x, 3, 2)
      if not last_block:
        x = nn.Dropout(self.dropout, deterministic=not train)(x)
    if self.head == "gap":
      x = jnp.mean(x, axis=(1, 2))
    else:
      x = x.reshape(x.shape[0], -1)
      x = nn.Dropout(self.dropout, deterministic=not train)(x)
      x = nn.Dense(self.num_classes, dtype=dtype, name="fc")(x)
    return x.astype(jnp.float32)


VARIANTS = {
    "nin": NiN,
    "nin_fc": functools.partial(NiN, head="fc"),
}
