"""Inception building blocks: the conv block of GoogLeNet and Inception-v3, and the modules of
Szegedy et al. 2016 ("Rethinking the Inception Architecture for Computer Vision").

``InceptionModule`` is any inception module given as a list of convs, each reading the
module's input, its pooled input or an earlier conv, whose unread outputs are concatenated:
Inception-v3's modules (jaxcnn.models.inception_v3) and GoogLeNet's with factorised
convolutions (``factorised``: Sec. 3.1's 5x5 as two stacked 3x3, Sec. 3.2's 3x3 as a 1x3
followed by a 3x1). ``GridReduction`` halves the grid with strided conv branches beside a
max pooling, concatenated (Sec. 5, Fig. 10), or with the same convs at full resolution
before the pooling (Fig. 9, right).
"""

import functools

import flax.linen as nn
import jax.numpy as jnp

from jaxcnn.models import layers
from jaxcnn.models import ops as ops_lib

# GoogLeNet's paper gives no initialisation; BVLC's Caffe reproduction (bvlc_googlenet) uses the
# "xavier" filler (uniform, variance 1/fan_in), biases of 0.2 on hidden layers, 0 on classifiers.
CAFFE_KERNEL = nn.initializers.variance_scaling(1.0, "fan_in", "uniform")
CAFFE_BIAS = nn.initializers.constant(0.2)
# torchvision's googlenet init_weights: N(0, 0.01) truncated at +-2 (absolute, so in effect never).
TORCHVISION_KERNEL = nn.initializers.normal(0.01)
# torchvision's (and TF-slim's) Inception-v3: N(0, 0.1) truncated at +-2, again in effect never.
INCEPTION_V3_KERNEL = nn.initializers.normal(0.1)

FACTORISE = ("none", "3x3", "asymmetric")
REDUCTIONS = ("pool", "conv_then_pool", "parallel")


def check_choice(field: str, value: str, choices: tuple) -> None:
  if value not in choices:
    raise ValueError(f"{field} must be one of {', '.join(map(repr, choices))}, got {value!r}")


def _pair(kernel) -> tuple[int, int]:
  return (kernel, kernel) if isinstance(kernel, int) else tuple(kernel)


class ConvBlock(nn.Module):
  """Conv + ReLU, or torchvision's BasicConv2d: bias-free conv + BatchNorm(eps 1e-3) + ReLU.

  kernel: an int (square) or (height, width); padding: "same" (kernel // 2 on each side),
  "valid", or ((top, bottom), (left, right)). weight_init: "googlenet" (without BatchNorm
  Caffe's, with it torchvision's googlenet's) or "inception_v3" (torchvision's N(0, 0.1)).
  """
  features: int
  kernel: int | tuple
  stride: int = 1
  padding: str | tuple = "same"
  batch_norm: bool = False
  weight_init: str = "googlenet"
  dtype: str = "float32"
  ops: ops_lib.Ops = ops_lib.AUTO  # The convs' and max pools' kernels (jaxcnn.models.ops).

  @nn.compact
  def __call__(self, x, *, train: bool):
    dtype = jnp.dtype(self.dtype)
    kh, kw = _pair(self.kernel)
    padding = self.padding
    if padding == "same":
      padding = ((kh // 2, kh // 2), (kw // 2, kw // 2))
    elif padding == "valid":
      padding = "VALID"
    if self.weight_init == "inception_v3":
      kernel_init = INCEPTION_V3_KERNEL
    else:
      kernel_init = TORCHVISION_KERNEL if self.batch_norm else CAFFE_KERNEL
    x = nn.Conv(self.features, (kh, kw), (self.stride, self.stride), padding=padding,
                use_bias=not self.batch_norm, kernel_init=kernel_init, bias_init=CAFFE_BIAS,
                dtype=dtype, conv_general_dilated=self.ops.conv, name="conv")(x)
    if self.batch_norm:
      x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-3, dtype=dtype,
                       name="bn")(x)
    return nn.relu(x)


class InceptionModule(nn.Module):
  """An inception module given as its convs: (name, source, features, kernel) in order.

  source: "x" (the module's input), "pool" (the input pooled 3x3/1, ``pool``: "max" as in
  GoogLeNet, "avg" as in Inception-v3, zero padding counted) or an earlier conv's name.
  The outputs no conv reads are concatenated in the order listed. Features are scaled by
  ``width``.
  """
  convs: tuple
  pool: str = "max"
  width: float = 1.0
  batch_norm: bool = False
  weight_init: str = "googlenet"
  dtype: str = "float32"
  ops: ops_lib.Ops = ops_lib.AUTO  # The convs' and max pools' kernels (jaxcnn.models.ops).

  @nn.compact
  def __call__(self, x, *, train: bool):
    conv = functools.partial(ConvBlock, batch_norm=self.batch_norm,
                             weight_init=self.weight_init, dtype=self.dtype, ops=self.ops)
    pad = ((1, 1), (1, 1))
    pooled = (self.ops.max_pool(x, (3, 3), (1, 1), padding=pad) if self.pool == "max"
              else nn.avg_pool(x, (3, 3), (1, 1), padding=pad))
    outputs = {"x": x, "pool": pooled}
    for name, source, features, kernel in self.convs:
      outputs[name] = conv(layers.scaled_width(features, self.width), kernel,
                           name=name)(outputs[source], train=train)
    read = {source for _, source, _, _ in self.convs}
    return jnp.concatenate([outputs[name] for name, *_ in self.convs if name not in read],
                           axis=-1)


def chain_widths(n_in: int, n_out: int, count: int) -> list[int]:
  """Widths of ``count`` stacked convs from ``n_in`` to ``n_out`` maps, each changing the width
  by the same factor (at n_in == n_out, Sec. 3.1's case, all keep it)."""
  widths = [max(1, round(n_in * (n_out / n_in) ** (i / count))) for i in range(1, count)]
  return widths + [n_out]


def factorised(widths: tuple, factorise: str) -> tuple:
  """``InceptionModule`` convs of GoogLeNet's module (Fig. 2b) with Table 1's ``widths``
  (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj), its 5x5 conv as two 3x3 convs
  (``factorise="3x3"``, Sec. 3.1, Fig. 5) and, with "asymmetric", every 3x3 conv as a 1x3
  followed by a 3x1 (Sec. 3.2, Fig. 6 with n = 3). Inner widths follow ``chain_widths``.
  """
  check_choice("factorise", factorise, FACTORISE[1:])
  n1x1, n3x3r, n3x3, n5x5r, n5x5, npool = widths
  unit = ((1, 3), (3, 1)) if factorise == "asymmetric" else (3,)

  def chain(prefix, n_in, n_out, n3x3_convs):
    kernels = unit * n3x3_convs
    if len(kernels) == 1:
      return ((prefix, f"{prefix}_reduce", n_out, kernels[0]),)
    names = [f"{prefix}_reduce"] + [f"{prefix}_{i}" for i in range(1, len(kernels) + 1)]
    return tuple((names[i + 1], names[i], w, k) for i, (w, k) in
                 enumerate(zip(chain_widths(n_in, n_out, len(kernels)), kernels)))

  return (("b1x1", "x", n1x1, 1), ("b3x3_reduce", "x", n3x3r, 1),
          *chain("b3x3", n3x3r, n3x3, 1), ("b5x5_reduce", "x", n5x5r, 1),
          *chain("b5x5", n5x5r, n5x5, 2), ("pool_proj", "pool", npool, 1))


class GridReduction(nn.Module):
  """Halves the grid: conv branches beside a max pooling of the input, concatenated
  (``mode="parallel"``, Sec. 5, Fig. 10), or the same branches at full resolution and then
  the pooling of them and the input together (``"conv_then_pool"``, Fig. 9 right: the same
  parameters, four times the branches' multiply-adds).

  branches: per branch its convs, (name, features, kernel), chained; the last is strided in
  "parallel", every other one keeps the grid. Outputs: the branches' last convs, then the
  input's maps. ceil: Caffe's ceil-mode pooling (GoogLeNet), the strided convs padded at the
  bottom and right onto its grid; else unpadded pooling and strided convs (Inception-v3).
  """
  branches: tuple
  mode: str = "parallel"
  window: int = 3
  ceil: bool = False
  width: float = 1.0
  batch_norm: bool = False
  weight_init: str = "googlenet"
  dtype: str = "float32"
  ops: ops_lib.Ops = ops_lib.AUTO  # The convs' and max pools' kernels (jaxcnn.models.ops).

  def _pool(self, x):
    if self.ceil:
      return layers.max_pool_ceil(x, self.window, 2, pool_fn=self.ops.max_pool)
    return self.ops.max_pool(x, (self.window, self.window), (2, 2))

  def _strided_padding(self, x, kernel):
    """Padding that puts a stride-2 conv's outputs on the pooling's grid."""
    if not self.ceil:
      return "valid"
    pads = []
    for size, k in zip(x.shape[1:3], _pair(kernel)):
      out = layers.ceil_pooled_size(size, self.window, 2)
      pads.append((0, (out - 1) * 2 + k - size))
    return tuple(pads)

  @nn.compact
  def __call__(self, x, *, train: bool):
    check_choice("mode", self.mode, REDUCTIONS[1:])
    conv = functools.partial(ConvBlock, batch_norm=self.batch_norm,
                             weight_init=self.weight_init, dtype=self.dtype, ops=self.ops)
    parallel = self.mode == "parallel"
    outputs = []
    for branch in self.branches:
      y = x
      for i, (name, features, kernel) in enumerate(branch):
        features = layers.scaled_width(features, self.width)
        if parallel and i == len(branch) - 1:
          y = conv(features, kernel, 2, self._strided_padding(x, kernel), name=name)(
              y, train=train)
        else:
          y = conv(features, kernel, name=name)(y, train=train)
      outputs.append(y)
    if parallel:
      return jnp.concatenate(outputs + [self._pool(x)], axis=-1)
    return self._pool(jnp.concatenate(outputs + [x], axis=-1))
