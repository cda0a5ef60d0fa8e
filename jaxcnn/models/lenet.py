"""LeNet-5 (LeCun, Bottou, Bengio & Haffner, 1998, "Gradient-based learning applied to
document recognition", Sec. II.B and Fig. 2).

``LeNet5`` is the network as published: 32x32 input, the scaled tanh squashing
1.7159 tanh(2a/3), trainable subsampling layers, C3's partial connection table
(Table I), C5, F6 and a Euclidean RBF output layer with fixed code vectors; it
has exactly 60,000 trainable parameters. ``LeNet5Modern`` keeps the layer sizes
with today's parts: ReLU, max-pooling, a fully connected C3 and a softmax layer.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import flax.linen as nn

from jaxcnn.models import layers
from jaxcnn.models import ops as ops_lib

# Table I: the S2 maps that feed each C3 map.
C3_TABLE = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (0, 4, 5), (0, 1, 5),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (0, 3, 4, 5), (0, 1, 4, 5), (0, 1, 2, 5),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5), (0, 1, 2, 3, 4, 5),
)


def squash(a):
  """The paper's sigmoid (Appendix A): f(a) = A tanh(S a), A = 1.7159, S = 2/3."""
  return 1.7159 * jnp.tanh(a * (2.0 / 3.0))


def fan_in_uniform(fan_in: int):
  """Appendix C: weights uniform in [-2.4 / F_i, 2.4 / F_i], F_i the unit's fan-in."""
  def init(key, shape, dtype=jnp.float32):
    bound = 2.4 / fan_in
    return jax.random.uniform(key, shape, dtype, -bound, bound)
  return init


def rbf_codes(num_classes: int, dim: int) -> np.ndarray:
  """Fixed +1/-1 code vectors for the RBF output units, one row per class.

  The paper drew each class's code as a stylised 7x12 bitmap of its character.
  Those bitmaps are not printed, and they fit digits only, so we use rows 1..C of a
  Sylvester-Hadamard matrix of order 2^ceil(log2(dim+1)), truncated to ``dim`` columns:
  +1/-1 vectors nearly orthogonal (for 10 codes of 84, any two differ in at least 40
  positions), as far apart as the paper asked of its codes (Sec. II.B); row 0, all
  ones, is skipped.
  """
  order = 1
  while order < max(dim, num_classes + 1):
    order *= 2
  h = np.array([[1.0]])
  while h.shape[0] < order:
    h = np.block([[h, h], [h, -h]])
  return h[1:num_classes + 1, :dim].astype(np.float32)


class Subsampling(nn.Module):
  """S2/S4: the sum over 2x2 neighbourhoods, times a trainable coefficient and plus a
  trainable bias per map, then the squashing function."""

  @nn.compact
  def __call__(self, x):
    c = x.shape[-1]
    coeff = self.param("coeff", fan_in_uniform(4), (c,))
    bias = self.param("bias", nn.initializers.zeros, (c,))
    summed = nn.avg_pool(x, (2, 2), (2, 2)) * 4.0
    return squash(summed * coeff.astype(x.dtype) + bias.astype(x.dtype))

  def multiply_adds(self, x, out):
    """One multiplication by the coefficient per output (jaxcnn.tools.summary)."""
    return int(np.prod(out.shape))


class PartialConv(nn.Module):
  """C3: a 5x5 convolution in which output map j sees only the input maps table[j].

  Only the connected 5x5 kernels are parameters (60 of them for Table I); they are
  scattered into a dense kernel with zeros elsewhere, so the convolution is one op.
  """
  table: tuple
  in_features: int
  kernel_size: int = 5
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    k = self.kernel_size
    pairs = [(i, j) for j, inputs in enumerate(self.table) for i in inputs]
    fan_ins = np.array([len(self.table[j]) * k * k for _, j in pairs], np.float32)

    def init(key, shape, dtype=jnp.float32):
      bounds = 2.4 / fan_ins
      return jax.random.uniform(key, shape, dtype, -1.0, 1.0) * bounds

    connected = self.param("kernel", init, (k, k, len(pairs)))
    bias_fan_in = np.array([len(t) * k * k for t in self.table], np.float32)
    bias = self.param(
        "bias", lambda key, s, d=jnp.float32: jax.random.uniform(key, s, d, -1, 1) * (2.4 / bias_fan_in),
        (len(self.table),))
    ins = np.array([i for i, _ in pairs])
    outs = np.array([j for _, j in pairs])
    kernel = jnp.zeros((k, k, self.in_features, len(self.table)), connected.dtype)
    kernel = kernel.at[:, :, ins, outs].set(connected)
    y = jax.lax.conv_general_dilated(
        x, kernel.astype(self.dtype), (1, 1), "VALID",
        dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return y + bias.astype(self.dtype)

  def multiply_adds(self, x, out):
    """Only the connected kernels multiply (jaxcnn.tools.summary)."""
    connections = sum(len(t) for t in self.table)
    return int(np.prod(out.shape[:-1]) * connections * self.kernel_size ** 2)


class LeNet5(nn.Module):
  """LeNet-5 as published; logits are minus the squared distances to the class codes."""
  num_classes: int = 10
  input_size: int = 32
  width: float = 1.0
  dtype: str = "float32"
  ops: ops_lib.Ops = ops_lib.AUTO  # The convs' and max pools' kernels (jaxcnn.models.ops).

  @nn.compact
  def __call__(self, x, *, train: bool):
    del train  # The paper's network has no dropout or normalisation.
    layers.check_input_size(x, 32, "lenet5")
    dtype = jnp.dtype(self.dtype)
    x = x.astype(dtype)
    conv = functools.partial(nn.Conv, padding="VALID", dtype=dtype,
                             conv_general_dilated=self.ops.conv)
    # Every unit squashes its weighted sum (Sec. II.A, Appendix A), subsampling units included.
    x = squash(conv(6, (5, 5), kernel_init=fan_in_uniform(25 * x.shape[-1]),
                    bias_init=nn.initializers.zeros, name="c1")(x))
    x = Subsampling(name="s2")(x)
    x = squash(PartialConv(C3_TABLE, in_features=6, dtype=dtype, name="c3")(x))
    x = Subsampling(name="s4")(x)
    x = squash(conv(120, (5, 5), kernel_init=fan_in_uniform(25 * 16),
                    bias_init=nn.initializers.zeros, name="c5")(x))
    x = x.reshape(x.shape[0], -1)
    x = squash(nn.Dense(84, dtype=dtype, kernel_init=fan_in_uniform(x.shape[-1]),
                        bias_init=nn.initializers.zeros, name="f6")(x))
    codes = jnp.asarray(rbf_codes(self.num_classes, 84), dtype)
    # Output RBF unit i: y_i = sum_j (x_j - w_ij)^2 with fixed w. Minus y_i as logits makes
    # the softmax cross-entropy favour the nearest code, like the paper's criterion.
    distances = jnp.sum(jnp.square(x[:, None, :] - codes[None]), axis=-1)
    return (-distances).astype(jnp.float32)


class LeNet5Modern(nn.Module):
  """LeNet-5's layer sizes with ReLU, max-pooling, full C3 and a softmax classifier."""
  num_classes: int = 10
  input_size: int = 28
  width: float = 1.0
  dtype: str = "float32"
  ops: ops_lib.Ops = ops_lib.AUTO  # The convs' and max pools' kernels (jaxcnn.models.ops).

  @nn.compact
  def __call__(self, x, *, train: bool):
    del train  # No dropout or normalisation.
    layers.check_input_size(x, 28, "lenet5_modern")
    w = lambda c: layers.scaled_width(c, self.width)
    dtype = jnp.dtype(self.dtype)
    x = x.astype(dtype)
    # On 28x28 input C1 pads by 2, giving the paper's 32x32 field.
    pad = 2 if x.shape[1] < 32 else 0
    conv = functools.partial(nn.Conv, dtype=dtype,
                             conv_general_dilated=self.ops.conv)
    max_pool = self.ops.max_pool
    x = conv(w(6), (5, 5), padding=pad, name="c1")(x)
    x = max_pool(nn.relu(x), (2, 2), (2, 2))
    x = conv(w(16), (5, 5), padding="VALID", name="c3")(x)
    x = max_pool(nn.relu(x), (2, 2), (2, 2))
    x = x.reshape(x.shape[0], -1)
    x = nn.relu(nn.Dense(w(120), dtype=dtype, name="c5")(x))
    x = nn.relu(nn.Dense(w(84), dtype=dtype, name="f6")(x))
    x = nn.Dense(self.num_classes, dtype=dtype, name="output")(x)
    return x.astype(jnp.float32)


VARIANTS = {
    "lenet5": LeNet5,
    "lenet5_modern": LeNet5Modern,
}
