import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn import config as config_lib
from jaxcnn import train
from jaxcnn.errors import UserError
from jaxcnn.models import inception_v3
from jaxcnn.tools.convert import inception_v3 as convert_inception_v3
from tests.models.variables import random_variables, randomize_batch_norm

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

RNGS = {"params": jax.random.key(0), "dropout": jax.random.key(1)}

# torchvision's published count (Inception_V3_Weights.IMAGENET1K_V1.meta["num_params"]), with
# the auxiliary classifier: conv0 768*128 + 2*128 = 98,560; conv1 25*128*768 + 2*768 =
# 2,459,136; fc 768*1000 + 1000 = 769,000; together 3,326,696.
TRAIN_COUNT = 27_161_264
AUX_COUNT = 98_560 + 2_459_136 + 769_000
EVAL_COUNT = TRAIN_COUNT - AUX_COUNT  # 23,834,568: what torchvision counts with aux_logits=False


def _variables_shape(model, size=299, train=False):
  return jax.eval_shape(lambda: model.init(RNGS, jnp.zeros((1, size, size, 3)), train=train))


def _size(tree):
  return sum(int(np.prod(p.shape)) for p in jax.tree.leaves(tree))


# Compiled whole: dispatching Inception-v3's many distinct convs one by one is slower on CPU.
def _eval_apply(model):
  return jax.jit(lambda v, x: model.apply(v, x, train=False))


def _train_apply(model):
  return jax.jit(lambda v, x: model.apply(v, x, train=True, rngs={"dropout": RNGS["dropout"]},
                                          mutable=["batch_stats"]))


def test_parameter_counts():
  model = inception_v3.VARIANTS["inception_v3"]()
  eval_vars = _variables_shape(model)
  assert _size(eval_vars["params"]) == EVAL_COUNT == 23_834_568
  assert "AuxLogits" not in eval_vars["params"]
  train_params = _variables_shape(model, train=True)["params"]
  assert _size(train_params) == TRAIN_COUNT
  assert _size(train_params["AuxLogits"]) == AUX_COUNT
  # Stem: 27*32, 9*32*32, 9*32*64, 64*80, 9*80*192 weights, plus 2C per BatchNorm.
  stem = {"Conv2d_1a_3x3": 928, "Conv2d_2a_3x3": 9_280, "Conv2d_2b_3x3": 18_560,
          "Conv2d_3b_1x1": 5_280, "Conv2d_4a_3x3": 138_624}
  assert {k: _size(train_params[k]) for k in stem} == stem
  assert train_params["fc"]["kernel"].shape == (2048, 1000)
  assert set(eval_vars) == {"params", "batch_stats"}


def test_table1_grid_sizes():
  model = inception_v3.VARIANTS["inception_v3"]()
  _, state = jax.eval_shape(lambda: model.init_with_output(
      RNGS, jnp.zeros((1, 299, 299, 3)), train=False, capture_intermediates=True))
  shapes = {k: v["__call__"][0].shape[1:] for k, v in state["intermediates"].items()
            if k != "__call__"}
  # Table 1: 299 -> 149 -> 147 -> 73 (pool) -> 71 -> 35 (pool), 35x35x288, 17x17x768, 8x8x2048.
  assert shapes["Conv2d_1a_3x3"] == (149, 149, 32)
  assert shapes["Conv2d_2b_3x3"] == (147, 147, 64)
  assert shapes["Conv2d_4a_3x3"] == (71, 71, 192)
  assert shapes["Mixed_5b"] == (35, 35, 256)
  assert shapes["Mixed_5d"] == (35, 35, 288)
  assert shapes["Mixed_6a"] == (17, 17, 768)
  assert shapes["Mixed_6e"] == (17, 17, 768)
  assert shapes["Mixed_7a"] == (8, 8, 1280)
  assert shapes["Mixed_7c"] == (8, 8, 2048)


def test_minimum_inputs():
  model = inception_v3.VARIANTS["inception_v3"](num_classes=10, width=0.125)
  # torchvision's published minimum (75x75); its auxiliary head's 5x5 conv needs the 17x17 map
  # at least 17 wide (5x5/3 pooling to 5x5), which takes 299x299 inputs.
  assert (model.min_input_size(False), model.min_input_size(True)) == (75, 299)
  assert model.clone(aux_logits=False).min_input_size(True) == 75
  with pytest.raises(UserError, match="Inception-v3 needs inputs of at least 75x75"):
    _variables_shape(model, 74)
  with pytest.raises(UserError, match="at least 299x299"):
    _variables_shape(model, 298, train=True)
  logits = jax.eval_shape(lambda: model.init_with_output(RNGS, jnp.zeros((1, 75, 75, 3)),
                                                         train=False)[0])
  assert logits.shape == (1, 10)


def test_reduction_switch():
  base = inception_v3.VARIANTS["inception_v3"](num_classes=10)
  params = {mode: _variables_shape(base.clone(reduction=mode))["params"]
            for mode in ("parallel", "conv_then_pool", "pool")}
  # The same convs at full resolution: the same parameters.
  assert _size(params["conv_then_pool"]) == _size(params["parallel"])
  # Pooling alone: Mixed_6a and 7a have no convs and the modules after them read fewer maps
  # (288 instead of 768, 768 instead of 1280).
  assert "Mixed_6a" not in params["pool"] and "Mixed_7a" not in params["pool"]
  assert params["pool"]["Mixed_6b"]["branch1x1"]["conv"]["kernel"].shape == (1, 1, 288, 192)
  assert params["pool"]["Mixed_7b"]["branch1x1"]["conv"]["kernel"].shape == (1, 1, 768, 320)
  with pytest.raises(ValueError, match="reduction must be one of"):
    _variables_shape(base.clone(reduction="strided"))


def _torch_inception_v3(torchvision, torch, **kwargs):
  # torch's default init, as the GoogLeNet test: torchvision's N(0, 0.1) with random BatchNorm
  # statistics grows the eval-mode activations to some 1e13.
  torch.manual_seed(0)
  tmodel = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False,
                                           **kwargs)
  randomize_batch_norm(tmodel, torch)
  return tmodel


def _close(got, expected, rel=1e-4):
  scale = np.abs(expected).max()
  assert scale > 0
  assert np.abs(np.asarray(got) - expected).max() <= rel * scale


def test_parity_with_torchvision():
  torchvision = pytest.importorskip("torchvision")
  import torch
  weights = torchvision.models.Inception_V3_Weights.IMAGENET1K_V1
  assert weights.meta["num_params"] == TRAIN_COUNT and weights.meta["min_size"] == (75, 75)
  # Without dropout the training-mode outputs (batch statistics, aux head) are comparable too.
  tmodel = _torch_inception_v3(torchvision, torch, dropout=0.0)
  assert sum(p.numel() for p in tmodel.parameters()) == TRAIN_COUNT
  variables = convert_inception_v3.from_torchvision(
      "inception_v3", {k: v.numpy() for k, v in tmodel.state_dict().items()})
  model = inception_v3.VARIANTS["inception_v3"](dropout_rate=0.0)
  rng = np.random.default_rng(0)
  for size in (299, 139):
    x = rng.standard_normal((2, size, size, 3)).astype(np.float32)
    with torch.no_grad():
      expected = tmodel.eval()(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy()
    _close(_eval_apply(model)(variables, x), expected)

  x = rng.standard_normal((2, 299, 299, 3)).astype(np.float32)
  tx = torch.from_numpy(x.transpose(0, 3, 1, 2))
  with torch.no_grad():
    t_train = tmodel.train()(tx)
  out, _ = _train_apply(model)(variables, x)
  # Batch statistics are float32 sums over up to 44,402 values per channel, summed in another
  # order by each library; their rounding grows through 94 BatchNorms to about 1e-4 of the
  # logits' scale (the first conv's output already differs by 3e-6 of its scale, against
  # 1e-7 in eval mode), so training mode is compared at 1e-3.
  _close(out["logits"], t_train.logits.numpy(), rel=1e-3)
  _close(out["aux_logits"][0], t_train.aux_logits.numpy(), rel=1e-3)

  # transform_input, which torchvision switches on for its pretrained weights.
  tmodel.transform_input = True
  with torch.no_grad():
    expected = tmodel.eval()(tx).numpy()
  _close(_eval_apply(model.clone(transform_input=True))(variables, x), expected)


@pytest.mark.parametrize("aux", [False, True])
def test_converted_tree_is_the_model_tree_torchvision(aux):
  torchvision = pytest.importorskip("torchvision")
  state = {k: v.numpy() for k, v in torchvision.models.inception_v3(
      weights=None, aux_logits=aux, init_weights=False, num_classes=10).state_dict().items()}
  variables = convert_inception_v3.from_torchvision("inception_v3", state)
  # Training-mode init holds the auxiliary classifier, eval-mode init does not.
  expected = _variables_shape(inception_v3.VARIANTS["inception_v3"](num_classes=10), train=aux)
  shapes = lambda tree: jax.tree.map(lambda a: tuple(a.shape), tree)
  assert shapes(variables) == shapes(dict(expected))


def test_converter_reports_problems_torchvision():
  torchvision = pytest.importorskip("torchvision")
  state = {k: v.numpy() for k, v in torchvision.models.inception_v3(
      weights=None, aux_logits=False, init_weights=False).state_dict().items()}
  with pytest.raises(ValueError, match="unexpected keys: Mixed_8a.branch1x1.conv.weight"):
    convert_inception_v3.from_torchvision(
        "inception_v3", {**state, "Mixed_8a.branch1x1.conv.weight": np.zeros((1, 1, 1, 1))})
  missing = {k: v for k, v in state.items() if k != "Mixed_6c.branch7x7dbl_3.bn.running_var"}
  with pytest.raises(ValueError, match="missing keys: Mixed_6c.branch7x7dbl_3.bn.running_var"):
    convert_inception_v3.from_torchvision("inception_v3", missing)
  with pytest.raises(ValueError, match=r"shape mismatches: Mixed_6b.branch7x7_2.conv.weight: "
                                       r"expected \(128, 128, 1, 7\), got \(128, 128, 7, 1\)"):
    convert_inception_v3.from_torchvision(
        "inception_v3", {**state, "Mixed_6b.branch7x7_2.conv.weight": np.zeros((128, 128, 7, 1))})
  with pytest.raises(ValueError, match="Unknown torchvision arch"):
    convert_inception_v3.from_torchvision("googlenet", state)


def test_forward_and_backward_at_minimum_train_input():
  model = inception_v3.VARIANTS["inception_v3"](num_classes=10, width=0.125)
  x = jax.random.normal(jax.random.key(0), (2, 299, 299, 3))
  variables = random_variables(model, x, train=True)
  out, updates = _train_apply(model)(variables, x)
  assert out["logits"].shape == (2, 10) and len(out["aux_logits"]) == 1
  assert out["aux_logits"][0].shape == (2, 10)
  assert all(bool(jnp.all(jnp.isfinite(a))) for a in (out["logits"], out["aux_logits"][0]))
  assert "AuxLogits" in updates["batch_stats"]


def test_the_small_variant_takes_sgd_steps_that_reach_every_layer(data_dir):
  """configs/inception_v3.py:small (75x75 inputs, the smallest the network takes, without the
  auxiliary head, which needs 299) through the trainer: two steps, every layer updated."""
  c = config_lib.load_file("configs/inception_v3.py:small", root=REPO)
  c.data_dir, c.train_split = data_dir, "train"
  c.num_train_steps, c.batch_size = 2, 8
  exp = train.Experiment(c, devices=jax.devices()[:1])
  assert exp.input_shape == (75, 75, 1) and not c.model_kwargs.aux_logits
  state = exp.init_state()
  before = jax.device_get(state.params)
  batches = exp.train_batches()
  for step in range(2):
    batch = {k: jnp.asarray(v) for k, v in batches[step].items()}
    state, metrics = exp.train_step(state, batch)
    assert np.isfinite(float(metrics["loss"])) and float(metrics["grad_norm"]) > 0
  moved = jax.tree.map(lambda a, b: float(np.abs(np.asarray(a) - b).max()),
                       jax.device_get(state.params), before)
  assert all(m > 0 for m in jax.tree.leaves(moved))  # SGD reached every layer.


def test_sgd_step_at_299_with_the_auxiliary_head_traces(config):
  """The trainer's step at the paper's input and full width, auxiliary loss included, traced
  abstractly (jax.eval_shape: no compilation, nothing computed)."""
  with config.unlocked():
    config.model = "inception_v3"
  config.width = 1.0
  config.data.resize = config.data.image_size = 299
  exp = train.Experiment(config, devices=jax.devices()[:1])
  batch = {"image": jax.ShapeDtypeStruct((8, 299, 299, 1), jnp.float32),
           "label": jax.ShapeDtypeStruct((8,), jnp.int32)}
  out = jax.eval_shape(lambda s, x: exp.model.apply(
      {"params": s.params, "batch_stats": s.batch_stats}, x, train=True, rngs=RNGS,
      mutable=["batch_stats"])[0], exp.abstract_state, batch["image"])
  assert out["logits"].shape == out["aux_logits"][0].shape == (8, 10)
  new_state, metrics = jax.eval_shape(exp.train_step, exp.abstract_state, batch)
  assert metrics["loss"].shape == () and metrics["loss"].dtype == jnp.float32
  shapes = lambda tree: jax.tree.map(lambda a: (a.shape, a.dtype), tree)
  assert shapes(new_state.params) == shapes(exp.abstract_state.params)
  assert new_state.params["AuxLogits"]["fc"]["kernel"].shape == (768, 10)
  assert new_state.params["fc"]["kernel"].shape == (2048, 10)
