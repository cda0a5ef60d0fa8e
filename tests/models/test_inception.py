"""The building blocks of jaxcnn.models.inception and GoogLeNet's switches that use them."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn.models import googlenet, inception, layers, ops
from jaxcnn.tools import summary
from tests.models.variables import random_variables

RNGS = {"params": jax.random.key(0), "dropout": jax.random.key(1)}
INCEPTION_3A = (64, 96, 128, 16, 32, 32)  # Table 1, on 192 maps.


def _init_shapes(module, shape, train=False):
  return jax.eval_shape(lambda: module.init(RNGS, jnp.zeros(shape), train=train))


def _size(tree):
  return sum(int(np.prod(p.shape)) for p in jax.tree.leaves(tree))


def _kernels(params):
  return {name: p["conv"]["kernel"].shape for name, p in params.items()}


def test_chain_widths_change_by_one_factor():
  assert inception.chain_widths(16, 32, 2) == [23, 32]   # 16 * sqrt(2) = 22.6
  assert inception.chain_widths(16, 32, 4) == [19, 23, 27, 32]
  assert inception.chain_widths(96, 96, 2) == [96, 96]   # Sec. 3.1's case: the width kept
  assert inception.chain_widths(1, 1, 3) == [1, 1, 1]


def test_factorised_modules_of_inception_3a():
  x = (1, 28, 28, 192)
  k5 = _kernels(_init_shapes(inception.InceptionModule(
      inception.factorised(INCEPTION_3A, "3x3")), x)["params"])
  assert k5["b5x5_1"] == (3, 3, 16, 23) and k5["b5x5_2"] == (3, 3, 23, 32)
  assert k5["b3x3"] == (3, 3, 96, 128) and "b5x5" not in k5
  asym = _kernels(_init_shapes(inception.InceptionModule(
      inception.factorised(INCEPTION_3A, "asymmetric")), x)["params"])
  assert asym["b3x3_1"] == (1, 3, 96, 111) and asym["b3x3_2"] == (3, 1, 111, 128)
  assert [asym[f"b5x5_{i}"] for i in range(1, 5)] == [
      (1, 3, 16, 19), (3, 1, 19, 23), (1, 3, 23, 27), (3, 1, 27, 32)]
  with pytest.raises(ValueError, match="factorise must be one of '3x3', 'asymmetric'"):
    inception.factorised(INCEPTION_3A, "5x5")


def test_factorised_modules_cost_less_with_the_same_outputs():
  x = (1, 28, 28, 192)
  macs = {}
  for mode in ("none", "3x3", "asymmetric"):
    module = (googlenet.Inception(INCEPTION_3A) if mode == "none"
              else inception.InceptionModule(inception.factorised(INCEPTION_3A, mode)))
    rows = {r.path: r for r in summary.summarize(module, x)}
    assert rows[""].output == (1, 28, 28, 256)
    macs[mode] = {name: rows[name].macs for name in rows if name}
  pixels = 28 * 28
  assert macs["none"]["b5x5"] == pixels * 25 * 16 * 32                   # 10.0M
  assert macs["3x3"]["b5x5_1"] + macs["3x3"]["b5x5_2"] == pixels * 9 * (16 * 23 + 23 * 32)
  assert macs["asymmetric"]["b3x3_1"] + macs["asymmetric"]["b3x3_2"] \
      == pixels * 3 * (96 * 111 + 111 * 128)                            # 33% below the 3x3
  assert sum(macs["none"].values()) > sum(macs["3x3"].values()) \
      > sum(macs["asymmetric"].values())


@pytest.mark.parametrize("mode", ["3x3", "asymmetric"])
def test_factorised_5x5_branch_sees_a_5x5_window(mode):
  """The stacked convs see exactly the 5x5 conv's window: the gradient of the centre output
  with respect to the input is non-zero on that window and nowhere else."""
  convs = tuple(c for c in inception.factorised((4, 4, 4, 4, 6, 4), mode)
                if c[0].startswith("b5x5"))
  module = inception.InceptionModule(convs)
  x = jax.random.normal(jax.random.key(0), (4, 9, 9, 3))
  variables = random_variables(module, x)
  grad = jax.grad(lambda x: module.apply(variables, x, train=False)[:, 4, 4].sum())(x)
  seen = np.abs(np.asarray(grad)).sum(axis=(0, 3)) > 0
  expected = np.zeros((9, 9), bool)
  expected[2:7, 2:7] = True
  np.testing.assert_array_equal(seen, expected)


@pytest.mark.parametrize("size", [28, 8, 7, 5, 4])
@pytest.mark.parametrize("window", [3, 2])
def test_grid_reduction_lands_on_the_pooling_grid(size, window):
  branch = (("b3x3_reduce", 4, 1), ("b3x3", 8, 3))
  out = layers.ceil_pooled_size(size, window, 2)
  x = jax.random.normal(jax.random.key(0), (1, size, size, 16))
  pooled = layers.max_pool_ceil(x, window, 2)
  for mode in ("parallel", "conv_then_pool"):
    module = inception.GridReduction((branch,), mode=mode, window=window, ceil=True)
    y = module.apply(random_variables(module, x), x, train=False)
    assert y.shape == (1, out, out, 8 + 16)
    # The input's maps, max-pooled as GoogLeNet's pooling alone: exact.
    np.testing.assert_array_equal(y[..., 8:], pooled)


def test_grid_reduction_orders_and_costs():
  branch = (("b3x3_reduce", 4, 1), ("b3x3", 8, 3))
  rows = {}
  for mode in ("parallel", "conv_then_pool"):
    module = inception.GridReduction((branch,), mode=mode, ceil=True)
    rows[mode] = {r.path: r for r in summary.summarize(module, (1, 28, 28, 16))}
  # The same convs, so the same parameters; the 3x3 conv on 28x28 instead of 14x14.
  params = 16 * 4 + 4 + 9 * 4 * 8 + 8
  assert rows["parallel"][""].params == rows["conv_then_pool"][""].params == params
  assert rows["parallel"]["b3x3"].macs == 14 * 14 * 9 * 4 * 8
  assert rows["conv_then_pool"]["b3x3"].macs == 4 * rows["parallel"]["b3x3"].macs
  assert rows["parallel"]["b3x3_reduce"].macs == rows["conv_then_pool"]["b3x3_reduce"].macs
  with pytest.raises(ValueError, match="mode must be one of 'conv_then_pool', 'parallel'"):
    _init_shapes(inception.GridReduction((branch,), mode="pool"), (1, 8, 8, 16))


# Each grid reduction on C maps adds a 1x1 conv to C/4 and a 3x3 conv to C/2 (with biases) and
# hands C + C/2 maps on, so the next block's 1x1 convs and pool projection read C/2 more maps:
# after 3b (C = 480): 480*120 + 120 + 9*120*240 + 240 = 317,160, and 4a's
# 192 + 96 + 16 + 64 = 368 maps read 240 more: 88,320; after 4e (C = 832):
# 832*208 + 208 + 9*208*416 + 416 = 952,432, and 5a's 576 read 416 more: 239,616.
PARALLEL_EXTRA = 317_160 + 88_320 + 952_432 + 239_616


def test_googlenet_grid_reduction_switch():
  base = googlenet.VARIANTS["googlenet"]()
  counts = {mode: _size(_init_shapes(base.clone(reduction=mode), (1, 224, 224, 3))["params"])
            for mode in ("pool", "parallel", "conv_then_pool")}
  assert counts["pool"] == 6_998_552  # Table 1's network, unchanged.
  assert counts["parallel"] == counts["conv_then_pool"] == 6_998_552 + PARALLEL_EXTRA
  for mode in ("parallel", "conv_then_pool"):
    rows = {r.path: r for r in summary.summarize(base.clone(reduction=mode), (1, 224, 224, 3))}
    assert rows["reduction1"].output == (1, 14, 14, 720)
    assert rows["reduction2"].output == (1, 7, 7, 1248)
    assert rows["inception5b"].output == (1, 7, 7, 1024)
  # The torchvision form's 2x2 last pooling, and the minimum inputs, are those of pooling.
  tv = googlenet.VARIANTS["googlenet_torchvision"](num_classes=10, reduction="parallel",
                                                   ops=ops.select("native"))
  assert (tv.min_input_size(False), tv.min_input_size(True)) == (15, 15)
  x = jax.random.normal(jax.random.key(0), (2, 15, 15, 3))
  out, _ = jax.jit(lambda v: tv.apply(v, x, train=True, rngs=RNGS, mutable=["batch_stats"]))(
      random_variables(tv, x, train=True))
  assert out["logits"].shape == (2, 10) and bool(jnp.all(jnp.isfinite(out["logits"])))


def test_googlenet_factorise_switch():
  params = {mode: _init_shapes(googlenet.GoogLeNet(factorise=mode), (1, 224, 224, 3))["params"]
            for mode in ("none", "3x3", "asymmetric")}
  assert _size(params["none"]) == 6_998_552
  # 3a's 5x5 conv (25*16*32 + 32 = 12,832) becomes 9*16*23 + 23 + 9*23*32 + 32 = 9,991.
  assert _size(params["3x3"]["inception3a"]) == 163_696 - 12_832 + 9_991
  assert set(params["3x3"]) == set(params["none"])  # The same blocks, heads included.
  assert _size(params["none"]) > _size(params["3x3"]) > _size(params["asymmetric"])
  for bad, match in (({"factorise": "3x3", "inception": "naive"}, "bottleneck modules"),
                     ({"factorise": "3x3", "branch5x5_kernel": 3}, "with 5x5 convs"),
                     ({"factorise": "1x1"}, "factorise must be one of"),
                     ({"reduction": "avg"}, "reduction must be one of")):
    with pytest.raises(ValueError, match=match):
      _init_shapes(googlenet.GoogLeNet(**bad), (1, 64, 64, 3))


@pytest.mark.parametrize("kwargs", [{"factorise": "asymmetric", "reduction": "parallel"},
                                    {"factorise": "3x3", "reduction": "conv_then_pool"}])
def test_small_googlenet_variants_train(kwargs):
  # XLA's native kernels compile faster; the CPU ones are checked against them in test_conv.py.
  model = googlenet.GoogLeNet(num_classes=10, width=0.25, ops=ops.select("native"), **kwargs)
  x = jax.random.normal(jax.random.key(0), (2, 64, 64, 1))
  variables = random_variables(model, x, train=True)
  params, stats = variables["params"], variables.get("batch_stats", {})

  def loss(params):
    out = model.apply({"params": params, **({"batch_stats": stats} if stats else {})}, x,
                      train=True, rngs=RNGS)
    return sum(jnp.mean(o ** 2) for o in [out["logits"], *out["aux_logits"]])

  grads = jax.jit(jax.grad(loss))(params)
  dead = [jax.tree_util.keystr(p) for p, g in jax.tree_util.tree_leaves_with_path(grads)
          if not np.any(np.asarray(g))]
  assert not dead, dead


