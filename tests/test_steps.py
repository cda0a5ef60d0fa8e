"""The train step's procedures: gradient accumulation, label smoothing, the moving average and
float16's loss scaling."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxcnn import loss_scale
from jaxcnn import models
from jaxcnn import sharding
from jaxcnn import train
from tests.tolerance import assert_close, assert_trees_close, differ


def _step(config, batch_index=0, devices=None, state=None):
  """(state before, state after, metrics) of one train step from the initial state."""
  exp = train.Experiment(config, devices=devices)
  before = exp.init_state() if state is None else state
  host_before = jax.device_get(before)
  batch = sharding.to_global(exp.train_batches()[batch_index], exp.mesh)
  after, metrics = exp.train_step(before, batch)
  return host_before, jax.device_get(after), jax.device_get(metrics)


def test_accumulated_micro_batches_take_the_whole_batch_step(config):
  """LeNet-5 has no BatchNorm: the mean of 4 micro-batches' gradients is the batch's."""
  config.batch_size = 64
  results = {}
  for k in (1, 4):
    config.grad_accum_steps = k
    results[k] = _step(config)
  (init, one, m1), (_, four, m4) = results[1], results[4]
  delta = lambda s: jax.tree.map(lambda a, b: np.asarray(a) - np.asarray(b), s.params,
                                 init.params)
  assert differ(one.params["c1"]["kernel"], init.params["c1"]["kernel"], rel=1e-4)
  assert_trees_close(delta(four), delta(one), rtol=1e-5)
  assert_close(m4["loss"], m1["loss"], rtol=1e-6)
  assert_close(m4["grad_norm"], m1["grad_norm"], rtol=1e-5)
  assert float(m4["top1"]) == float(m1["top1"])  # The same count of correct rows.


class BNNet(nn.Module):
  num_classes: int = 10
  input_size: int = 28
  width: float = 1.0
  dtype: str = "float32"
  ops: object = None

  @nn.compact
  def __call__(self, x, *, train):
    x = nn.Conv(4, (3, 3), name="conv")(x)
    x = nn.BatchNorm(use_running_average=not train, momentum=0.5, name="bn")(x)
    return nn.Dense(self.num_classes, name="head")(x.mean(axis=(1, 2)))


def test_batchnorm_statistics_are_per_micro_batch(config, monkeypatch):
  """Each micro-batch (rows i, i + k, ...) is normalised by its own statistics, and the running
  averages move once per micro-batch, in order."""
  monkeypatch.setitem(models.MODELS, "bn_accum_test", BNNet)
  config.model, config.batch_size, config.grad_accum_steps = "bn_accum_test", 16, 2
  devices = jax.devices()[:1]
  init, after, _ = _step(config, devices=devices)
  exp = train.Experiment(config, devices=devices)
  batch = exp.train_batches()[0]
  stats = init.batch_stats
  for i in range(2):
    _, updates = exp.model.apply({"params": init.params, "batch_stats": stats},
                                 batch["image"][i::2], train=True, mutable=["batch_stats"])
    stats = updates["batch_stats"]
  assert_trees_close(after.batch_stats, stats, rtol=1e-5)
  whole = exp.model.apply({"params": init.params, "batch_stats": init.batch_stats},
                          batch["image"], train=True, mutable=["batch_stats"])[1]
  assert differ(whole["batch_stats"]["bn"]["mean"], stats["bn"]["mean"])


class AuxNet(nn.Module):
  """Logits and, in training, one auxiliary head, as GoogLeNet returns them."""
  num_classes: int = 10
  input_size: int = 28
  width: float = 1.0
  dtype: str = "float32"
  ops: object = None

  @nn.compact
  def __call__(self, x, *, train):
    x = x.reshape(x.shape[0], -1)
    logits = nn.Dense(self.num_classes, name="head")(x)
    if not train:
      return logits
    return {"logits": logits, "aux_logits": (nn.Dense(self.num_classes, name="aux")(x),)}


def test_label_smoothing_applies_to_every_head(config, monkeypatch):
  monkeypatch.setitem(models.MODELS, "aux_test", AuxNet)
  config.model, config.label_smoothing, config.aux_loss_weight = "aux_test", 0.2, 0.3
  devices = jax.devices()[:1]
  init, _, metrics = _step(config, devices=devices)
  exp = train.Experiment(config, devices=devices)
  batch = exp.train_batches()[0]
  out = exp.model.apply({"params": init.params}, batch["image"], train=True)
  targets = optax.smooth_labels(jax.nn.one_hot(batch["label"], 10), 0.2)
  ce = lambda logits: float(optax.softmax_cross_entropy(logits, targets).mean())
  main, aux = ce(out["logits"]), ce(out["aux_logits"][0])
  assert_close(metrics["main_loss"], main, rtol=1e-6)
  assert_close(metrics["loss"], main + 0.3 * aux, rtol=1e-6)
  plain = float(optax.softmax_cross_entropy_with_integer_labels(out["logits"],
                                                                batch["label"]).mean())
  assert differ(main, plain, rel=1e-5)  # Near-uniform initial logits: a small change.


def test_moving_average_follows_the_parameters(config):
  devices = jax.devices()[:1]
  assert train.Experiment(config, devices=devices).init_state().ema == {}  # Off: no leaves.
  config.ema_decay = 0.75
  init, after, _ = _step(config, devices=devices)
  jax.tree.map(np.testing.assert_array_equal, init.ema["params"], init.params)  # A copy.
  expected = jax.tree.map(lambda e, p: 0.75 * e + 0.25 * p, init.ema["params"], after.params)
  assert_trees_close(after.ema["params"], expected, rtol=1e-6)


def test_float16_overflow_skips_the_step_and_lowers_the_scale(config):
  config.dtype = "float16"
  exp = train.Experiment(config, devices=jax.devices()[:1])
  state = exp.init_state()
  assert float(state.loss_scale.scale) == loss_scale.INITIAL_SCALE
  huge = state.replace(loss_scale=loss_scale.LossScale(
      scale=jnp.float32(3e38), good_steps=jnp.int32(5)))
  batch = sharding.to_global(exp.train_batches()[0], exp.mesh)
  before = jax.device_get(huge.params)
  after, metrics = exp.train_step(huge, batch)
  after, metrics = jax.device_get((after, metrics))
  assert float(metrics["skipped"]) == 1 and float(metrics["nonfinite"]) == 0
  assert np.isfinite(float(metrics["loss"]))
  jax.tree.map(np.testing.assert_array_equal, after.params, before)  # The step was skipped.
  assert int(after.step) == 1
  assert float(after.loss_scale.scale) == pytest.approx(1.5e38, rel=1e-6)
  assert int(after.loss_scale.good_steps) == 0
  state, metrics = exp.train_step(exp.init_state(), batch)
  assert float(metrics["skipped"]) == 0 and int(state.loss_scale.good_steps) == 1
  leaves = jax.tree.leaves(jax.device_get(state.params))
  assert all(leaf.dtype == np.float32 and np.all(np.isfinite(leaf)) for leaf in leaves)


def test_loss_scale_grows_after_an_interval_of_finite_steps():
  update = jax.jit(loss_scale.LossScale.update)
  scale = loss_scale.LossScale.create()
  for _ in range(loss_scale.GROWTH_INTERVAL - 1):
    scale = update(scale, jnp.bool_(True))
  assert float(scale.scale) == loss_scale.INITIAL_SCALE
  scale = update(scale, jnp.bool_(True))
  assert float(scale.scale) == 2 * loss_scale.INITIAL_SCALE and int(scale.good_steps) == 0
  scale = update(scale, jnp.bool_(False))
  assert float(scale.scale) == loss_scale.INITIAL_SCALE
