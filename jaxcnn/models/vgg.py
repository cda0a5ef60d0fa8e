"""VGG: stacks of small convolutions (Simonyan & Zisserman, 2014, "Very Deep Convolutional
Networks for Large-Scale Image Recognition", Table 1, Sec. 2 and 3).

A configuration is a layer-spec list: an int is a 3x3 conv with that many maps (stride 1,
"same" padding, ReLU), ``(maps, k)`` a k x k conv, ``"M"`` a 2x2/2 max-pool and ``"LRN"``
AlexNet's local response normalisation. Convs are named ``conv<block>_<i>`` as in the
authors' released models; the classifier is fc6, fc7 (4096, ReLU, dropout 0.5) and fc8.

``vgg_a`` .. ``vgg_e`` are Table 1's configurations, which classify a 7x7 map (224x224
crops). ``vgg11`` .. ``vgg19`` (and ``_bn``, BatchNorm after each conv as torchvision
has it) mirror torchvision: the same layers plus its adaptive 7x7 average pool before
the classifier, which is the identity at 224x224 and lets other sizes through.

``fully_convolutional=True`` is the paper's dense evaluation (Sec. 3.2): fc6 becomes a
7x7 conv and fc7/fc8 1x1 convs using the same parameters, and the class score map is
averaged over space.
"""

import functools
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import flax.linen as nn

from jaxcnn.models import layers
from jaxcnn.models import ops as ops_lib

# Table 1. C adds 1x1 convs at the end of blocks 3-5; A-LRN normalises after the first conv.
CONFIGS = {
    "A": (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "A_LRN": (64, "LRN", "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "B": (64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "C": (64, 64, "M", 128, 128, "M", 256, 256, (256, 1), "M", 512, 512, (512, 1), "M",
          512, 512, (512, 1), "M"),
    "D": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
          512, 512, 512, "M"),
    "E": (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
          512, 512, 512, 512, "M"),
    # Sec. 4.1: B with each pair of 3x3 convs replaced by one 5x5 (same receptive field).
    "B_5X5": ((64, 5), "M", (128, 5), "M", (256, 5), "M", (512, 5), "M", (512, 5), "M"),
}


def conv_layers(spec: Sequence) -> list[tuple[str, int, int]]:
  """(name, maps, kernel) of each conv of a spec, in order; names restart per block."""
  out, block, i = [], 1, 0
  for entry in spec:
    if entry == "M":
      block, i = block + 1, 0
    elif entry != "LRN":
      maps, kernel = entry if isinstance(entry, tuple) else (entry, 3)
      i += 1
      out.append((f"conv{block}_{i}", maps, kernel))
  return out


class FullyConnected(nn.Module):
  """A dense layer that can also slide over a feature map as a ``window`` x ``window`` conv.

  The kernel is kept as nn.Dense keeps it, (inputs, features), with inputs in (H, W, C)
  flatten order; the convolutional form reshapes it at call time, so the FC and the
  fully-convolutional networks share one parameter tree.
  """
  features: int
  dtype: Any = jnp.float32
  kernel_init: Callable = nn.initializers.lecun_normal()
  bias_init: Callable = nn.initializers.zeros

  @nn.compact
  def __call__(self, x, window: int | None = None):
    in_features = x.shape[-1] * (1 if window is None else window * window)
    kernel = self.param("kernel", self.kernel_init, (in_features, self.features), jnp.float32)
    bias = self.param("bias", self.bias_init, (self.features,), jnp.float32)
    x, kernel, bias = nn.dtypes.promote_dtype(x, kernel, bias, dtype=self.dtype)
    if window is None:
      y = jnp.dot(x, kernel)
    else:
      kernel = kernel.reshape(window, window, x.shape[-1], self.features)
      y = jax.lax.conv_general_dilated(x, kernel, (1, 1), "VALID",
                                       dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return y + bias

  def multiply_adds(self, x, out):
    """For jaxcnn.tools.summary: a dense product, or a conv of the window its output size implies."""
    if x.ndim == 2:
      return int(np.prod(out.shape[:-1]) * x.shape[-1] * out.shape[-1])
    window = x.shape[1] - out.shape[1] + 1
    return int(np.prod(out.shape[:-1]) * window * window * x.shape[-1] * out.shape[-1])


class VGG(nn.Module):
  """VGG from a layer-spec list (Table 1)."""
  spec: Sequence
  num_classes: int = 1000
  input_size: int = 224  # The training crop; sets fc6's window when adaptive_pool is off.
  width: float = 1.0  # Scales every conv and the two hidden FC layers.
  dtype: str = "float32"
  ops: ops_lib.Ops = ops_lib.AUTO  # The convs' and max pools' kernels (jaxcnn.models.ops).
  batch_norm: bool = False
  adaptive_pool: bool = False
  fully_convolutional: bool = False
  hidden: int = 4096
  dropout: float = 0.5
  # "normal": Sec. 3.1's N(0, 0.01^2); the paper trained A with it and started the deeper
  # nets from A's layers. "glorot": Glorot & Bengio (2010), which Sec. 3.1 notes trains them
  # from scratch. (For unit-variance inputs, "normal" gives initial logits of std ~1e-5 in A,
  # ~1e-8 in D, ~1e-9 in E; "glorot" ~2e-2, 2e-3, 6e-4.)
  weight_init: str = "normal"

  @property
  def num_pools(self) -> int:
    return sum(1 for entry in self.spec if entry == "M")

  @property
  def fc_window(self) -> int:
    """Side of the map fc6 was built for: 7 with the adaptive pool, else input_size / 2^pools."""
    return 7 if self.adaptive_pool else self.input_size // 2 ** self.num_pools

  @nn.compact
  def __call__(self, x, *, train: bool):
    # The FC form needs one pixel after the last pool; the dense form a whole fc6 window.
    minimum = 2 ** self.num_pools * (self.fc_window if self.fully_convolutional else 1)
    layers.check_input_size(x, minimum, "vgg")
    dtype = jnp.dtype(self.dtype)
    # Sec. 3.1: "a normal distribution with zero mean and 10^-2 variance", biases 0. Taken
    # literally that is std 0.1; read here as std 0.01, AlexNet's N(0, 0.01^2) that the
    # paper follows, as common reimplementations do. (torchvision: Kaiming-normal convs.)
    if self.weight_init == "normal":
      init = nn.initializers.normal(0.01)
    elif self.weight_init == "glorot":
      init = nn.initializers.glorot_uniform()
    elif self.weight_init == "he":  # Keeps the signal's scale through ReLUs at any depth.
      init = nn.initializers.he_normal()
    else:
      raise ValueError(f"VGG weight_init must be 'normal', 'glorot' or 'he', not "
                       f"{self.weight_init!r}.")
    x = x.astype(dtype)
    names = iter(conv_layers(self.spec))
    n_lrn = 0
    for entry in self.spec:
      if entry == "M":
        x = self.ops.max_pool(x, (2, 2), (2, 2))
      elif entry == "LRN":
        n_lrn += 1
        x = layers.LRN(size=5, k=2.0, alpha=1e-4, beta=0.75, name=f"lrn{n_lrn}")(x)
      else:
        name, maps, kernel = next(names)
        x = nn.Conv(layers.scaled_width(maps, self.width), (kernel, kernel),
                    padding=(kernel - 1) // 2, kernel_init=init, dtype=dtype,
                    conv_general_dilated=self.ops.conv, name=name)(x)
        if self.batch_norm:
          x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                           dtype=dtype, name=name.replace("conv", "bn"))(x)
        x = nn.relu(x)

    hidden = layers.scaled_width(self.hidden, self.width)
    fc = functools.partial(FullyConnected, dtype=dtype, kernel_init=init)
    if self.fully_convolutional:
      # Dense evaluation slides the classifier over whatever map the image gives, so
      # torchvision's adaptive pool (which would squash it to 7x7) is not applied.
      x = nn.relu(fc(hidden, name="fc6")(x, self.fc_window))
      x = nn.Dropout(self.dropout, deterministic=not train)(x)
      x = nn.relu(fc(hidden, name="fc7")(x, 1))
      x = nn.Dropout(self.dropout, deterministic=not train)(x)
      x = fc(self.num_classes, name="fc8")(x, 1)
      # Sec. 3.2: the class score map is spatially averaged (sum-pooled) to one vector.
      x = jnp.mean(x, axis=(1, 2))
    else:
      if self.adaptive_pool:
        x = layers.adaptive_avg_pool(x, 7)
      x = x.reshape(x.shape[0], -1)
      x = nn.relu(fc(hidden, name="fc6")(x))
      x = nn.Dropout(self.dropout, deterministic=not train)(x)
      x = nn.relu(fc(hidden, name="fc7")(x))
      x = nn.Dropout(self.dropout, deterministic=not train)(x)
      x = fc(self.num_classes, name="fc8")(x)
    return x.astype(jnp.float32)


# torchvision's names for A, B, D and E.
TORCHVISION_CONFIGS = {"vgg11": "A", "vgg13": "B", "vgg16": "D", "vgg19": "E"}

VARIANTS = {
    "vgg_a": functools.partial(VGG, spec=CONFIGS["A"]),
    "vgg_a_lrn": functools.partial(VGG, spec=CONFIGS["A_LRN"]),
    "vgg_b": functools.partial(VGG, spec=CONFIGS["B"]),
    "vgg_c": functools.partial(VGG, spec=CONFIGS["C"]),
    "vgg_d": functools.partial(VGG, spec=CONFIGS["D"]),
    "vgg_e": functools.partial(VGG, spec=CONFIGS["E"]),
    "vgg_b_5x5": functools.partial(VGG, spec=CONFIGS["B_5X5"]),
    **{name: functools.partial(VGG, spec=CONFIGS[c], adaptive_pool=True)
       for name, c in TORCHVISION_CONFIGS.items()},
    **{f"{name}_bn": functools.partial(VGG, spec=CONFIGS[c], adaptive_pool=True, batch_norm=True)
       for name, c in TORCHVISION_CONFIGS.items()},
}
