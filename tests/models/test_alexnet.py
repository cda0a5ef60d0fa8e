"""AlexNet, ZFNet and torchvision's AlexNet: counts, layer placement, switches, parity."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn.tools.convert import alexnet as convert
from jaxcnn.errors import UserError
from jaxcnn.models import alexnet, layers
from tests.models.variables import random_variables
from tests.tolerance import assert_close, close, differ


def init_shapes(init, *args):
  """Shapes of ``init``'s variables, without AlexNet's logical-partitioning boxes."""
  return nn.unbox(jax.eval_shape(init, *args))


def param_count(model, size):
  shapes = init_shapes(functools.partial(model.init, train=False), jax.random.PRNGKey(0),
                       jnp.zeros((1, size, size, 3)))
  return sum(int(np.prod(p.shape)) for p in jax.tree_util.tree_leaves(shapes["params"]))


def shapes_of(model, size):
  """{module name: output shape/dtype} and the variables' shapes, traced without computing."""
  logits, variables = init_shapes(
      functools.partial(model.init_with_output, train=False, capture_intermediates=True),
      jax.random.PRNGKey(0), jnp.zeros((1, size, size, 3)))
  out = {k: v["__call__"][0] for k, v in variables["intermediates"].items() if k != "__call__"}
  out["logits"] = logits
  return out, variables


def intermediates(model, variables, x):
  """{module name: output} of an eval-mode forward pass, plus "logits"."""
  logits, state = jax.jit(functools.partial(model.apply, train=False,
                                            capture_intermediates=True))(variables, x)
  out = {k: v["__call__"][0] for k, v in state["intermediates"].items() if k != "__call__"}
  out["logits"] = logits
  return out


@pytest.fixture(scope="module")
def paper_alexnet():
  """(variables, input) of the default AlexNet at 227x227, initialised once.

  With an "rbg" key: XLA:CPU compiles a threefry init of many layers several times slower.
  """
  x = jax.random.normal(jax.random.PRNGKey(0), (1, 227, 227, 3))
  variables = jax.jit(functools.partial(alexnet.AlexNet().init, train=False))(
      jax.random.key(1, impl="rbg"), x)
  return nn.unbox(variables), x


# Conv: k*k*(in/groups)*out + out. FC: in*out + out. 6x6x256 = 9216 inputs to fc6.
#   conv1 11*11*3*96+96      =     34,944
#   conv2 5*5*48*256+256     =    307,456   (grouped; 614,656 dense)
#   conv3 3*3*256*384+384    =    885,120
#   conv4 3*3*192*384+384    =    663,936   (grouped; 1,327,488 dense)
#   conv5 3*3*192*256+256    =    442,624   (grouped; 884,992 dense)
#   fc6 9216*4096+4096       = 37,752,832
#   fc7 4096*4096+4096       = 16,781,312
#   fc8 4096*1000+1000       =  4,097,000
#   total 60,965,224; without towers + 307,200 + 663,552 + 442,368 = 62,378,344.
# torchvision (64-192-384-256-256, no groups): 23,296 + 307,392 + 663,936 + 884,992 + 590,080
#   + 37,752,832 + 16,781,312 + 4,097,000 = 61,100,840.
# ZFNet (7x7 conv1, dense): 7*7*3*96+96 = 14,208; conv2 614,656; conv3 885,120; conv4 1,327,488;
#   conv5 884,992; FCs 58,631,144 -> 62,357,608.
@pytest.mark.parametrize("name,overrides,size,expected", [
    ("alexnet", {}, 227, 60_965_224),
    ("alexnet", {"towers": 1}, 227, 62_378_344),
    ("alexnet", {"lrn": False, "pool_window": 2}, 227, 60_965_224),
    ("alexnet_torchvision", {}, 224, 61_100_840),
    ("zfnet", {}, 224, 62_357_608),
])
def test_parameter_counts(name, overrides, size, expected):
  model = alexnet.VARIANTS[name](**overrides)
  assert model.input_size == size
  assert param_count(model, size) == expected


def test_towers_group_conv2_conv4_conv5_only():
  shapes = init_shapes(functools.partial(alexnet.AlexNet().init, train=False),
                       jax.random.PRNGKey(0), jnp.zeros((1, 227, 227, 3)))["params"]
  kernels = {k: v["kernel"].shape for k, v in shapes.items()}
  assert kernels == {"conv1": (11, 11, 3, 96), "conv2": (5, 5, 48, 256),
                     "conv3": (3, 3, 256, 384), "conv4": (3, 3, 192, 384),
                     "conv5": (3, 3, 192, 256), "fc6": (9216, 4096), "fc7": (4096, 4096),
                     "fc8": (4096, 1000)}


def test_width_keeps_channels_divisible_by_towers():
  shapes = init_shapes(functools.partial(alexnet.AlexNet(width=0.3).init, train=False),
                       jax.random.PRNGKey(0), jnp.zeros((1, 227, 227, 3)))["params"]
  # 96*0.3 = 28.8 -> 2 towers of round(14.4) = 14; fc hidden round(4096*0.3) = 1229.
  assert shapes["conv1"]["kernel"].shape == (11, 11, 3, 28)
  assert shapes["conv2"]["kernel"].shape == (5, 5, 14, 2 * 38)
  assert shapes["fc7"]["kernel"].shape == (1229, 1229)


def test_paper_initialisation(paper_alexnet):
  p = paper_alexnet[0]["params"]
  for name in ("conv2", "conv4", "conv5", "fc6", "fc7"):
    np.testing.assert_array_equal(p[name]["bias"], 1.0)
  for name in ("conv1", "conv3", "fc8"):
    np.testing.assert_array_equal(p[name]["bias"], 0.0)
  for name in ("conv1", "fc6"):
    assert abs(float(jnp.std(p[name]["kernel"])) - 0.01) < 2e-4
    assert abs(float(jnp.mean(p[name]["kernel"]))) < 2e-4


def test_lrn_follows_relu_of_conv1_and_conv2_within_each_tower(paper_alexnet):
  out = intermediates(alexnet.AlexNet(), *paper_alexnet)
  assert sorted(k for k in out if k.startswith("lrn")) == ["lrn1", "lrn2"]
  for conv, lrn, channels in (("conv1", "lrn1", 96), ("conv2", "lrn2", 256)):
    a = jax.nn.relu(out[conv])
    assert a.shape[-1] == channels
    # Normalised before pooling, so at the conv's own size; computed per tower of maps.
    got = out[lrn].reshape(a.shape)
    half = channels // 2
    expected = jnp.concatenate([layers.local_response_norm(a[..., :half]),
                                layers.local_response_norm(a[..., half:])], axis=-1)
    assert_close(got, expected, rtol=1e-6)
    # One LRN over all maps would differ at the tower boundary, by up to 2e-5 (lrn1) and 9e-5
    # (lrn2) of a value: far above LRN's rounding, a few ulps of each value (sums of squares).
    assert not close(got, layers.local_response_norm(a), rtol=1e-5, ulps=0)


def test_lrn_switch_removes_normalisation(paper_alexnet):
  with_lrn = intermediates(alexnet.AlexNet(), *paper_alexnet)
  without = intermediates(alexnet.AlexNet(lrn=False), *paper_alexnet)
  assert not any(k.startswith("lrn") for k in without)
  assert_close(without["conv1"], with_lrn["conv1"], rtol=1e-6)
  assert differ(without["conv2"], with_lrn["conv2"])


def test_tower_zero_never_sees_tower_one_before_conv3(paper_alexnet):
  variables, x = paper_alexnet
  model = alexnet.AlexNet()
  out = intermediates(model, variables, x)
  params = dict(variables["params"])
  params["conv1"] = {"kernel": params["conv1"]["kernel"].at[..., 48:].multiply(3.0),
                     "bias": params["conv1"]["bias"]}
  changed = intermediates(model, {"params": params}, x)
  assert_close(changed["conv2"][..., :128], out["conv2"][..., :128], rtol=1e-6)
  assert differ(changed["conv2"][..., 128:], out["conv2"][..., 128:])
  assert differ(changed["conv3"][..., :192], out["conv3"][..., :192])  # Crosses.


def test_pool_window_two_is_non_overlapping(paper_alexnet):
  # conv1 on 231 gives 56x56: 3x3/2 pooling -> 27, 2x2/2 -> 28 (conv2 keeps the size).
  overlapping, _ = shapes_of(alexnet.AlexNet(), 231)
  disjoint, _ = shapes_of(alexnet.AlexNet(pool_window=2), 231)
  assert overlapping["conv1"].shape[1:3] == disjoint["conv1"].shape[1:3] == (56, 56)
  assert overlapping["conv2"].shape[1:3] == (27, 27)
  assert disjoint["conv2"].shape[1:3] == (28, 28)
  assert overlapping["conv5"].shape[1:3] == (13, 13)
  assert disjoint["conv5"].shape[1:3] == (14, 14)
  # At 227 both give 55 -> 27 -> 13 -> 6, so one set of variables serves both.
  overlapping = intermediates(alexnet.AlexNet(), *paper_alexnet)
  disjoint = intermediates(alexnet.AlexNet(pool_window=2), *paper_alexnet)
  assert disjoint["logits"].shape == overlapping["logits"].shape == (1, 1000)
  assert differ(disjoint["logits"], overlapping["logits"])


def test_zfnet_feature_sizes_follow_figure_3():
  out, variables = shapes_of(alexnet.VARIANTS["zfnet"](), 224)
  assert out["conv1"].shape == (1, 110, 110, 96)
  assert out["lrn1"].shape[1:3] == (55, 55)  # Pooled, then normalised.
  assert out["conv2"].shape == (1, 26, 26, 256)
  assert out["lrn2"].shape[1:3] == (13, 13)
  assert out["conv5"].shape == (1, 13, 13, 256)
  assert variables["params"]["fc6"]["kernel"].shape == (6 * 6 * 256, 4096)
  assert alexnet.VARIANTS["zfnet"]().feature_size(224) == 6


# AlexNet: pool5 needs 3 <- conv5..3 3 <- pool2 7 <- conv2 7 <- pool1 15 <- conv1 (n-11)/4+1 >= 15.
# pool_window=2: 2 <- 4 <- 8 <- (n-11)/4+1 >= 8 -> 39. torchvision pads conv1 by 2 -> 63.
# ZFNet: pool2 (ceil) needs 6 <- conv2 (m-5)/2+1 >= 6 -> 15 <- pool1 (ceil) 30 <- conv1 -> 63.
# (A real forward and backward pass at 67/63 runs in tests/models/test_registry.py.)
@pytest.mark.parametrize("name,overrides,minimum", [
    ("alexnet", {}, 67), ("alexnet", {"pool_window": 2}, 39),
    ("alexnet_torchvision", {}, 63), ("zfnet", {}, 63),
])
def test_minimum_input_is_enforced(name, overrides, minimum):
  model = alexnet.VARIANTS[name](num_classes=10, **overrides)
  assert model.min_input_size() == minimum
  assert model.feature_size(minimum) == 1 and model.feature_size(minimum - 1) == 0
  out, variables = shapes_of(model, minimum)
  assert out["logits"].shape == (1, 10)
  fc6_inputs = 256 * (36 if model.adaptive_pool else 1)
  assert variables["params"]["fc6"]["kernel"].shape == (fc6_inputs, 4096)
  with pytest.raises(UserError, match=f"at least {minimum}x{minimum}"):
    shapes_of(model, minimum - 1)


def test_bfloat16_compute_returns_float32_logits():
  out, variables = shapes_of(alexnet.AlexNet(num_classes=10, dtype="bfloat16"), 67)
  assert variables["params"]["conv1"]["kernel"].dtype == jnp.float32
  assert out["conv1"].dtype == jnp.bfloat16
  assert out["logits"].dtype == jnp.float32


def test_adaptive_avg_pool_bins():
  x = jnp.arange(7.0).reshape(1, 7, 1, 1) * jnp.ones((1, 7, 7, 1))
  y = layers.adaptive_avg_pool(x, 6)
  # torch's bins for 7 -> 6: [0,2) [1,3) [2,4) [3,5) [4,6) [5,7).
  assert_close(y[0, :, 0, 0], [0.5, 1.5, 2.5, 3.5, 4.5, 5.5], rtol=1e-6)
  # At the output size the map is returned as it is.
  np.testing.assert_array_equal(layers.adaptive_avg_pool(x[:, :6, :6], 6), x[:, :6, :6])


def torchvision_alexnet():
  torch = pytest.importorskip("torch")
  torchvision = pytest.importorskip("torchvision")
  torch.manual_seed(0)
  return torch, torchvision.models.alexnet(weights=None).eval()


@pytest.mark.parametrize("size,batch", [(224, 2), (256, 1), (63, 1)])
def test_parity_with_torchvision(size, batch):
  # 224: the adaptive pool is the identity; 256: 7x7 -> 6x6 overlapping bins; 63: 1x1 repeated.
  torch, tv = torchvision_alexnet()
  x = np.random.default_rng(0).standard_normal((batch, 3, size, size)).astype(np.float32)
  with torch.no_grad():
    expected = tv(torch.from_numpy(x)).numpy()
  variables = convert.from_torchvision(
      "alexnet", {k: v.numpy() for k, v in tv.state_dict().items()})
  model = alexnet.VARIANTS["alexnet_torchvision"]()
  got = jax.jit(functools.partial(model.apply, train=False))(variables, x.transpose(0, 2, 3, 1))
  assert got.shape == expected.shape == (batch, 1000)
  scale = np.abs(expected).max()
  assert scale > 0
  assert np.abs(np.asarray(got) - expected).max() <= 1e-4 * scale


def test_converted_tree_matches_the_model():
  torch, tv = torchvision_alexnet()
  variables = convert.from_torchvision(
      "alexnet", {k: v.numpy() for k, v in tv.state_dict().items()})
  model = alexnet.VARIANTS["alexnet_torchvision"]()
  shapes = init_shapes(functools.partial(model.init, train=False), jax.random.PRNGKey(0),
                       jnp.zeros((1, 224, 224, 3)))
  assert (jax.tree_util.tree_structure(variables) == jax.tree_util.tree_structure(shapes))
  assert (jax.tree_util.tree_map(lambda a: a.shape, variables)
          == jax.tree_util.tree_map(lambda a: a.shape, shapes))


def test_converter_names_missing_unexpected_and_misshapen_keys():
  _, tv = torchvision_alexnet()
  sd = {k: v.numpy() for k, v in tv.state_dict().items()}
  with pytest.raises(ValueError, match="Unknown torchvision arch 'vgg16'"):
    convert.from_torchvision("vgg16", sd)
  broken = dict(sd)
  del broken["features.3.bias"]
  broken["features.4.weight"] = np.zeros(3)
  broken["classifier.4.weight"] = np.zeros((4096, 4095), np.float32)
  with pytest.raises(ValueError) as e:
    convert.from_torchvision("alexnet", broken)
  message = str(e.value)
  assert "missing keys: features.3.bias" in message
  assert "unexpected keys: features.4.weight" in message
  assert "classifier.4.weight: expected (4096, 4096), got (4096, 4095)" in message


def test_converter_reads_the_number_of_classes():
  _, tv = torchvision_alexnet()
  sd = {k: v.numpy() for k, v in tv.state_dict().items()}
  sd["classifier.6.weight"] = sd["classifier.6.weight"][:10]
  sd["classifier.6.bias"] = sd["classifier.6.bias"][:10]
  variables = convert.from_torchvision("alexnet", sd)
  assert variables["params"]["fc8"]["kernel"].shape == (4096, 10)
  np.testing.assert_array_equal(variables["params"]["fc8"]["kernel"], sd["classifier.6.weight"].T)


@pytest.mark.parametrize("activation, fn", [("relu", jax.nn.relu), ("tanh", jnp.tanh)])
def test_activation_switch_applies_between_layers(activation, fn):
  model = alexnet.AlexNet(width=0.125, activation=activation, num_classes=10)
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 67, 67, 3))
  variables = random_variables(model, x)
  seen = {}

  def record(next_fun, args, kwargs, context):
    out = next_fun(*args, **kwargs)
    if context.method_name == "__call__" and context.module.name in ("fc6", "fc7"):
      seen[context.module.name] = (args[0], out)
    return out

  with nn.intercept_methods(record):
    model.apply(variables, x, train=False)
  fc6_out, fc7_in = seen["fc6"][1], seen["fc7"][0]
  assert float(jnp.min(fc6_out)) < 0  # Negative pre-activations, where the two differ.
  assert_close(fc7_in, fn(fc6_out), rtol=1e-6)


def test_non_overlapping_pooling_trains_on_odd_map_sizes():
  # At 67 conv1 gives 15x15 maps: 2x2/2 pooling keeps 7 rows and leaves the 15th out,
  # in the forward pass and in the gradient.
  model = alexnet.AlexNet(width=0.125, pool_window=2, num_classes=10)
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 67, 67, 3))
  variables = random_variables(model, x)
  _, state = model.apply(variables, x, train=False, capture_intermediates=True,
                         mutable=["intermediates"])
  assert state["intermediates"]["conv1"]["__call__"][0].shape[1:3] == (15, 15)
  assert state["intermediates"]["conv2"]["__call__"][0].shape[1:3] == (7, 7)
  grads = jax.grad(lambda v: model.apply(v, x, train=False).sum())(variables)
  assert all(np.isfinite(g).all() for g in jax.tree.leaves(grads))
  assert np.abs(grads["params"]["conv1"]["kernel"]).max() > 0


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_figure_1_net_has_four_layers_and_pools_to_3x3(activation):
  """Three 5x5 convs of 32-32-64 maps and one FC layer; 28 -> 14 -> 7 -> 3 by 3x3/2 pooling
  rounded up. Parameters: 832 + 25,632 + 51,264 conv, (3*3*64 + 1) * 10 FC."""
  model = alexnet.Fig1Net(activation=activation)
  x = jax.random.normal(jax.random.key(0), (2, 28, 28, 1))
  variables = model.init(jax.random.key(1), x, train=False)
  params = variables["params"]
  assert list(params) == ["conv1", "conv2", "conv3", "fc"]
  assert sum(p.size for p in jax.tree.leaves(params)) == 832 + 25_632 + 51_264 + 5_770
  assert params["fc"]["kernel"].shape == (3 * 3 * 64, 10)
  assert model.apply(variables, x, train=True).shape == (2, 10)
  other = alexnet.Fig1Net(activation="tanh" if activation == "relu" else "relu")
  assert differ(model.apply(variables, x, train=False), other.apply(variables, x, train=False))


def test_figure_1_net_init_scale_multiplies_the_lecun_normal_weights():
  x = jnp.zeros((1, 28, 28, 1))
  base = alexnet.Fig1Net().init(jax.random.key(1), x, train=False)["params"]
  scaled = alexnet.Fig1Net(init_scale=3.0).init(jax.random.key(1), x, train=False)["params"]
  for name in ("conv1", "conv2", "conv3", "fc"):
    kernel = base[name]["kernel"]
    fan_in = int(np.prod(kernel.shape[:-1]))
    # LeCun normal (flax's default, truncated at two standard deviations): std 1/sqrt(fan_in).
    assert abs(float(jnp.std(kernel)) * np.sqrt(fan_in) - 1) < 0.1
    assert_close(scaled[name]["kernel"], 3.0 * kernel, rtol=1e-6)


@pytest.mark.parametrize("site, dropped", [("hidden", ("fc7", "fc8")), ("inputs", ("fc6", "fc7"))])
def test_dropout_site_names_the_layers_whose_inputs_are_masked(site, dropped):
  """"hidden" masks fc6's and fc7's outputs (the inputs of fc7 and fc8), the paper's Sec. 4.2;
  "inputs" masks fc6's and fc7's inputs, torchvision's order. With tanh nothing else is zero."""
  model = alexnet.AlexNet(width=0.125, activation="tanh", dropout_site=site, num_classes=10)
  x = jax.random.normal(jax.random.PRNGKey(0), (8, 67, 67, 3))
  variables = random_variables(model, x)
  seen = {}

  def record(next_fun, args, kwargs, context):
    if context.method_name == "__call__" and context.module.name in ("fc6", "fc7", "fc8"):
      seen[context.module.name] = args[0]
    return next_fun(*args, **kwargs)

  with nn.intercept_methods(record):
    model.apply(variables, x, train=True, rngs={"dropout": jax.random.PRNGKey(1)})
  zeros = {name: float(jnp.mean(seen[name] == 0)) for name in seen}
  for name in ("fc6", "fc7", "fc8"):
    if name in dropped:
      assert 0.35 < zeros[name] < 0.65, (name, zeros)  # Half the units, give or take.
    else:
      assert zeros[name] == 0, (name, zeros)
  assert alexnet.VARIANTS["alexnet_torchvision"].keywords["dropout_site"] == "inputs"
  with pytest.raises(ValueError, match="dropout_site must be hidden or inputs"):
    alexnet.AlexNet(dropout_site="fc", num_classes=10).init(jax.random.PRNGKey(0), x,
                                                             train=False)
