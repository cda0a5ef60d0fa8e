"""AlexNet and ZFNet: five convolutions, three fully connected layers.

AlexNet: Krizhevsky, Sutskever & Hinton, 2012, "ImageNet Classification with Deep
Convolutional Neural Networks", Sec. 3 (Fig. 2) and Sec. 5 (initialisation).
ZFNet: Zeiler & Fergus, 2013, "Visualizing and Understanding Convolutional Networks",
Sec. 3 and Fig. 3.
``alexnet_torchvision``: torchvision's single-tower variant (Krizhevsky, 2014, "One weird
trick for parallelizing convolutional neural networks").

AlexNet's two GPU towers are kept as one network whose tower-split layers are grouped
convolutions (``feature_group_count=towers``): tower t owns the t-th contiguous block of
channels of every layer, so conv2, conv4 and conv5 see only their own tower's maps and the
channel axis can later be sharded tower by tower. Response normalisation runs inside each
tower as well, since each GPU normalised over the maps it held.

Model parallelism as in the paper: every conv and hidden FC layer annotates its output
channels with the logical axis "tower" (parameters and activations) and the batch with
"batch"; mapping "tower" to a mesh axis of size 2 (jaxcnn.sharding.LOGICAL_RULES) places
each tower's maps and filters on its own device, so devices exchange activations only
where the paper's network crosses GPUs: into conv3, fc6, fc7 and fc8. The grouped layers
convolve each tower on its own device (``tower_parallel``). Without a mesh the annotations
do nothing.

ZFNet (Fig. 3) is the same module with a 7x7/2 conv1, a 5x5/2 conv2, one tower, and
normalisation after pooling. The paper's "contrast normalization across feature maps" is
given no constants, so it is AlexNet's LRN (k=2, n=5, alpha=1e-4, beta=0.75). Paddings
reproduce the figure's sizes from a 224x224 input: conv1 pads 1 (224 -> 110), conv2 pads 0
and pool1/pool2 round up as Caffe does (110 -> 55, 55 -> 26, 26 -> 13, 13 -> 6). The paper's
renormalisation of conv filters whose RMS exceeds 0.1 is a training-time constraint and not
part of the model.
"""

import functools
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import flax.linen as nn
from jax.sharding import PartitionSpec as P

from jaxcnn.models import layers
from jaxcnn.models import ops as ops_lib


class ConvSpec(NamedTuple):
  """One convolutional layer and what follows it."""
  name: str
  features: int
  kernel: int
  stride: int
  padding: int
  grouped: bool  # Split across the towers (AlexNet Sec. 3.2); crossing layers see all maps.
  bias_init: float
  lrn: bool  # Response-normalised (AlexNet Sec. 3.3).
  pool: bool  # Followed by max-pooling (AlexNet Sec. 3.4).


# AlexNet Sec. 3.5 and Fig. 2; biases 1 in conv2, conv4, conv5 (Sec. 5) so the ReLUs start active.
ALEXNET_CONVS = (
    ConvSpec("conv1", 96, 11, 4, 0, grouped=False, bias_init=0.0, lrn=True, pool=True),
    ConvSpec("conv2", 256, 5, 1, 2, grouped=True, bias_init=1.0, lrn=True, pool=True),
    ConvSpec("conv3", 384, 3, 1, 1, grouped=False, bias_init=0.0, lrn=False, pool=False),
    ConvSpec("conv4", 384, 3, 1, 1, grouped=True, bias_init=1.0, lrn=False, pool=False),
    ConvSpec("conv5", 256, 3, 1, 1, grouped=True, bias_init=1.0, lrn=False, pool=True),
)

# torchvision.models.alexnet: 64-192-384-256-256, conv1 pads 2 (224 -> 55). Initialised as
# AlexNet (torchvision itself uses PyTorch's default initialisers).
TORCHVISION_CONVS = (
    ConvSpec("conv1", 64, 11, 4, 2, grouped=False, bias_init=0.0, lrn=False, pool=True),
    ConvSpec("conv2", 192, 5, 1, 2, grouped=True, bias_init=1.0, lrn=False, pool=True),
    ConvSpec("conv3", 384, 3, 1, 1, grouped=False, bias_init=0.0, lrn=False, pool=False),
    ConvSpec("conv4", 256, 3, 1, 1, grouped=True, bias_init=1.0, lrn=False, pool=False),
    ConvSpec("conv5", 256, 3, 1, 1, grouped=True, bias_init=1.0, lrn=False, pool=True),
)

# ZFNet Fig. 3. Sec. 3: weights "initialized to 10^-2", read as AlexNet's N(0, 0.01^2);
# biases 0. "grouped" only matters with towers=2, an AlexNet-style ablation.
ZFNET_CONVS = (
    ConvSpec("conv1", 96, 7, 2, 1, grouped=False, bias_init=0.0, lrn=True, pool=True),
    ConvSpec("conv2", 256, 5, 2, 0, grouped=True, bias_init=0.0, lrn=True, pool=True),
    ConvSpec("conv3", 384, 3, 1, 1, grouped=False, bias_init=0.0, lrn=False, pool=False),
    ConvSpec("conv4", 384, 3, 1, 1, grouped=True, bias_init=0.0, lrn=False, pool=False),
    ConvSpec("conv5", 256, 3, 1, 1, grouped=True, bias_init=0.0, lrn=False, pool=True),
)


def tower_parallel(conv=jax.lax.conv_general_dilated):
  """``conv`` (lax.conv_general_dilated's signature) for a tower-split (grouped) layer.

  Under a mesh whose axis for "tower" divides the groups, each device convolves only its
  own towers' maps and filters (shard_map), so a grouped layer never communicates; XLA's
  partitioner would otherwise gather the grouped convolution's operands. Elsewhere it is
  ``conv`` unchanged.
  """
  def tower_conv(lhs, rhs, window_strides, padding, *, feature_group_count=1, **kwargs):
    mesh = jax.sharding.get_abstract_mesh()
    rules = dict(nn.get_logical_axis_rules())
    axis = rules.get("tower")
    n = 1 if mesh.empty or axis not in mesh.axis_names else mesh.shape[axis]
    if n == 1 or feature_group_count % n:
      return conv(lhs, rhs, window_strides, padding, feature_group_count=feature_group_count,
                  **kwargs)
    batch = rules.get("batch") if rules.get("batch") in mesh.axis_names else None
    local = functools.partial(conv, window_strides=window_strides, padding=padding,
                              feature_group_count=feature_group_count // n, **kwargs)
    return jax.shard_map(local, in_specs=(P(batch, None, None, axis), P(None, None, None, axis)),
                         out_specs=P(batch, None, None, axis))(lhs, rhs)
  return tower_conv


def _pool_geometry(size: int, window: int, ceil: bool) -> tuple[int, int]:
  """Output size and bottom/right padding of a stride-2 max-pool (ceil: Caffe's rounding)."""
  if size < window:
    return 0, 0
  out = (-(-(size - window) // 2) if ceil else (size - window) // 2) + 1
  return out, (out - 1) * 2 + window - size


class AlexNet(nn.Module):
  """AlexNet-style network (AlexNet, ZFNet, torchvision's AlexNet) from a table of convs.

  Ablation switches (AlexNet Sec. 3.3-3.5): ``lrn`` (response normalisation on/off),
  ``pool_window`` (3: overlapping 3x3/2 pooling; 2: non-overlapping 2x2/2), ``towers``
  (2: the two-GPU grouping; 1: one dense network).
  """
  convs: Sequence[ConvSpec] = ALEXNET_CONVS
  num_classes: int = 1000
  input_size: int = 227  # 11x11/4 with no padding needs 227 for 55x55 (the paper says 224).
  width: float = 1.0  # Scales every conv and the two hidden FC layers.
  dtype: str = "float32"
  ops: ops_lib.Ops = ops_lib.AUTO  # The convs' and max pools' kernels (jaxcnn.models.ops).
  lrn: bool = True
  lrn_after_pool: bool = False  # ZFNet normalises the pooled maps; AlexNet pools normalised ones.
  pool_window: int = 3
  pool_ceil: bool = False  # Round pooled sizes up (ZFNet's 110 -> 55 and 26 -> 13).
  towers: int = 2
  hidden: int = 4096
  hidden_bias_init: float = 1.0  # AlexNet Sec. 5: biases 1 in the hidden FC layers.
  dropout: float = 0.5
  # Where the dropout masks fall. "hidden": on fc6's and fc7's outputs, the paper's "output
  # of each hidden neuron" in "the first two fully-connected layers" (Sec. 4.2), as in
  # VGG. "inputs": on fc6's and fc7's inputs, torchvision's order, which also drops conv5's
  # pooled maps (the only features the classifier sees: 64 of them in a 0.25-wide net on
  # 67x67 crops) and leaves fc7's outputs whole.
  dropout_site: str = "hidden"
  adaptive_pool: bool = False  # torchvision's AdaptiveAvgPool2d((6, 6)) before the classifier.
  activation: str = "relu"  # "relu" or "tanh": the saturating unit ReLUs replaced (Sec. 3.1).
  # "normal": the paper's N(0, 0.01^2) and biases of 1 (Sec. 5), which narrow networks barely
  # train from; "he": N(0, 2 / fan_in) and zero biases, for reduced-width variants trained
  # from scratch in a few epochs.
  weight_init: str = "normal"

  def feature_size(self, size: int) -> int:
    """Side of the last conv stage's output for a ``size`` x ``size`` input; 0 if too small."""
    for spec in self.convs:
      size = (size + 2 * spec.padding - spec.kernel) // spec.stride + 1
      if size < 1:
        return 0
      if spec.pool:
        size, _ = _pool_geometry(size, self.pool_window, self.pool_ceil)
        if size < 1:
          return 0
    return size

  def min_input_size(self) -> int:
    """Smallest input side for which every conv and pool has a full window."""
    return next(n for n in range(1, 1024) if self.feature_size(n) >= 1)

  def _normalise(self, x, name):
    # Per tower: each GPU normalised over the maps it held (Sec. 3.2-3.3).
    shape = x.shape
    x = x.reshape(*shape[:-1], self.towers, shape[-1] // self.towers)
    return layers.LRN(size=5, k=2.0, alpha=1e-4, beta=0.75, name=name)(x).reshape(shape)

  def _pool(self, x):
    _, pad_h = _pool_geometry(x.shape[1], self.pool_window, self.pool_ceil)
    _, pad_w = _pool_geometry(x.shape[2], self.pool_window, self.pool_ceil)
    # A 2x2/2 window over an odd size leaves the last row out (pad -1): crop it rather than
    # pad negatively, which reduce_window's gradient does not take.
    x = x[:, :x.shape[1] + min(pad_h, 0), :x.shape[2] + min(pad_w, 0)]
    return self.ops.max_pool(x, (self.pool_window,) * 2, (2, 2),
                                           padding=((0, max(pad_h, 0)), (0, max(pad_w, 0))))

  @nn.compact
  def __call__(self, x, *, train: bool):
    if self.towers not in (1, 2):
      raise ValueError(f"AlexNet towers must be 1 or 2, got {self.towers}.")
    if self.pool_window not in (2, 3):
      raise ValueError(f"AlexNet pool_window must be 2 or 3, got {self.pool_window}.")
    if self.activation not in ("relu", "tanh"):
      raise ValueError(f"AlexNet activation must be relu or tanh, got {self.activation!r}.")
    act = nn.relu if self.activation == "relu" else jnp.tanh
    layers.check_input_size(x, self.min_input_size(), "This AlexNet/ZFNet configuration")
    dtype = jnp.dtype(self.dtype)
    if self.dropout_site not in ("hidden", "inputs"):
      raise ValueError(f"AlexNet dropout_site must be hidden or inputs, got "
                       f"{self.dropout_site!r}.")
    if self.weight_init not in ("normal", "he"):
      raise ValueError(f"AlexNet weight_init must be normal or he, got {self.weight_init!r}.")
    # AlexNet Sec. 5: every weight from N(0, 0.01^2).
    init = nn.initializers.normal(0.01) if self.weight_init == "normal" else \
        nn.initializers.he_normal()
    bias = lambda value: value if self.weight_init == "normal" else 0.0
    tower_init = lambda f, ndim: nn.with_logical_partitioning(f, (None,) * (ndim - 1) + ("tower",))
    conv = self.ops.conv
    x = x.astype(dtype)
    n_lrn = 0
    for spec in self.convs:
      # Every conv width a multiple of the tower count, so each tower gets whole channels.
      features = self.towers * layers.scaled_width(spec.features // self.towers, self.width)
      x = nn.Conv(features, (spec.kernel, spec.kernel), (spec.stride, spec.stride),
                  padding=spec.padding,
                  feature_group_count=self.towers if spec.grouped else 1,
                  conv_general_dilated=tower_parallel(conv) if spec.grouped else conv,
                  kernel_init=tower_init(init, 4),
                  bias_init=tower_init(nn.initializers.constant(bias(spec.bias_init)), 1),
                  dtype=dtype, name=spec.name)(x)
      x = nn.with_logical_constraint(act(x), ("batch", None, None, "tower"))
      normalise = self.lrn and spec.lrn
      if normalise and not self.lrn_after_pool:
        n_lrn += 1
        x = self._normalise(x, f"lrn{n_lrn}")
      if spec.pool:
        x = self._pool(x)
      if normalise and self.lrn_after_pool:
        n_lrn += 1
        x = self._normalise(x, f"lrn{n_lrn}")
    if self.adaptive_pool:
      x = layers.adaptive_avg_pool(x, 6)
    # fc6 crosses the towers: every device needs all of conv5's maps.
    x = nn.with_logical_constraint(x.reshape(x.shape[0], -1), ("batch", None))
    hidden = layers.scaled_width(self.hidden, self.width)
    drop = lambda x: nn.Dropout(self.dropout, deterministic=not train)(x)
    for name in ("fc6", "fc7"):
      if self.dropout_site == "inputs":
        x = drop(x)
      x = nn.Dense(hidden, kernel_init=tower_init(init, 2),
                   bias_init=tower_init(nn.initializers.constant(bias(self.hidden_bias_init)), 1),
                   dtype=dtype, name=name)(x)
      x = nn.with_logical_constraint(act(x), ("batch", "tower"))
      if self.dropout_site == "hidden":
        x = drop(x)
    # Each device holds fc8's weights from its own fc7 neurons; the logits are summed across.
    x = nn.Dense(self.num_classes, dtype=dtype, name="fc8",
                 kernel_init=nn.with_logical_partitioning(init, ("tower", None)))(x)
    return x.astype(jnp.float32)


class Fig1Net(nn.Module):
  """The four-layer network of AlexNet's Figure 1 (ReLU vs tanh on CIFAR-10).

  The paper says only "a four-layer convolutional neural network" with no regularisation of
  any kind. This is the four-layer net of Krizhevsky's cuda-convnet (its "80 sec" CIFAR-10
  layer file, in the spirit of the one the figure used): three 5x5 convolutions of 32, 32
  and 64 maps (padding 2), each followed by 3x3/2 pooling (max, then average, then average,
  rounded up as cuda-convnet does), and one fully connected layer to the classes. No LRN,
  no dropout. Both activations start from the same LeCun-normal weights and zero biases;
  ``init_scale`` multiplies those weights' standard deviation (above 1, tanh units start
  saturated: the relu_tanh_init study).
  """
  num_classes: int = 10
  input_size: int = 28
  width: float = 1.0
  dtype: str = "float32"
  ops: ops_lib.Ops = ops_lib.AUTO  # The convs' and max pools' kernels (jaxcnn.models.ops).
  activation: str = "relu"  # "relu" or "tanh" (Sec. 3.1, Fig. 1).
  init_scale: float = 1.0  # Times the LeCun-normal standard deviation of every weight.

  @nn.compact
  def __call__(self, x, *, train: bool):
    del train  # No dropout or normalisation.
    if self.activation not in ("relu", "tanh"):
      raise ValueError(f"alexnet_fig1 activation must be relu or tanh, got {self.activation!r}.")
    act = nn.relu if self.activation == "relu" else jnp.tanh
    layers.check_input_size(x, 8, "alexnet_fig1")
    dtype = jnp.dtype(self.dtype)
    init = nn.initializers.variance_scaling(self.init_scale ** 2, "fan_in", "truncated_normal")
    conv = functools.partial(nn.Conv, kernel_size=(5, 5), padding=2, dtype=dtype,
                             kernel_init=init, conv_general_dilated=self.ops.conv)
    max_pool = self.ops.max_pool
    x = x.astype(dtype)
    x = layers.max_pool_ceil(act(conv(layers.scaled_width(32, self.width), name="conv1")(x)),
                             3, 2, pool_fn=max_pool)
    x = layers.avg_pool_ceil(act(conv(layers.scaled_width(32, self.width), name="conv2")(x)),
                             3, 2)
    x = layers.avg_pool_ceil(act(conv(layers.scaled_width(64, self.width), name="conv3")(x)),
                             3, 2)
    x = nn.Dense(self.num_classes, dtype=dtype, kernel_init=init,
                 name="fc")(x.reshape(x.shape[0], -1))
    return x.astype(jnp.float32)


VARIANTS = {
    "alexnet": AlexNet,
    "alexnet_fig1": Fig1Net,
    "alexnet_torchvision": functools.partial(
        AlexNet, convs=TORCHVISION_CONVS, input_size=224, lrn=False, towers=1,
        adaptive_pool=True, dropout_site="inputs"),
    "zfnet": functools.partial(
        AlexNet, convs=ZFNET_CONVS, input_size=224, towers=1, lrn_after_pool=True,
        pool_ceil=True, hidden_bias_init=0.0),
}
