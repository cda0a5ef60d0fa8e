"""ResNet (He, Zhang, Ren, Sun, 2015, "Deep Residual Learning for Image Recognition").

``ResNet`` builds the ImageNet networks of Table 1 in torchvision's v1.5 form (stride on the
bottleneck's 3x3 conv), the CIFAR-10 networks of Sec. 4.2 (three stages of 16/32/64 maps,
option A shortcuts) and their plain counterparts (``residual=False``, Sec. 4.1 / Fig. 6).
"""

import functools
from typing import Callable

import jax
import jax.numpy as jnp
import flax.linen as nn

from jaxcnn.models import layers
from jaxcnn.models import ops as ops_lib

# Table 1: blocks per stage. CIFAR (Sec. 4.2): depth 6n + 2 with n blocks in each of 3 stages.
IMAGENET_STAGES = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
IMAGENET_WIDTHS = (64, 128, 256, 512)
CIFAR_BLOCKS = {20: 3, 32: 5, 44: 7, 56: 9, 110: 18}

# He et al. 2015 ("Delving Deep into Rectifiers") init, in torchvision's fan_out form.
_KAIMING = nn.initializers.variance_scaling(2.0, "fan_out", "normal")


def pad_shortcut(x: jax.Array, features: int, stride: int) -> jax.Array:
  """Option A (Sec. 3.3): identity, subsampled by ``stride``, with zero maps appended.

  It has no parameters; the extra maps are zero, so only the first C channels carry x.
  """
  x = x[:, ::stride, ::stride, :]
  return jnp.pad(x, [(0, 0)] * 3 + [(0, features - x.shape[-1])])


class Block(nn.Module):
  """A basic (two 3x3) or bottleneck (1x1, 3x3, 1x1 x4) residual block (Fig. 5)."""
  features: int  # the 3x3 conv's maps; the block outputs features * expansion
  stride: int = 1
  bottleneck: bool = False
  residual: bool = True
  shortcut: str = "B"
  zero_init_residual: bool = False
  stride_in_1x1: bool = False
  dtype: str = "float32"
  ops: ops_lib.Ops = ops_lib.AUTO  # The convs' and max pools' kernels (jaxcnn.models.ops).

  @nn.compact
  def __call__(self, x, *, train: bool):
    dtype = jnp.dtype(self.dtype)
    conv = functools.partial(nn.Conv, use_bias=False, kernel_init=_KAIMING, dtype=dtype,
                             conv_general_dilated=self.ops.conv)
    norm = functools.partial(nn.BatchNorm, use_running_average=not train, momentum=0.9,
                             epsilon=1e-5, dtype=dtype)
    # Zero-initialising the last BN's scale starts each residual branch at zero (Goyal et al.).
    last_scale = nn.initializers.zeros if self.zero_init_residual else nn.initializers.ones
    s = (self.stride, self.stride)
    if self.bottleneck:
      out_features = self.features * 4
      s1, s3 = (s, (1, 1)) if self.stride_in_1x1 else ((1, 1), s)
      y = nn.relu(norm(name="bn1")(conv(self.features, (1, 1), s1, name="conv1")(x)))
      y = conv(self.features, (3, 3), s3, padding=1, name="conv2")(y)
      y = nn.relu(norm(name="bn2")(y))
      y = conv(out_features, (1, 1), name="conv3")(y)
      y = norm(scale_init=last_scale, name="bn3")(y)
    else:
      out_features = self.features
      y = conv(self.features, (3, 3), s, padding=1, name="conv1")(x)
      y = nn.relu(norm(name="bn1")(y))
      y = conv(self.features, (3, 3), padding=1, name="conv2")(y)
      y = norm(scale_init=last_scale, name="bn2")(y)
    if not self.residual:
      return nn.relu(y)
    reshaped = self.stride != 1 or x.shape[-1] != out_features
    if self.shortcut == "A" and reshaped:
      x = pad_shortcut(x, out_features, self.stride)
    elif self.shortcut == "C" or (self.shortcut == "B" and reshaped):
      x = conv(out_features, (1, 1), s, name="shortcut_conv")(x)
      x = norm(name="shortcut_bn")(x)
    return nn.relu(y + x)


class ResNet(nn.Module):
  """ResNet (He et al., 2015, "Deep Residual Learning for Image Recognition", Table 1, Sec. 4.2).

  Attributes:
    stage_sizes: blocks per stage.
    stage_widths: the 3x3 convs' maps per stage (ImageNet 64..512, CIFAR 16/32/64); each stage
      after the first starts with stride 2.
    bottleneck: bottleneck blocks (ResNet-50/101/152) instead of basic ones.
    stem: "imagenet" (7x7/2 conv 64, BN, ReLU, 3x3/2 max pool) or "cifar" (3x3 conv 16, BN, ReLU).
    residual: False gives the plain network of the same layers (no shortcut at all).
    shortcut: "A" zero-padded identity, "B" projection when the shape changes, "C" projection
      everywhere (Sec. 3.3, Table 3).
    zero_init_residual: start every block's last BN scale at 0 (torchvision's option).
    stride_in_1x1: put a bottleneck's stride on its first 1x1 conv, as the paper's released
      models did (the multiply-adds of Table 1: 3.8, 7.6, 11.3 G); the default strides the
      3x3 conv, as torchvision's "v1.5" does (4.1, 7.8, 11.5 G), with the same parameters.
  """
  stage_sizes: tuple
  stage_widths: tuple = IMAGENET_WIDTHS
  bottleneck: bool = False
  stem: str = "imagenet"
  residual: bool = True
  shortcut: str = "B"
  zero_init_residual: bool = False
  stride_in_1x1: bool = False
  num_classes: int = 1000
  input_size: int = 224
  width: float = 1.0
  dtype: str = "float32"
  ops: ops_lib.Ops = ops_lib.AUTO  # The convs' and max pools' kernels (jaxcnn.models.ops).

  @nn.compact
  def __call__(self, x, *, train: bool):
    if self.stem not in ("imagenet", "cifar"):
      raise ValueError(f"stem must be 'imagenet' or 'cifar', got {self.stem!r}")
    if self.shortcut not in ("A", "B", "C"):
      raise ValueError(f"shortcut must be 'A', 'B' or 'C', got {self.shortcut!r}")
    # Every conv and pool is padded, so any input of at least one pixel gives a 1x1 final map.
    layers.check_input_size(x, 1, "ResNet")
    dtype = jnp.dtype(self.dtype)
    w = lambda c: layers.scaled_width(c, self.width)
    conv_fn = self.ops.conv
    x = x.astype(dtype)
    if self.stem == "imagenet":
      x = nn.Conv(w(64), (7, 7), (2, 2), padding=3, use_bias=False, kernel_init=_KAIMING,
                  dtype=dtype, conv_general_dilated=conv_fn, name="conv1")(x)
    else:
      x = nn.Conv(w(self.stage_widths[0]), (3, 3), padding=1, use_bias=False,
                  kernel_init=_KAIMING, dtype=dtype, conv_general_dilated=conv_fn,
                  name="conv1")(x)
    x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, dtype=dtype,
                     name="bn1")(x)
    x = nn.relu(x)
    if self.stem == "imagenet":
      x = self.ops.max_pool(x, (3, 3), (2, 2), padding=((1, 1), (1, 1)))
    for i, (blocks, features) in enumerate(zip(self.stage_sizes, self.stage_widths)):
      for j in range(blocks):
        x = Block(w(features), stride=2 if i > 0 and j == 0 else 1, bottleneck=self.bottleneck,
                  residual=self.residual, shortcut=self.shortcut,
                  zero_init_residual=self.zero_init_residual,
                  stride_in_1x1=self.stride_in_1x1, dtype=self.dtype,
                  ops=self.ops,
                  name=f"layer{i + 1}_{j}")(x, train=train)
    x = jnp.mean(x, axis=(1, 2))
    x = nn.Dense(self.num_classes, dtype=dtype, name="fc")(x)
    return x.astype(jnp.float32)


def _imagenet(depth: int, **kwargs) -> Callable[..., nn.Module]:
  block, stages = IMAGENET_STAGES[depth]
  return functools.partial(ResNet, stage_sizes=stages, bottleneck=block == "bottleneck", **kwargs)


def _cifar(depth: int, **kwargs) -> Callable[..., nn.Module]:
  n = CIFAR_BLOCKS[depth]
  return functools.partial(ResNet, stage_sizes=(n, n, n), stage_widths=(16, 32, 64), stem="cifar",
                           shortcut="A", num_classes=10, input_size=32, **kwargs)


VARIANTS: dict[str, Callable[..., nn.Module]] = {
    **{f"resnet{d}": _imagenet(d) for d in IMAGENET_STAGES},
    "plain18": _imagenet(18, residual=False),
    "plain34": _imagenet(34, residual=False),
    **{f"resnet{d}": _cifar(d) for d in CIFAR_BLOCKS},
    **{f"plain{d}": _cifar(d, residual=False) for d in CIFAR_BLOCKS},
}
