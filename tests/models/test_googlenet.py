import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn.tools.convert import googlenet as convert_googlenet
from jaxcnn.errors import UserError
from jaxcnn.models import layers
from jaxcnn.models import googlenet
from tests.models.variables import random_variables, randomize_batch_norm
from tests.tolerance import assert_close

RNGS = {"params": jax.random.key(0), "dropout": jax.random.key(1)}


def _variables_shape(model, size=224, train=False):
  return jax.eval_shape(lambda: model.init(RNGS, jnp.zeros((1, size, size, 3)), train=train))


# Compiled whole: GoogLeNet's many distinct conv shapes make op-by-op dispatch slower on CPU.
def _eval_apply(model):
  return jax.jit(lambda v, x: model.apply(v, x, train=False))


def _train_apply(model):
  return jax.jit(lambda v, x: model.apply(v, x, train=True, rngs={"dropout": RNGS["dropout"]},
                                          mutable=["batch_stats"]))


def _size(tree):
  return sum(int(np.prod(p.shape)) for p in jax.tree.leaves(tree))


def _weights(tree):
  """Parameters without biases, as Table 1 counts them."""
  return sum(int(np.prod(p.shape)) for path, p in jax.tree_util.tree_leaves_with_path(tree)
             if path[-1].key == "kernel")


# Paper GoogLeNet, weights + biases (eval mode, so no auxiliary heads):
# conv1 7*7*3*64 + 64 = 9,472; conv2_reduce 64*64 + 64 = 4,160; conv2 9*64*192 + 192 = 110,784;
# an inception block on Cin maps: Cin*(#1x1 + #3x3r + #5x5r + #pool) + 9*#3x3r*#3x3
#   + 25*#5x5r*#5x5 + (sum of its widths) biases:
INCEPTION_COUNTS = {
    "inception3a": 163_696,    # 192*(64+96+16+32) + 9*96*128 + 25*16*32 + 368
    "inception3b": 388_736,    # 256*(128+128+32+64) + 9*128*192 + 25*32*96 + 640
    "inception4a": 376_176,    # 480*(192+96+16+64) + 9*96*208 + 25*16*48 + 624
    "inception4b": 449_160,    # 512*(160+112+24+64) + 9*112*224 + 25*24*64 + 648
    "inception4c": 510_104,    # 512*(128+128+24+64) + 9*128*256 + 25*24*64 + 664
    "inception4d": 605_376,    # 512*(112+144+32+64) + 9*144*288 + 25*32*64 + 704
    "inception4e": 868_352,    # 528*(256+160+32+128) + 9*160*320 + 25*32*128 + 1,024
    "inception5a": 1_043_456,  # 832*(256+160+32+128) + 9*160*320 + 25*32*128 + 1,024
    "inception5b": 1_444_080,  # 832*(384+192+48+128) + 9*192*384 + 25*48*128 + 1,264
}
# + fc 1024*1000 + 1000 = 1,025,000:
# 9,472 + 4,160 + 110,784 + 5,849,136 (the blocks) + 1,025,000 = 6,998,552.
GOOGLENET_COUNT = 6_998_552
# Auxiliary heads: 1x1 conv Cin*128 + 128, fc1 2048*1024 + 1024, fc2 1024*1000 + 1000;
# aux1 (Cin 512) 3,188,840 + aux2 (Cin 528) 3,190,888 = 6,379,728.
GOOGLENET_TRAIN_COUNT = 6_998_552 + 6_379_728
# torchvision: bias-free convs + BN (2C each), 3x3 convs in the "5x5" branch; published count.
TORCHVISION_COUNT = 6_624_904
# Its aux heads: conv Cin*128 + 256, fc1 2,098,176, fc2 1,025,000: 3,188,968 + 3,191,016.
TORCHVISION_TRAIN_COUNT = 6_624_904 + 6_379_984

# Table 1's params column, in K. It counts weights only (no biases) with K = 1024: conv2
# (4,096 + 110,592 = 114,688 = 112K exactly) and the classifier (1,024,000 = 1000K) fit, and
# so do 3a, 3b and 4b within the table's rounding. The conv1 row (2.7K) does not: 7*7*3*64 =
# 9,408 = 9.2K; neither do 4a, 4c, 4d, 4e, 5a, 5b (e.g. 4c: 509,440 weights = 497.5K vs
# 463K; 5a: 1,018K vs 1072K), though the ops column agrees with these widths (4c: 509,440 *
# 14*14 = 99.9M, printed 100M), so the params column, not the widths, is in error.
TABLE1_PARAMS_K = {
    "conv1": 2.7, "conv2": 112, "inception3a": 159, "inception3b": 380, "inception4a": 364,
    "inception4b": 437, "inception4c": 463, "inception4d": 580, "inception4e": 840,
    "inception5a": 1072, "inception5b": 1388, "fc": 1000,
}
TABLE1_AGREES = {"conv2", "inception3a", "inception3b", "inception4b", "fc"}


def test_parameter_counts():
  eval_params = _variables_shape(googlenet.VARIANTS["googlenet"]())["params"]
  assert _size(eval_params) == GOOGLENET_COUNT
  for name, count in INCEPTION_COUNTS.items():
    assert _size(eval_params[name]) == count, name
  assert _size(eval_params["conv1"]) == 9_472
  assert _size(eval_params["conv2"]) + _size(eval_params["conv2_reduce"]) == 114_944
  train_params = _variables_shape(googlenet.VARIANTS["googlenet"](), train=True)["params"]
  assert _size(train_params) == GOOGLENET_TRAIN_COUNT
  assert (_size(train_params["aux1"]), _size(train_params["aux2"])) == (3_188_840, 3_190_888)


def test_table1_params_column():
  params = _variables_shape(googlenet.VARIANTS["googlenet"]())["params"]
  ours_k = {name: _weights(params[name]) / 1024 for name in TABLE1_PARAMS_K if name != "conv2"}
  ours_k["conv2"] = (_weights(params["conv2_reduce"]) + _weights(params["conv2"])) / 1024
  assert ours_k["conv2"] == 112 and ours_k["fc"] == 1000
  agrees = {name for name, k in TABLE1_PARAMS_K.items() if abs(ours_k[name] - k) <= 1}
  assert agrees == TABLE1_AGREES


def test_torchvision_variant_counts():
  model = googlenet.VARIANTS["googlenet_torchvision"]()
  variables = _variables_shape(model)
  assert _size(variables["params"]) == TORCHVISION_COUNT
  assert set(variables) == {"params", "batch_stats"}
  assert _size(_variables_shape(model, train=True)["params"]) == TORCHVISION_TRAIN_COUNT


def test_naive_inception_counts():
  # Fig. 2a on Cin maps: Cin*#1x1 + 9*Cin*#3x3 + 25*Cin*#5x5 + biases; the unprojected pool
  # passes Cin on, so Cout = #1x1 + #3x3 + #5x5 + Cin: 192 -> 416 -> 832 | 1280 -> 1728 ->
  # 2176 -> 2640 -> 3344 | 4048 -> 4944.
  expected = {
      "inception3a": 192 * (64 + 9 * 128 + 25 * 32) + 224,        # 387,296
      "inception3b": 416 * (128 + 9 * 192 + 25 * 96) + 416,       # 1,770,912
      "inception4a": 832 * (192 + 9 * 208 + 25 * 48) + 448,       # 2,716,096
      "inception4b": 1280 * (160 + 9 * 224 + 25 * 64) + 448,      # 4,833,728
      "inception4c": 1728 * (128 + 9 * 256 + 25 * 64) + 448,      # 6,967,744
      "inception4d": 2176 * (112 + 9 * 288 + 25 * 64) + 464,      # 9,365,968
      "inception4e": 2640 * (256 + 9 * 320 + 25 * 128) + 704,     # 16,727,744
      "inception5a": 3344 * (256 + 9 * 320 + 25 * 128) + 704,     # 21,188,288
      "inception5b": 4048 * (384 + 9 * 384 + 25 * 128) + 896,     # 28,498,816
  }
  params = _variables_shape(googlenet.GoogLeNet(inception="naive"))["params"]
  for name, count in expected.items():
    assert _size(params[name]) == count, name
  # stem 124,416 + blocks 92,456,592 + fc 4944*1000 + 1000 = 97,526,008
  assert sum(expected.values()) == 92_456_592
  assert _size(params) == 97_526_008
  assert params["fc"]["kernel"].shape == (4944, 1000)
  assert _size(params) - GOOGLENET_COUNT == 90_527_456


def test_fc_head_count():
  # The 7x7x1024 map flattened: fc 50,176*1000 + 1000 replaces the GAP head's 1,025,000.
  params = _variables_shape(googlenet.GoogLeNet(head="fc"))["params"]
  assert _size(params) == GOOGLENET_COUNT - 1_025_000 + 50_177_000


def test_table1_output_sizes():
  model = googlenet.VARIANTS["googlenet"]()
  x = jnp.zeros((1, 224, 224, 3))
  _, state = jax.eval_shape(lambda: model.init_with_output(
      RNGS, x, train=False, capture_intermediates=True))
  shapes = {k: v["__call__"][0].shape[1:] for k, v in state["intermediates"].items()
            if k != "__call__"}
  assert shapes["conv1"] == (112, 112, 64)
  assert shapes["conv2"] == (56, 56, 192)
  assert shapes["inception3a"] == (28, 28, 256)
  assert shapes["inception3b"] == (28, 28, 480)
  assert shapes["inception4a"] == (14, 14, 512)
  assert shapes["inception4d"] == (14, 14, 528)
  assert shapes["inception4e"] == (14, 14, 832)
  assert shapes["inception5a"] == (7, 7, 832)
  assert shapes["inception5b"] == (7, 7, 1024)


def test_ceil_mode_pools():
  x = jnp.arange(16.0).reshape(1, 4, 4, 1)
  # Windows at 0 and 2; the second covers rows/cols 2-3 only.
  # A maximum is one of its inputs: exact.
  np.testing.assert_array_equal(layers.max_pool_ceil(x, 3, 2)[0, ..., 0], [[10, 11], [14, 15]])
  assert_close(layers.avg_pool_ceil(x, 3, 2)[0, ..., 0], [[5, 6.5], [11, 12.5]], rtol=1e-6)
  for size, out in ((112, 56), (56, 28), (28, 14), (14, 7)):
    assert layers.max_pool_ceil(jnp.zeros((1, size, size, 1)), 3, 2).shape[1] == out
  assert layers.avg_pool_ceil(jnp.zeros((1, 14, 14, 1)), 5, 3).shape[1:3] == (4, 4)


def test_adaptive_avg_pool():
  x = jnp.arange(25.0).reshape(1, 5, 5, 1)
  # 5 -> 4: windows [0, 2), [1, 3), [2, 4), [3, 5).
  y = layers.adaptive_avg_pool(x, 4)[0, ..., 0]
  assert_close([y[0, 0], y[3, 3]], [(0 + 1 + 5 + 6) / 4, (18 + 19 + 23 + 24) / 4], rtol=1e-6)
  # 1 -> 4 repeats the pixel, as torch does.
  # One pixel weighted by 1.0 on each axis: exact.
  np.testing.assert_array_equal(layers.adaptive_avg_pool(jnp.full((1, 1, 1, 2), 3.0), 4),
                                jnp.full((1, 4, 4, 2), 3.0))


@pytest.mark.parametrize("name,eval_min,train_min", [("googlenet", 31, 47),
                                                     ("googlenet_torchvision", 15, 15)])
def test_forward_at_minimum_input(name, eval_min, train_min):
  model = googlenet.VARIANTS[name](num_classes=10)
  assert (model.min_input_size(False), model.min_input_size(True)) == (eval_min, train_min)
  x = jax.random.normal(jax.random.key(0), (2, train_min, train_min, 3))
  variables = random_variables(model, x, train=True)
  assert {"aux1", "aux2"} <= set(variables["params"])
  out, _ = _train_apply(model)(variables, x)
  assert out["logits"].shape == (2, 10)
  assert len(out["aux_logits"]) == 2 and all(a.shape == (2, 10) for a in out["aux_logits"])
  assert all(bool(jnp.all(jnp.isfinite(a))) for a in (out["logits"],) + out["aux_logits"])
  small = jax.random.normal(jax.random.key(0), (1, eval_min, eval_min, 3))
  logits = _eval_apply(model)(variables, small)
  assert logits.shape == (1, 10) and bool(jnp.all(jnp.isfinite(logits)))
  with pytest.raises(UserError, match=f"at least {eval_min}x{eval_min}"):
    model.apply(variables, small[:, 1:, 1:], train=False)
  if train_min > eval_min:
    with pytest.raises(UserError, match=f"at least {train_min}x{train_min}"):
      model.apply(variables, x[:, 1:, 1:], train=True, rngs={"dropout": RNGS["dropout"]})


def test_aux_heads_exist_only_in_training():
  model = googlenet.VARIANTS["googlenet"](num_classes=10)
  assert not {"aux1", "aux2"} & set(_variables_shape(model, 64)["params"])
  assert {"aux1", "aux2"} <= set(_variables_shape(model, 64, train=True)["params"])
  no_aux = googlenet.VARIANTS["googlenet"](num_classes=10, aux_logits=False)
  assert not {"aux1", "aux2"} & set(_variables_shape(no_aux, 64, train=True)["params"])
  x = jnp.zeros((1, 64, 64, 3))
  out = jax.eval_shape(lambda: no_aux.init_with_output(RNGS, x, train=True)[0])
  assert out.shape == (1, 10)


def test_naive_and_fc_head_run():
  x = jax.random.normal(jax.random.key(0), (1, 64, 64, 3))
  for model in (googlenet.GoogLeNet(num_classes=10, inception="naive", width=0.25),
                googlenet.GoogLeNet(num_classes=10, head="fc", input_size=64)):
    logits = _eval_apply(model)(random_variables(model, x), x)
    assert logits.shape == (1, 10) and bool(jnp.all(jnp.isfinite(logits)))


def _torch_googlenet(torchvision, torch, **kwargs):
  torch.manual_seed(0)
  tmodel = torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=False,
                                        **kwargs)
  randomize_batch_norm(tmodel, torch)
  return tmodel


def _close(got, expected):
  scale = np.abs(expected).max()
  assert scale > 0
  assert np.abs(np.asarray(got) - expected).max() <= 1e-4 * scale


def test_parity_with_torchvision():
  torchvision = pytest.importorskip("torchvision")
  import torch
  assert torchvision.models.GoogLeNet_Weights.IMAGENET1K_V1.meta["min_size"] == (15, 15)
  assert torchvision.models.GoogLeNet_Weights.IMAGENET1K_V1.meta["num_params"] == TORCHVISION_COUNT
  x = np.random.default_rng(0).standard_normal((2, 224, 224, 3)).astype(np.float32)
  tx = torch.from_numpy(x.transpose(0, 3, 1, 2))
  # Without dropout the training-mode outputs (batch statistics, aux heads) are comparable too.
  tmodel = _torch_googlenet(torchvision, torch, dropout=0.0, dropout_aux=0.0)
  assert sum(p.numel() for p in tmodel.parameters()) == TORCHVISION_TRAIN_COUNT
  variables = convert_googlenet.from_torchvision(
      "googlenet", {k: v.numpy() for k, v in tmodel.state_dict().items()})
  model = googlenet.VARIANTS["googlenet_torchvision"](dropout_rate=0.0, aux_dropout_rate=0.0)

  with torch.no_grad():
    expected = tmodel.eval()(tx).numpy()
  _close(_eval_apply(model)(variables, x), expected)

  with torch.no_grad():
    t_train = tmodel.train()(tx)
  out, _ = _train_apply(model)(variables, x)
  _close(out["logits"], t_train.logits.numpy())
  _close(out["aux_logits"][0], t_train.aux_logits1.numpy())
  _close(out["aux_logits"][1], t_train.aux_logits2.numpy())

  # transform_input, which torchvision switches on for its ported pretrained weights.
  tmodel.transform_input = True
  with torch.no_grad():
    expected = tmodel.eval()(tx).numpy()
  model = googlenet.VARIANTS["googlenet_torchvision"](transform_input=True)
  _close(_eval_apply(model)(variables, x), expected)


def test_converter_without_aux_and_errors():
  torchvision = pytest.importorskip("torchvision")
  state = {k: v.numpy() for k, v in torchvision.models.googlenet(
      weights=None, aux_logits=False, init_weights=False, num_classes=10).state_dict().items()}
  variables = convert_googlenet.from_torchvision("googlenet", state)
  assert not {"aux1", "aux2"} & set(variables["params"])
  assert variables["params"]["fc"]["kernel"].shape == (1024, 10)
  assert variables["params"]["conv2_reduce"]["conv"]["kernel"].shape == (1, 1, 64, 64)
  assert _size(variables["params"]) == TORCHVISION_COUNT - 1025 * 990
  with pytest.raises(ValueError, match="unexpected keys: inception6a.branch1.conv.weight"):
    convert_googlenet.from_torchvision(
        "googlenet", {**state, "inception6a.branch1.conv.weight": np.zeros((1, 1, 1, 1))})
  missing = {k: v for k, v in state.items() if k != "inception4e.branch3.1.bn.running_mean"}
  with pytest.raises(ValueError, match="missing keys: inception4e.branch3.1.bn.running_mean"):
    convert_googlenet.from_torchvision("googlenet", missing)
  with pytest.raises(ValueError, match=r"shape mismatches: inception3a.branch3.1.conv.weight: "
                                       r"expected \(32, 16, 3, 3\), got \(32, 16, 5, 5\)"):
    convert_googlenet.from_torchvision(
        "googlenet", {**state, "inception3a.branch3.1.conv.weight": np.zeros((32, 16, 5, 5))})
  with pytest.raises(ValueError, match="Unknown torchvision arch"):
    convert_googlenet.from_torchvision("inception_v3", state)


@pytest.mark.parametrize("aux", [False, True])
def test_converted_tree_is_the_model_tree(aux):
  torchvision = pytest.importorskip("torchvision")
  state = {k: v.numpy() for k, v in torchvision.models.googlenet(
      weights=None, aux_logits=aux, init_weights=False, num_classes=10).state_dict().items()}
  variables = convert_googlenet.from_torchvision("googlenet", state)
  # Training-mode init holds the auxiliary heads, eval-mode init does not.
  expected = _variables_shape(googlenet.VARIANTS["googlenet_torchvision"](num_classes=10),
                              train=aux)
  shapes = lambda tree: jax.tree.map(lambda a: tuple(a.shape), tree)
  assert shapes(variables) == shapes(dict(expected))


def test_bfloat16_compute_and_width():
  model = googlenet.VARIANTS["googlenet_torchvision"](dtype="bfloat16", width=0.5)
  logits, variables = jax.eval_shape(
      lambda: model.init_with_output(RNGS, jnp.zeros((1, 64, 64, 3)), train=False))
  assert logits.dtype == jnp.float32 and logits.shape == (1, 1000)
  assert {p.dtype for p in jax.tree.leaves(variables["params"])} == {jnp.dtype("float32")}
  # Inception 5b's widths 384 + 384 + 128 + 128 halved feed the classifier.
  assert variables["params"]["fc"]["kernel"].shape == (512, 1000)
