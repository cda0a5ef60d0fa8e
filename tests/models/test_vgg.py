"""VGG: Table 1 counts, layer specs, LRN, fully-convolutional evaluation, torchvision parity."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn.tools.convert import vgg as convert
from jaxcnn.errors import UserError
from jaxcnn.models import layers, vgg
from tests.tolerance import assert_close, differ


def shapes_of(model, size, batch=1):
  """(logits, variables, {module: output}) as shapes, traced without computing."""
  logits, variables = jax.eval_shape(
      functools.partial(model.init_with_output, train=False, capture_intermediates=True),
      jax.random.PRNGKey(0), jnp.zeros((batch, size, size, 3)))
  inter = variables.pop("intermediates")
  return logits, variables, {k: v["__call__"][0] for k, v in inter.items() if k != "__call__"}


def param_count(model, size=224):
  _, variables, _ = shapes_of(model, size)
  return sum(int(np.prod(p.shape)) for p in jax.tree_util.tree_leaves(variables["params"]))


def random_variables(model, size, seed=0):
  """He-scaled random variables (a full VGG init compiles slowly on CPU), keeping signals O(1)."""
  rng = np.random.default_rng(seed)
  _, variables, _ = shapes_of(model, size)

  def fill(path, leaf):
    name = jax.tree_util.keystr(path)
    if "kernel" in name:
      std = np.sqrt(2.0 / np.prod(leaf.shape[:-1]))
      return jnp.asarray(rng.normal(0.0, std, leaf.shape), jnp.float32)
    if "var" in name:
      return jnp.asarray(rng.uniform(0.5, 2.0, leaf.shape), jnp.float32)
    return jnp.asarray(rng.normal(0.0, 0.1, leaf.shape), jnp.float32)

  return jax.tree_util.tree_map_with_path(fill, variables)


def run(model, variables, x, capture=False):
  fn = functools.partial(model.apply, train=False, capture_intermediates=capture)
  out = jax.jit(fn)(variables, x)
  if not capture:
    return out
  logits, state = out
  inter = state["intermediates"]
  return logits, {k: v["__call__"][0] for k, v in inter.items() if k != "__call__"}


# Conv k*k*in*out + out; FC in*out + out. With a 7x7x512 map (25,088 inputs) the head is
# fc6 102,764,544 + fc7 16,781,312 + fc8 4,097,000 = 123,642,856.
# Conv stacks (3x3 unless noted), one line per block:
#   A: 1,792 | 73,856 | 295,168 + 590,080 | 1,180,160 + 2,359,808 | 2 * 2,359,808   =  9,220,480
#   B: A + conv1_2 (36,928) + conv2_2 (147,584)                                       =  9,404,992
#   C: B + 1x1 convs 65,792 (256->256) + 2 * 262,656 (512->512)                       =  9,996,096
#   D: B + conv3_3 590,080 + conv4_3 2,359,808 + conv5_3 2,359,808                    = 14,714,688
#   E: D + conv3_4 590,080 + conv4_4 2,359,808 + conv5_4 2,359,808                    = 20,024,384
#   B 5x5: 4,864 | 204,928 | 819,456 | 3,277,312 | 6,554,112                          = 10,860,672
# BatchNorm adds scale and bias per conv channel: 2 * sum of widths
#   A 2 * 2,752 = 5,504; B 2 * 2,944 = 5,888; D 2 * 4,224 = 8,448; E 2 * 5,504 = 11,008.
# A-LRN's LRN has no parameters. Table 2 (millions): 133, 133, 133, 134, 138, 144.
@pytest.mark.parametrize("name,expected", [
    ("vgg_a", 132_863_336), ("vgg_a_lrn", 132_863_336), ("vgg_b", 133_047_848),
    ("vgg_c", 133_638_952), ("vgg_d", 138_357_544), ("vgg_e", 143_667_240),
    ("vgg_b_5x5", 134_503_528),
    ("vgg11", 132_863_336), ("vgg13", 133_047_848), ("vgg16", 138_357_544),
    ("vgg19", 143_667_240),
    ("vgg11_bn", 132_868_840), ("vgg13_bn", 133_053_736), ("vgg16_bn", 138_365_992),
    ("vgg19_bn", 143_678_248),
])
def test_parameter_counts(name, expected):
  assert param_count(vgg.VARIANTS[name]()) == expected


def test_torchvision_names_are_table_1_configs_with_the_adaptive_pool():
  for name, config in (("vgg11", "A"), ("vgg13", "B"), ("vgg16", "D"), ("vgg19", "E")):
    for variant in (name, f"{name}_bn"):
      model = vgg.VARIANTS[variant]()
      assert model.spec == vgg.CONFIGS[config] and model.adaptive_pool
      assert model.batch_norm == variant.endswith("_bn")
  assert not any(vgg.VARIANTS[f"vgg_{c}"]().adaptive_pool for c in "abcde")


def test_batch_norm_stats_and_names():
  _, variables, _ = shapes_of(vgg.VARIANTS["vgg11_bn"](), 32)
  assert sorted(variables["batch_stats"]) == ["bn1_1", "bn2_1", "bn3_1", "bn3_2", "bn4_1",
                                              "bn4_2", "bn5_1", "bn5_2"]
  assert variables["batch_stats"]["bn3_2"]["var"].shape == (256,)


def test_config_c_ends_blocks_3_to_5_with_1x1_convs():
  _, variables, _ = shapes_of(vgg.VARIANTS["vgg_c"](), 32)
  kernels = {k: v["kernel"].shape for k, v in variables["params"].items()}
  assert kernels["conv3_3"] == (1, 1, 256, 256)
  assert kernels["conv4_3"] == (1, 1, 512, 512)
  assert kernels["conv5_3"] == (1, 1, 512, 512)
  assert kernels["conv5_2"] == (3, 3, 512, 512)
  assert len(kernels) == 13 + 3


def test_b_5x5_replaces_each_pair_by_one_5x5():
  _, variables, inter = shapes_of(vgg.VARIANTS["vgg_b_5x5"](), 224)
  kernels = {k: v["kernel"].shape for k, v in variables["params"].items() if k.startswith("conv")}
  assert kernels == {"conv1_1": (5, 5, 3, 64), "conv2_1": (5, 5, 64, 128),
                     "conv3_1": (5, 5, 128, 256), "conv4_1": (5, 5, 256, 512),
                     "conv5_1": (5, 5, 512, 512)}
  assert inter["conv1_1"].shape == (1, 224, 224, 64)  # Padding 2 keeps the size.
  assert variables["params"]["fc6"]["kernel"].shape == (7 * 7 * 512, 4096)


def test_a_lrn_normalises_after_relu_of_the_first_conv():
  model = vgg.VARIANTS["vgg_a_lrn"](num_classes=10)
  x = jax.random.normal(jax.random.PRNGKey(0), (1, 32, 32, 3))
  variables = random_variables(model, 32)
  logits, inter = run(model, variables, x, capture=True)
  assert [k for k in inter if k.startswith("lrn")] == ["lrn1"]
  assert inter["lrn1"].shape == (1, 32, 32, 64)  # Before the first pool.
  assert_close(inter["lrn1"], layers.local_response_norm(
      jax.nn.relu(inter["conv1_1"]), size=5, k=2.0, alpha=1e-4, beta=0.75), rtol=1e-6)
  # Same parameters without the LRN (config A) give different logits.
  plain = run(vgg.VARIANTS["vgg_a"](num_classes=10), variables, x)
  assert differ(plain, logits)


@pytest.mark.parametrize("weight_init", ["normal", "glorot"])
def test_initialisation(weight_init):
  model = vgg.VARIANTS["vgg_a"](width=0.25, weight_init=weight_init)
  # An "rbg" key: XLA:CPU compiles a threefry init of many layers several times slower.
  variables = jax.jit(functools.partial(model.init, train=False))(
      jax.random.key(0, impl="rbg"), jnp.zeros((1, 32, 32, 3)))
  p = variables["params"]
  assert p["conv4_1"]["kernel"].shape == (3, 3, 64, 128)
  assert p["fc7"]["kernel"].shape == (1024, 1024)
  # Glorot uniform: variance 2 / (fan_in + fan_out); conv3_1 3*3*32 -> 3*3*64, fc7 1024 -> 1024.
  for name, glorot_std in (("conv3_1", np.sqrt(2 / (288 + 576))), ("fc7", np.sqrt(1 / 1024))):
    expected = 0.01 if weight_init == "normal" else glorot_std
    assert abs(float(jnp.std(p[name]["kernel"])) / expected - 1) < 0.03
  for leaf in jax.tree_util.tree_leaves({k: v["bias"] for k, v in p.items()}):
    np.testing.assert_array_equal(leaf, 0.0)


@pytest.mark.parametrize("name", sorted(vgg.VARIANTS))
def test_small_input(name):
  # Five 2x2 pools: 32x32 leaves 1x1x512. Without the adaptive pool fc6 then takes 512
  # inputs; with it (torchvision names) the 1x1 map is repeated to 7x7 as torch does.
  model = vgg.VARIANTS[name](num_classes=10)
  logits, variables, inter = shapes_of(model, 32, batch=2)
  assert logits.shape == (2, 10) and logits.dtype == jnp.float32
  last = [k for k in inter if k.startswith("conv")][-1]
  assert inter[last].shape == (2, 2, 2, 512)
  fc6_inputs = 7 * 7 * 512 if model.adaptive_pool else 512
  assert variables["params"]["fc6"]["kernel"].shape == (fc6_inputs, 4096)
  with pytest.raises(UserError, match="at least 32x32"):
    shapes_of(model, 31)


def test_fully_convolutional_needs_a_whole_fc6_window():
  with pytest.raises(UserError, match="at least 224x224"):
    shapes_of(vgg.VARIANTS["vgg_a"](fully_convolutional=True), 223)
  # Trained on 32x32 crops without the adaptive pool, fc6 is a 1x1 window.
  logits, variables, inter = shapes_of(
      vgg.VARIANTS["vgg_a"](input_size=32, fully_convolutional=True), 64)
  assert variables["params"]["fc6"]["kernel"].shape == (512, 4096)
  assert inter["fc8"].shape == (1, 2, 2, 1000) and logits.shape == (1, 1000)


@pytest.fixture(scope="module")
def vgg_a_variables():
  return random_variables(vgg.VARIANTS["vgg_a"](), 224)


def test_fully_convolutional_equals_fc_at_224(vgg_a_variables):
  x = jax.random.normal(jax.random.PRNGKey(0), (1, 224, 224, 3))
  fc = run(vgg.VARIANTS["vgg_a"](), vgg_a_variables, x)
  dense = run(vgg.VARIANTS["vgg_a"](fully_convolutional=True), vgg_a_variables, x)
  scale = float(jnp.abs(fc).max())
  assert scale > 1e-3
  assert float(jnp.abs(fc - dense).max()) <= 1e-5 * scale


def test_fully_convolutional_averages_the_score_map_at_256(vgg_a_variables):
  x = jax.random.normal(jax.random.PRNGKey(1), (1, 256, 256, 3))
  logits, inter = run(vgg.VARIANTS["vgg_a"](fully_convolutional=True), vgg_a_variables, x,
                      capture=True)
  assert inter["fc6"].shape == (1, 2, 2, 4096)
  assert inter["fc8"].shape == (1, 2, 2, 1000)
  # Up to float32 rounding of the two summation orders, at the scores' scale (a score near
  # zero has no relative precision to spare).
  scale = float(jnp.abs(inter["fc8"]).max())
  np.testing.assert_allclose(logits, inter["fc8"].mean(axis=(1, 2)), rtol=1e-6,
                             atol=1e-6 * scale)
  # Each score is the FC head applied to one 7x7 window of the 8x8 pool5 map.
  pool5 = np.asarray(jax.nn.relu(inter["conv5_2"]))
  pool5 = pool5.reshape(1, 8, 2, 8, 2, 512).max(axis=(2, 4))
  p = jax.tree_util.tree_map(np.asarray, vgg_a_variables["params"])
  scores = []
  for i in range(2):
    for j in range(2):
      h = pool5[:, i:i + 7, j:j + 7].reshape(1, -1)
      h = np.maximum(h @ p["fc6"]["kernel"] + p["fc6"]["bias"], 0)
      h = np.maximum(h @ p["fc7"]["kernel"] + p["fc7"]["bias"], 0)
      scores.append(h @ p["fc8"]["kernel"] + p["fc8"]["bias"])
  expected = np.mean(scores, axis=0)
  assert np.abs(np.asarray(logits) - expected).max() <= 1e-5 * np.abs(expected).max()
  # The corners differ, so the average is not one crop repeated.
  assert differ(scores[0], scores[3])


def torchvision_vgg(arch):
  torch = pytest.importorskip("torch")
  torchvision = pytest.importorskip("torchvision")
  torch.manual_seed(0)
  model = getattr(torchvision.models, arch)(weights=None)
  with torch.no_grad():
    for m in model.modules():
      if isinstance(m, torch.nn.BatchNorm2d):
        m.weight.uniform_(0.5, 1.5)
        m.bias.uniform_(-0.2, 0.2)
        m.running_mean.uniform_(-0.5, 0.5)
        m.running_var.uniform_(0.5, 2.0)
  return torch, model.eval()


def check_parity(arch, size, batch):
  torch, tv = torchvision_vgg(arch)
  x = np.random.default_rng(0).standard_normal((batch, 3, size, size)).astype(np.float32)
  with torch.no_grad():
    expected = tv(torch.from_numpy(x)).numpy()
  variables = convert.from_torchvision(arch, {k: v.numpy() for k, v in tv.state_dict().items()})
  got = np.asarray(run(vgg.VARIANTS[arch](), variables, x.transpose(0, 2, 3, 1)))
  assert got.shape == expected.shape == (batch, 1000)
  scale = np.abs(expected).max()
  assert scale > 0
  assert np.abs(got - expected).max() <= 1e-4 * scale


@pytest.mark.parametrize("arch", convert.ARCHS)
def test_parity_with_torchvision(arch):
  # At 96x96 the 3x3 pool5 map goes through the adaptive 7x7 pool (overlapping bins) and
  # fc6's row order matters, at a fifth of the cost of 224x224 (tested once below).
  check_parity(arch, 96, 2)


def test_parity_with_torchvision_at_224():
  check_parity("vgg16", 224, 1)


def test_parity_with_torchvision_at_32():
  # torchvision's adaptive pool repeats the 1x1 map to 7x7; ours must do the same.
  check_parity("vgg11_bn", 32, 2)


def test_converter_names_missing_unexpected_and_misshapen_keys():
  _, tv = torchvision_vgg("vgg11_bn")
  sd = {k: v.numpy() for k, v in tv.state_dict().items()}
  with pytest.raises(ValueError, match="Unknown torchvision arch 'vgg_a'"):
    convert.from_torchvision("vgg_a", sd)
  with pytest.raises(ValueError, match="unexpected keys: .*features.1.running_mean"):
    convert.from_torchvision("vgg11", sd)  # BN weights given to the plain model.
  broken = dict(sd)
  del broken["features.5.running_var"]
  broken["features.0.weight"] = sd["features.0.weight"][:, :, :2]
  with pytest.raises(ValueError) as e:
    convert.from_torchvision("vgg11_bn", broken)
  assert "missing keys: features.5.running_var" in str(e.value)
  assert "features.0.weight: expected (64, 3, 3, 3), got (64, 3, 2, 3)" in str(e.value)
  variables = convert.from_torchvision("vgg11_bn", sd)
  np.testing.assert_array_equal(variables["batch_stats"]["bn2_1"]["var"],
                                sd["features.5.running_var"])
  # fc6's rows go from torch's (C, H, W) flatten order to flax's (H, W, C).
  np.testing.assert_array_equal(variables["params"]["fc6"]["kernel"][(2 * 7 + 3) * 512 + 5],
                                sd["classifier.0.weight"][:, 5 * 49 + 2 * 7 + 3])
