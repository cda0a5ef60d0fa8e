"""fast_conv against lax.conv_general_dilated: values, input and weight gradients."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import flax.linen as nn
import optax
import pytest
from jax import lax

from jaxcnn import models
from jaxcnn.models import ops
from jaxcnn.models.ops import conv
from tests.tolerance import assert_close

_DN = ("NHWC", "HWIO", "NHWC")

# (batch, size, in maps, out maps, kernel, stride, padding, groups): the models' kinds of layer,
# at small sizes.
CASES = {
    "3x3": (4, 10, 8, 16, 3, 1, ((1, 1), (1, 1)), 1),
    "5x5_same": (3, 9, 6, 8, 5, 1, "SAME", 1),
    "1x1": (4, 7, 12, 10, 1, 1, ((0, 0), (0, 0)), 1),
    "1x1_stride2": (4, 7, 12, 10, 1, 2, ((0, 0), (0, 0)), 1),
    "11x11_stride4": (2, 31, 3, 8, 11, 4, ((2, 2), (2, 2)), 1),
    "7x7_stride2_same": (2, 15, 3, 8, 7, 2, "SAME", 1),
    "3x3_stride2_asym": (2, 9, 4, 6, 3, 2, ((0, 1), (1, 0)), 1),
    "grouped_5x5": (3, 8, 8, 12, 5, 1, ((2, 2), (2, 2)), 2),
    "grouped_1x1_valid": (3, 6, 8, 4, 1, 1, "VALID", 2),
    "grouped_3x3_stride2": (3, 8, 8, 12, 3, 2, ((1, 1), (1, 1)), 2),
    # Output maps of <= 4 pixels: im2col matmuls forward and backward.
    "3x3_tiny_maps": (6, 2, 8, 6, 3, 1, ((1, 1), (1, 1)), 1),
    "3x3_stride2_tiny_maps": (4, 4, 5, 7, 3, 2, ((1, 1), (1, 1)), 1),
    # Fewer than 8 input maps (per group): the input gradient is a matmul per kernel tap
    # added back into place (so are 5x5_same, 11x11_stride4, 3x3_stride2_asym, grouped_5x5).
    "5x5_valid_few_maps": (4, 14, 6, 16, 5, 1, "VALID", 1),
    "3x3_stride2_ragged": (2, 10, 5, 6, 3, 2, "VALID", 1),
    # At most 64 products per output pixel (first layers on 1 or 3 maps): the forward pass is
    # a sum over taps (so are 3x3_stride2_asym and 3x3_stride2_ragged).
    "5x5_one_map_taps": (4, 12, 1, 6, 5, 1, ((2, 2), (2, 2)), 1),
    "7x7_stride2_one_map_taps": (3, 16, 1, 5, 7, 2, ((3, 3), (3, 3)), 1),
    "3x3_three_maps_taps": (2, 9, 3, 16, 3, 1, "SAME", 1),
    # Inception-v3's factorised kernels (1xn then nx1).
    "1x3_factorised": (3, 9, 8, 12, (1, 3), 1, ((0, 0), (1, 1)), 1),
    "7x1_factorised": (2, 12, 8, 6, (7, 1), 1, ((3, 3), (0, 0)), 1),
}


def _relative_error(a, b):
  return float(jnp.max(jnp.abs(a - b)) / jnp.maximum(jnp.max(jnp.abs(b)), 1e-12))


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_and_gradients_match_lax(name):
  n, size, cin, cout, k, stride, padding, groups = CASES[name]
  kx, kw, ky = jax.random.split(jax.random.PRNGKey(0), 3)
  x = jax.random.normal(kx, (n, size, size, cin))
  kh, kw_ = k if isinstance(k, tuple) else (k, k)
  w = jax.random.normal(kw, (kh, kw_, cin // groups, cout))

  def run(fn):
    f = lambda x, w: fn(x, w, (stride, stride), padding, dimension_numbers=_DN,
                        feature_group_count=groups)
    y, vjp = jax.vjp(f, x, w)
    dy = jax.random.normal(ky, y.shape)
    return (y, *vjp(dy))

  got = run(conv.conv_general_dilated)
  want = run(lax.conv_general_dilated)
  for part, g, r in zip(("output", "input gradient", "weight gradient"), got, want):
    assert g.shape == r.shape, part
    assert _relative_error(g, r) < 1e-4, part


def test_taps_forward_propagates_nan_weights_like_lax():
  # The taps' sum sits in a cond whose other branch (the native conv) runs for a NaN weight.
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 8, 8, 1))
  w = jax.random.normal(jax.random.PRNGKey(1), (3, 3, 1, 4))
  assert conv._forward_impl(x.shape, w.shape, (1, 1), ((1, 1), (1, 1)), 1) is conv._taps
  for bad in ((0, 0, 0, 0), (1, 2, 0, 3)):
    w_bad = w.at[bad].set(jnp.nan)
    got = conv.fast_conv(x, w_bad, (1, 1), ((1, 1), (1, 1)), 1, None)
    want = lax.conv_general_dilated(x, w_bad, (1, 1), ((1, 1), (1, 1)), dimension_numbers=_DN)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    assert_close(np.nan_to_num(got), np.nan_to_num(want), rtol=1e-5)


def test_dilated_conv_falls_back_to_lax():
  x = jnp.ones((1, 9, 9, 2))
  w = jnp.ones((3, 3, 2, 3))
  got = conv.conv_general_dilated(x, w, (1, 1), "VALID", rhs_dilation=(2, 2),
                                  dimension_numbers=_DN)
  # Every output sees 3 x 3 taps x 2 maps of ones; a dilation-2 3x3 kernel spans 5 pixels.
  assert got.shape == (1, 5, 5, 3)
  assert_close(got, 18.0, rtol=1e-6)


def test_select_by_backend():
  assert ops.select("native").conv is lax.conv_general_dilated
  assert ops.select("fast").conv is conv.conv_general_dilated
  assert ops.select("auto").conv is (conv.conv_general_dilated
                                     if jax.default_backend() == "cpu"
                                     else lax.conv_general_dilated)
  with pytest.raises(ValueError, match="conv_impl"):
    ops.select("cudnn")


def test_models_get_their_kernels_from_the_config_only():
  """The registry hands a model the kernels config.conv_impl selects; unset, it resolves
  "auto" when traced."""
  assert models.create("lenet5_modern", conv_impl="native").ops == ops.select("native")
  assert models.create("lenet5_modern").ops is ops.AUTO
  assert models.create("lenet5_modern", conv_impl="auto").ops is ops.AUTO
  x = jnp.ones((2, 8, 8, 3))
  w = jnp.ones((3, 3, 3, 4))
  assert_close(ops.AUTO.conv(x, w, (1, 1), "SAME", dimension_numbers=_DN),
               lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=_DN))


def test_flax_conv_keeps_its_parameters():
  x = jnp.ones((2, 8, 8, 4))
  native = nn.Conv(6, (3, 3), feature_group_count=2)
  fast = nn.Conv(6, (3, 3), feature_group_count=2, conv_general_dilated=ops.select("fast").conv)
  variables = native.init(jax.random.PRNGKey(0), x)
  assert jax.tree.map(jnp.shape, fast.init(jax.random.PRNGKey(0), x)) == \
      jax.tree.map(jnp.shape, variables)
  assert_close(fast.apply(variables, x), native.apply(variables, x), rtol=1e-5)


# Small members of the families that hold every kind of layer above: AlexNet (11x11/4,
# grouped 5x5 and 3x3, dropout), ResNet-18 (7x7/2 stem, strided 1x1 shortcuts, BatchNorm)
# and LeNet-5.
MODELS = {
    "alexnet": dict(width=0.0625, input_size=67),
    "resnet18": dict(width=0.125, input_size=32),
    # One input map: the first conv is the sum over taps, C3's input gradient the per-row
    # matmuls, pooling the slice max.
    "lenet5_modern": dict(width=1.0, input_size=28, channels=1),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_training_gradients_match_native(name):
  size = MODELS[name]["input_size"]
  build = lambda impl: models.create(name, num_classes=10, width=MODELS[name]["width"],
                                     input_size=size, conv_impl=impl)
  channels = MODELS[name].get("channels", 3)
  x = jax.random.normal(jax.random.PRNGKey(0), (4, size, size, channels))
  labels = jnp.arange(4) % 10
  rngs = {"params": jax.random.PRNGKey(1), "dropout": jax.random.PRNGKey(2)}
  variables = build("native").init(rngs, x, train=True)

  def grads(impl):
    model = build(impl)

    def loss_fn(params):
      out, _ = model.apply({**variables, "params": params}, x, train=True,
                           rngs={"dropout": rngs["dropout"]}, mutable=["batch_stats"])
      logits = out["logits"] if isinstance(out, dict) else out
      return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

    # The fast path as the train step compiles it (with XLA's own convolutions on CPU).
    return ops.jit(jax.grad(loss_fn), impl=impl)(variables["params"])

  fast, native = grads("fast"), grads("native")
  errors = jax.tree.map(_relative_error, fast, native)
  assert max(jax.tree.leaves(errors)) < 1e-4, errors


def _ynn_convolutions(compiled_text: str) -> int:
  """How many YNNPACK fusions in an optimised HLO module hold a convolution."""
  bodies = dict(re.findall(r"^%?(\S+) [^\n]*\{\n(.*?)\n\}", compiled_text, re.M | re.S))
  calls = re.findall(r'calls=%?([\w.-]+).*"__ynn_fusion"', compiled_text)
  return sum(" convolution(" in bodies.get(name, "") for name in calls)


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="XLA:CPU's options")
def test_cpu_train_step_uses_xla_convolutions():
  from jaxcnn import config as config_lib  # pylint: disable=import-outside-toplevel
  from jaxcnn import sharding  # pylint: disable=import-outside-toplevel
  from jaxcnn import train  # pylint: disable=import-outside-toplevel
  assert conv.compiler_options("auto") == conv._CPU_OPTIONS
  assert conv.compiler_options("fast") == conv._CPU_OPTIONS
  assert conv.compiler_options("native") is None
  x, w = jnp.ones((2, 16, 16, 32)), jnp.ones((3, 3, 32, 32))
  f = lambda x, w: lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=_DN)
  # This jaxlib's default hands convolutions to YNNPACK; the options take them back.
  assert _ynn_convolutions(jax.jit(f).lower(x, w).compile().as_text()) == 1
  assert _ynn_convolutions(jax.jit(f, compiler_options=conv.compiler_options("auto"))
                           .lower(x, w).compile().as_text()) == 0
  config = config_lib.base_config()
  config.model = "lenet5_modern"
  config.batch_size = config.eval_batch_size = 8
  exp = train.Experiment(config, num_classes=10, input_shape=(28, 28, 1))
  state = exp.init_state()
  batch = sharding.to_global({"image": np.zeros((8, 28, 28, 1), np.float32),
                              "label": np.zeros((8,), np.int32)}, exp.mesh)
  text = exp.train_step.lower(state, batch).compile().as_text()
  assert re.search(r"= \S+ convolution\(", text), "no convolution in the train step"
  assert _ynn_convolutions(text) == 0


def test_auto_takes_the_cpu_kernels_inside_jit_and_the_native_ones_op_by_op():
  x = jax.random.normal(jax.random.key(0), (2, 8, 8, 16))
  w = jax.random.normal(jax.random.key(1), (1, 1, 16, 4))
  conv = lambda f, x, w: f(x, w, (1, 1), "SAME", dimension_numbers=_DN)
  traced = str(jax.make_jaxpr(lambda x, w: conv(ops.AUTO.conv, x, w))(x, w))
  pooled = str(jax.make_jaxpr(lambda x: ops.AUTO.max_pool(x, (2, 2), (2, 2)))(x))
  assert traced == str(jax.make_jaxpr(lambda x, w: conv(ops.select("auto").conv, x, w))(x, w))
  assert pooled == str(jax.make_jaxpr(lambda x: ops.select("auto").max_pool(x, (2, 2), (2, 2)))(x))
  assert ("custom_vjp" in traced) == (jax.default_backend() == "cpu")
  # Outside jit, XLA's own ops, bit for bit.
  np.testing.assert_array_equal(conv(ops.AUTO.conv, x, w), conv(lax.conv_general_dilated, x, w))
  np.testing.assert_array_equal(ops.AUTO.max_pool(x, (2, 2), (2, 2)),
                                nn.max_pool(x, (2, 2), (2, 2)))
