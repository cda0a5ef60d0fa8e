"""GoogLeNet / Inception v1 (Szegedy et al., 2014, "Going Deeper with Convolutions", Table 1).

``GoogLeNet`` builds the paper's network from ``TABLE1`` (the per-block widths of Table 1)
and, with other field values, torchvision's BatchNorm re-implementation of it. Ablations of
the paper are fields: naive inception modules (Fig. 2a) and a fully connected head instead
of global average pooling (Sec. 5); and of its successor (Szegedy et al. 2016, "Rethinking
the Inception Architecture"): factorised convolutions and parallel grid reduction
(jaxcnn.models.inception).
"""

import functools
from typing import Callable

import jax.numpy as jnp
import flax.linen as nn

from jaxcnn.models import inception as inception_lib
from jaxcnn.models import layers
from jaxcnn.models import ops as ops_lib
from jaxcnn.models.inception import ConvBlock

# Table 1: (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj); "M" = max pool 3x3/2.
TABLE1 = (
    ("inception3a", (64, 96, 128, 16, 32, 32)),
    ("inception3b", (128, 128, 192, 32, 96, 64)),
    "M",
    ("inception4a", (192, 96, 208, 16, 48, 64)),
    ("inception4b", (160, 112, 224, 24, 64, 64)),
    ("inception4c", (128, 128, 256, 24, 64, 64)),
    ("inception4d", (112, 144, 288, 32, 64, 64)),
    ("inception4e", (256, 160, 320, 32, 128, 128)),
    "M",
    ("inception5a", (256, 160, 320, 32, 128, 128)),
    ("inception5b", (384, 192, 384, 48, 128, 128)),
)
# The auxiliary classifiers read these blocks' outputs (Sec. 5).
AUX_AFTER = ("inception4a", "inception4d")

# Caffe's and torchvision's initialisations (jaxcnn.models.inception), for the heads.
_CAFFE_KERNEL, _CAFFE_BIAS = inception_lib.CAFFE_KERNEL, inception_lib.CAFFE_BIAS
_TORCHVISION_KERNEL = inception_lib.TORCHVISION_KERNEL


class Inception(nn.Module):
  """One inception module (Fig. 2): four branches concatenated on channels."""
  widths: tuple  # (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj), already scaled
  naive: bool = False
  branch5x5_kernel: int = 5
  batch_norm: bool = False
  dtype: str = "float32"
  ops: ops_lib.Ops = ops_lib.AUTO  # The convs' and max pools' kernels (jaxcnn.models.ops).

  @nn.compact
  def __call__(self, x, *, train: bool):
    n1x1, n3x3r, n3x3, n5x5r, n5x5, npool = self.widths
    conv = functools.partial(ConvBlock, batch_norm=self.batch_norm, dtype=self.dtype,
                             ops=self.ops)
    k5 = self.branch5x5_kernel
    pool = self.ops.max_pool(x, (3, 3), (1, 1), padding=((1, 1), (1, 1)))
    b1 = conv(n1x1, 1, name="b1x1")(x, train=train)
    if self.naive:
      b3 = conv(n3x3, 3, name="b3x3")(x, train=train)
      b5 = conv(n5x5, k5, name="b5x5")(x, train=train)
      return jnp.concatenate([b1, b3, b5, pool], axis=-1)
    b3 = conv(n3x3r, 1, name="b3x3_reduce")(x, train=train)
    b3 = conv(n3x3, 3, name="b3x3")(b3, train=train)
    b5 = conv(n5x5r, 1, name="b5x5_reduce")(x, train=train)
    b5 = conv(n5x5, k5, name="b5x5")(b5, train=train)
    bp = conv(npool, 1, name="pool_proj")(pool, train=train)
    return jnp.concatenate([b1, b3, b5, bp], axis=-1)


class AuxClassifier(nn.Module):
  """Auxiliary head (Sec. 5): 4x4 average pool, 1x1 conv 128, FC 1024, dropout 0.7, linear."""
  num_classes: int
  conv_features: int = 128
  hidden: int = 1024
  pool: str = "avg5s3"
  dropout_rate: float = 0.7
  batch_norm: bool = False
  dtype: str = "float32"
  ops: ops_lib.Ops = ops_lib.AUTO  # The convs' and max pools' kernels (jaxcnn.models.ops).

  @nn.compact
  def __call__(self, x, *, train: bool):
    dtype = jnp.dtype(self.dtype)
    x = (layers.adaptive_avg_pool(x, 4) if self.pool == "adaptive4"
         else layers.avg_pool_ceil(x, 5, 3))
    x = ConvBlock(self.conv_features, 1, batch_norm=self.batch_norm, dtype=self.dtype,
                  ops=self.ops, name="conv")(x, train=train)
    x = x.reshape(x.shape[0], -1)
    kernel_init = _TORCHVISION_KERNEL if self.batch_norm else _CAFFE_KERNEL
    x = nn.relu(nn.Dense(self.hidden, kernel_init=kernel_init,
                         bias_init=nn.initializers.zeros if self.batch_norm else _CAFFE_BIAS,
                         dtype=dtype, name="fc1")(x))
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    return nn.Dense(self.num_classes, kernel_init=kernel_init, dtype=dtype, name="fc2")(x)


class GoogLeNet(nn.Module):
  """GoogLeNet (Szegedy et al., 2014, "Going Deeper with Convolutions", Table 1, Sec. 5).

  Attributes:
    inception: "bottleneck" (Fig. 2b, 1x1 reductions) or "naive" (Fig. 2a: 1x1, 3x3 and
      5x5 convs straight on the input beside an unprojected 3x3 max pool, so the channel
      count grows by the block's input at every block).
    head: "gap" (global average pool, dropout, linear) or "fc" (flatten the final map,
      dropout, linear), the comparison of Sec. 5.
    aux_logits: auxiliary classifiers on 4a and 4d. They exist only in training: created
      and run when train=True, and __call__ then returns {"logits", "aux_logits": (a1, a2)}.
    batch_norm, lrn, branch5x5_kernel, pool4_window, aux_pool, dropout_rate: the paper's
      values by default; ``VARIANTS["googlenet_torchvision"]`` sets torchvision's.
    transform_input: torchvision's re-normalisation of ImageNet-normalised input to the
      [-1, 1] range its ported TF weights expect (off, as in googlenet(weights=None)).
    factorise: "none" (Table 1's modules), "3x3" (each 5x5 conv as two 3x3 convs) or
      "asymmetric" (and every 3x3 as a 1x3 then a 3x1): Rethinking Sec. 3, with inner widths
      of ``inception.chain_widths`` (``inception.factorised``; bottleneck modules only).
    reduction: "pool" (the max pools between stages 3-4 and 4-5, as the paper), "parallel"
      (a 1x1 conv to C/4 maps and a stride-2 3x3 conv to C/2 beside the max pool of the
      block's C maps, concatenated: Rethinking Fig. 10) or "conv_then_pool" (the same convs
      at full resolution, then the max pool: Fig. 9 right); ``inception.GridReduction``.
  """
  num_classes: int = 1000
  input_size: int = 224
  width: float = 1.0
  dtype: str = "float32"
  ops: ops_lib.Ops = ops_lib.AUTO  # The convs' and max pools' kernels (jaxcnn.models.ops).
  blocks: tuple = TABLE1
  inception: str = "bottleneck"
  head: str = "gap"
  aux_logits: bool = True
  batch_norm: bool = False
  lrn: bool = True
  branch5x5_kernel: int = 5
  pool4_window: int = 3
  aux_pool: str = "avg5s3"  # "avg5s3" (paper: 5x5 stride 3) or "adaptive4" (torchvision)
  dropout_rate: float = 0.4
  aux_dropout_rate: float = 0.7
  transform_input: bool = False
  factorise: str = "none"
  reduction: str = "pool"

  def _pool_windows(self):
    """Windows of the stride-2 max pools: two in the stem, then one per "M"; the last is pool4."""
    n = sum(b == "M" for b in self.blocks)
    return [3, 3] + [3] * (n - 1) + [self.pool4_window]

  def min_input_size(self, train: bool) -> int:
    """Smallest square input for which every pooling window starts inside its input."""
    aux_window = 5 if train and self.aux_logits and self.aux_pool == "avg5s3" else None

    def fits(size):
      size = -(-size // 2)  # conv1 7x7/2 pad 3
      windows = iter(self._pool_windows())
      stages = ["M", "M"] + [b if b == "M" else b[0] for b in self.blocks]
      for stage in stages:
        if stage == "M":
          window = next(windows)
          if layers.ceil_pooled_size(size, window, 2) < 1:
            return False
          size = layers.ceil_pooled_size(size, window, 2)
        elif stage in AUX_AFTER and aux_window and layers.ceil_pooled_size(size, aux_window, 3) < 1:
          return False
      return True

    return next(s for s in range(1, 4096) if fits(s))

  @nn.compact
  def __call__(self, x, *, train: bool):
    if self.inception not in ("bottleneck", "naive"):
      raise ValueError(f"inception must be 'bottleneck' or 'naive', got {self.inception!r}")
    if self.head not in ("gap", "fc"):
      raise ValueError(f"head must be 'gap' or 'fc', got {self.head!r}")
    inception_lib.check_choice("factorise", self.factorise, inception_lib.FACTORISE)
    inception_lib.check_choice("reduction", self.reduction, inception_lib.REDUCTIONS)
    if self.factorise != "none" and (self.inception != "bottleneck" or self.branch5x5_kernel != 5):
      raise ValueError("factorise applies to bottleneck modules with 5x5 convs only")
    layers.check_input_size(x, self.min_input_size(train), "GoogLeNet")
    dtype = jnp.dtype(self.dtype)
    w = lambda c: layers.scaled_width(c, self.width)
    conv = functools.partial(ConvBlock, batch_norm=self.batch_norm, dtype=self.dtype,
                             ops=self.ops)
    x = x.astype(dtype)
    if self.transform_input:
      mean = jnp.array([0.485, 0.456, 0.406], dtype)
      std = jnp.array([0.229, 0.224, 0.225], dtype)
      x = x * (std / 0.5) + (mean - 0.5) / 0.5
    windows = iter(self._pool_windows())
    max_pool = functools.partial(layers.max_pool_ceil,
                                 pool_fn=self.ops.max_pool)
    # Caffe's LRN (bvlc_googlenet): size 5, alpha 1e-4 divided by size, beta 0.75, k 1.
    lrn = layers.LRN(size=5, k=1.0, alpha=1e-4 / 5, beta=0.75) if self.lrn else (lambda y: y)

    x = conv(w(64), 7, 2, name="conv1")(x, train=train)
    x = lrn(max_pool(x, next(windows), 2))
    x = conv(w(64), 1, name="conv2_reduce")(x, train=train)
    x = conv(w(192), 3, name="conv2")(x, train=train)
    x = max_pool(lrn(x), next(windows), 2)

    run_aux = train and self.aux_logits
    aux = []
    reductions = 0
    for block in self.blocks:
      if block == "M" and self.reduction == "pool":
        x = max_pool(x, next(windows), 2)
        continue
      if block == "M":
        reductions += 1
        c = x.shape[-1]
        branch = (("b3x3_reduce", max(1, c // 4), 1), ("b3x3", max(1, c // 2), 3))
        x = inception_lib.GridReduction(
            (branch,), mode=self.reduction, window=next(windows), ceil=True,
            batch_norm=self.batch_norm, dtype=self.dtype, ops=self.ops,
            name=f"reduction{reductions}")(x, train=train)
        continue
      name, widths = block
      widths = tuple(w(c) for c in widths)
      if self.factorise == "none":
        x = Inception(widths, naive=self.inception == "naive",
                      branch5x5_kernel=self.branch5x5_kernel, batch_norm=self.batch_norm,
                      dtype=self.dtype, ops=self.ops, name=name)(x, train=train)
      else:
        x = inception_lib.InceptionModule(
            inception_lib.factorised(widths, self.factorise), batch_norm=self.batch_norm,
            dtype=self.dtype, ops=self.ops, name=name)(x, train=train)
      if run_aux and name in AUX_AFTER:
        aux.append(AuxClassifier(self.num_classes, w(128), w(1024), pool=self.aux_pool,
                                 dropout_rate=self.aux_dropout_rate,
                                 batch_norm=self.batch_norm, dtype=self.dtype,
                                 ops=self.ops,
                                 name=f"aux{len(aux) + 1}")(x, train=train))

    # At 224 the final map is 7x7: global average pooling is the paper's 7x7/1 avg pool.
    x = jnp.mean(x, axis=(1, 2)) if self.head == "gap" else x.reshape(x.shape[0], -1)
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    x = nn.Dense(self.num_classes,
                 kernel_init=_TORCHVISION_KERNEL if self.batch_norm else _CAFFE_KERNEL,
                 dtype=dtype, name="fc")(x)
    x = x.astype(jnp.float32)
    if aux:
      return {"logits": x, "aux_logits": tuple(a.astype(jnp.float32) for a in aux)}
    return x


VARIANTS: dict[str, Callable[..., nn.Module]] = {
    "googlenet": GoogLeNet,
    # torchvision.models.googlenet: BasicConv2d (conv + BN) everywhere, 3x3 convs in the "5x5"
    # branch, no LRN, a 2x2 last max pool, adaptive 4x4 aux pooling, dropout 0.2.
    "googlenet_torchvision": functools.partial(
        GoogLeNet, batch_norm=True, lrn=False, branch5x5_kernel=3, pool4_window=2,
        aux_pool="adaptive4", dropout_rate=0.2),
}
