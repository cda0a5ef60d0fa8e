"""Inception-v3 (Szegedy et al. 2016, "Rethinking the Inception Architecture for Computer
Vision", Sec. 6-7, Table 1) as torchvision builds it (torchvision.models.inception_v3).

The paper's Table 1 outline with the widths and layer names of TF-slim's released model, which
torchvision copies: a stem of 3x3 convs; three 35x35 modules (``INCEPTION_A``: the paper's
Fig. 5, though the released model keeps a 5x5 branch beside the two stacked 3x3); a parallel
grid reduction to 17x17 (Fig. 10); four 17x17 modules with 1x7 and 7x1 convs (Fig. 6, n = 7);
a reduction to 8x8; two modules with expanded filter banks (Fig. 7); global average pooling,
dropout 0.5 and the classifier. The auxiliary classifier reads the last 17x17 map in training
only (Sec. 4: batch-normalised, as BN-auxiliary of Table 3).
"""

import functools
from collections.abc import Callable

import flax.linen as nn
import jax.numpy as jnp

from jaxcnn.models import inception as inception_lib
from jaxcnn.models import layers
from jaxcnn.models import ops as ops_lib

# Modules as jaxcnn.models.inception.InceptionModule convs: (name, source, features, kernel).


def inception_a(pool_features: int) -> tuple:
  """35x35 module (torchvision's InceptionA)."""
  return (("branch1x1", "x", 64, 1),
          ("branch5x5_1", "x", 48, 1), ("branch5x5_2", "branch5x5_1", 64, 5),
          ("branch3x3dbl_1", "x", 64, 1), ("branch3x3dbl_2", "branch3x3dbl_1", 96, 3),
          ("branch3x3dbl_3", "branch3x3dbl_2", 96, 3),
          ("branch_pool", "pool", pool_features, 1))


def inception_c(c7: int) -> tuple:
  """17x17 module with 7x7 convs factorised into 1x7 and 7x1 (Fig. 6; InceptionC)."""
  return (("branch1x1", "x", 192, 1),
          ("branch7x7_1", "x", c7, 1), ("branch7x7_2", "branch7x7_1", c7, (1, 7)),
          ("branch7x7_3", "branch7x7_2", 192, (7, 1)),
          ("branch7x7dbl_1", "x", c7, 1), ("branch7x7dbl_2", "branch7x7dbl_1", c7, (7, 1)),
          ("branch7x7dbl_3", "branch7x7dbl_2", c7, (1, 7)),
          ("branch7x7dbl_4", "branch7x7dbl_3", c7, (7, 1)),
          ("branch7x7dbl_5", "branch7x7dbl_4", 192, (1, 7)),
          ("branch_pool", "pool", 192, 1))


# 8x8 module with expanded filter banks: 1x3 and 3x1 side by side (Fig. 7; InceptionE).
INCEPTION_E = (("branch1x1", "x", 320, 1),
               ("branch3x3_1", "x", 384, 1), ("branch3x3_2a", "branch3x3_1", 384, (1, 3)),
               ("branch3x3_2b", "branch3x3_1", 384, (3, 1)),
               ("branch3x3dbl_1", "x", 448, 1), ("branch3x3dbl_2", "branch3x3dbl_1", 384, 3),
               ("branch3x3dbl_3a", "branch3x3dbl_2", 384, (1, 3)),
               ("branch3x3dbl_3b", "branch3x3dbl_2", 384, (3, 1)),
               ("branch_pool", "pool", 192, 1))
# Grid reductions as jaxcnn.models.inception.GridReduction branches: (name, features, kernel).
REDUCTION_B = ((("branch3x3", 384, 3),),  # 35x35 -> 17x17 (InceptionB)
               (("branch3x3dbl_1", 64, 1), ("branch3x3dbl_2", 96, 3), ("branch3x3dbl_3", 96, 3)))
REDUCTION_D = ((("branch3x3_1", 192, 1), ("branch3x3_2", 320, 3)),  # 17x17 -> 8x8 (InceptionD)
               (("branch7x7x3_1", 192, 1), ("branch7x7x3_2", 192, (1, 7)),
                ("branch7x7x3_3", 192, (7, 1)), ("branch7x7x3_4", 192, 3)))

# (name, "module" or "reduction", convs or branches), after the stem.
BLOCKS = (
    ("Mixed_5b", "module", inception_a(32)),
    ("Mixed_5c", "module", inception_a(64)),
    ("Mixed_5d", "module", inception_a(64)),
    ("Mixed_6a", "reduction", REDUCTION_B),
    ("Mixed_6b", "module", inception_c(128)),
    ("Mixed_6c", "module", inception_c(160)),
    ("Mixed_6d", "module", inception_c(160)),
    ("Mixed_6e", "module", inception_c(192)),
    ("Mixed_7a", "reduction", REDUCTION_D),
    ("Mixed_7b", "module", INCEPTION_E),
    ("Mixed_7c", "module", INCEPTION_E),
)
# The stem: (name, features, kernel, stride, padding); "M" = max pool 3x3/2.
STEM = (("Conv2d_1a_3x3", 32, 3, 2, "valid"), ("Conv2d_2a_3x3", 32, 3, 1, "valid"),
        ("Conv2d_2b_3x3", 64, 3, 1, "same"), "M", ("Conv2d_3b_1x1", 80, 1, 1, "valid"),
        ("Conv2d_4a_3x3", 192, 3, 1, "valid"), "M")
AUX_AFTER = "Mixed_6e"
# torchvision's auxiliary classifier: N(0, 0.001) for its linear layer. (Its 5x5 conv's
# intended 0.01 is set on the wrapper module, which the init loop skips: it gets 0.1.)
_AUX_FC_KERNEL = nn.initializers.normal(0.001)


class InceptionAux(nn.Module):
  """Auxiliary classifier on the 17x17 map: 5x5/3 average pool, 1x1 conv 128, 5x5 conv 768
  (to 1x1 at 299x299 input), global average pool, linear; BatchNorm after both convs."""
  num_classes: int
  width: float = 1.0
  dtype: str = "float32"
  ops: ops_lib.Ops = ops_lib.AUTO  # The convs' and max pools' kernels (jaxcnn.models.ops).

  @nn.compact
  def __call__(self, x, *, train: bool):
    w = lambda c: layers.scaled_width(c, self.width)
    conv = functools.partial(inception_lib.ConvBlock, batch_norm=True,
                             weight_init="inception_v3", dtype=self.dtype, ops=self.ops)
    x = nn.avg_pool(x, (5, 5), (3, 3))
    x = conv(w(128), 1, name="conv0")(x, train=train)
    x = conv(w(768), 5, padding="valid", name="conv1")(x, train=train)
    x = jnp.mean(x, axis=(1, 2))
    return nn.Dense(self.num_classes, kernel_init=_AUX_FC_KERNEL, dtype=jnp.dtype(self.dtype),
                    name="fc")(x)


class InceptionV3(nn.Module):
  """Inception-v3 (Szegedy et al. 2016, Sec. 6-7), torchvision's layers, names and counts.

  Attributes:
    aux_logits: the auxiliary classifier on Mixed_6e (``AUX_AFTER``), created and run only when
      train=True; __call__ then returns {"logits", "aux_logits": (aux,)}. It needs 299x299
      inputs (its 5x5 conv reads a 5x5 map); without it 75x75 suffice, as in torchvision.
    transform_input: torchvision's re-normalisation of ImageNet-normalised input to the
      [-1, 1] range of its ported TF weights; off, as inception_v3(weights=None) (the same
      as ``data.mean = data.std = (0.5, 0.5, 0.5)`` for those weights).
    reduction: "parallel" (Mixed_6a and Mixed_7a, Fig. 10), "conv_then_pool" (their convs at
      full resolution, then the max pool: Fig. 9 right) or "pool" (the max pool alone).
  Every conv is bias-free with BatchNorm (eps 0.001), initialised N(0, 0.1) as torchvision.
  """
  num_classes: int = 1000
  input_size: int = 299
  width: float = 1.0
  dtype: str = "float32"
  ops: ops_lib.Ops = ops_lib.AUTO  # The convs' and max pools' kernels (jaxcnn.models.ops).
  aux_logits: bool = True
  transform_input: bool = False
  dropout_rate: float = 0.5
  reduction: str = "parallel"

  def min_input_size(self, train: bool) -> int:
    """Smallest square input every unpadded conv and pool fits (stride-2 steps round down)."""
    valid = lambda size, k, s: (size - k) // s + 1

    def fits(size):
      for layer in STEM:
        size = valid(size, 3, 2) if layer == "M" else (
            valid(size, layer[2], layer[3]) if layer[4] == "valid" else size)
        if size < 1:
          return False
      for name, kind, _ in BLOCKS:
        size = valid(size, 3, 2) if kind == "reduction" else size
        if size < 1:
          return False
        if name == AUX_AFTER and train and self.aux_logits and valid(valid(size, 5, 3), 5, 1) < 1:
          return False
      return True

    return next(s for s in range(1, 4096) if fits(s))

  @nn.compact
  def __call__(self, x, *, train: bool):
    inception_lib.check_choice("reduction", self.reduction, inception_lib.REDUCTIONS)
    layers.check_input_size(x, self.min_input_size(train), "Inception-v3")
    dtype = jnp.dtype(self.dtype)
    common = {"batch_norm": True, "weight_init": "inception_v3", "dtype": self.dtype,
              "ops": self.ops}
    x = x.astype(dtype)
    if self.transform_input:
      mean = jnp.array([0.485, 0.456, 0.406], dtype)
      std = jnp.array([0.229, 0.224, 0.225], dtype)
      x = x * (std / 0.5) + (mean - 0.5) / 0.5
    for layer in STEM:
      if layer == "M":
        x = self.ops.max_pool(x, (3, 3), (2, 2))
        continue
      name, features, kernel, stride, padding = layer
      x = inception_lib.ConvBlock(layers.scaled_width(features, self.width), kernel, stride,
                                  padding, name=name, **common)(x, train=train)
    aux = None
    for name, kind, spec in BLOCKS:
      if kind == "module":
        x = inception_lib.InceptionModule(spec, pool="avg", width=self.width, name=name,
                                          **common)(x, train=train)
      elif self.reduction == "pool":
        x = self.ops.max_pool(x, (3, 3), (2, 2))
      else:
        x = inception_lib.GridReduction(spec, mode=self.reduction, width=self.width, name=name,
                                        **common)(x, train=train)
      if name == AUX_AFTER and train and self.aux_logits:
        aux = InceptionAux(self.num_classes, width=self.width, dtype=self.dtype, ops=self.ops,
                           name="AuxLogits")(x, train=train)
    x = jnp.mean(x, axis=(1, 2))
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    x = nn.Dense(self.num_classes, kernel_init=inception_lib.INCEPTION_V3_KERNEL, dtype=dtype,
                 name="fc")(x)
    x = x.astype(jnp.float32)
    if aux is not None:
      return {"logits": x, "aux_logits": (aux.astype(jnp.float32),)}
    return x


VARIANTS: dict[str, Callable[..., nn.Module]] = {"inception_v3": InceptionV3}
