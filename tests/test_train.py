import asyncio
import os
import threading

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn import checkpoint
from jaxcnn import sharding
from jaxcnn import steps
from jaxcnn import train
from tests.tolerance import assert_close, assert_trees_close


def _first_batch(exp):
  return exp.train_batches()[0]


def test_one_and_eight_devices_take_the_same_step(config):
  assert jax.device_count() == 8
  config.batch_size = 64
  results = []
  for devices in (jax.devices()[:1], jax.devices()):
    exp = train.Experiment(config, devices=devices)
    state = exp.init_state()
    batch = sharding.to_global(_first_batch(exp), exp.mesh)
    assert len(batch["image"].sharding.device_set) == len(devices)
    state, metrics = exp.train_step(state, batch)
    state, metrics = exp.train_step(state, sharding.to_global(exp.train_batches()[1], exp.mesh))
    results.append((jax.device_get(metrics), jax.device_get(state.params)))
  (m1, p1), (m8, p8) = results
  assert_close(m1["loss"], m8["loss"], rtol=1e-5)
  assert_close(m1["grad_norm"], m8["grad_norm"], rtol=1e-5)
  assert_trees_close(p1, p8, rtol=1e-4)


def test_second_step_does_not_recompile(config, monkeypatch):
  traces = []
  original = steps.train_step

  def counting_step(*args, **kwargs):
    traces.append(1)  # Runs only when jit traces, i.e. on a cache miss.
    return original(*args, **kwargs)

  monkeypatch.setattr(steps, "train_step", counting_step)
  exp = train.Experiment(config)
  state = exp.init_state()
  batches = exp.train_batches()
  for k in range(3):
    state, _ = exp.train_step(state, sharding.to_global(batches[k], exp.mesh))
  assert len(traces) == 1
  assert exp.train_step._cache_size() == 1


def test_the_initialisation_compiles_once_for_every_seed(config):
  """The seed reaches the compiled initialisation as data: seeds 0 and 1 lower to the same
  program (what lets a persistent compilation cache serve both) and give different weights."""
  exps = []
  for seed in (0, 1):
    c = config.copy_and_resolve_references()
    c.seed = seed
    exps.append(train.Experiment(c))
  programs = [e.init_fn().lower(e._rng).as_text() for e in exps]
  assert programs[0] == programs[1]
  kernels = [np.asarray(e.init_state().params["c1"]["kernel"]) for e in exps]
  assert not np.array_equal(*kernels)


def test_state_is_created_sharded_and_replicated(config):
  exp = train.Experiment(config)
  state = exp.init_state()
  kernel = state.params["c1"]["kernel"]
  assert kernel.sharding.is_fully_replicated
  assert len(kernel.sharding.device_set) == jax.device_count()


def test_checkpoint_round_trips_the_whole_state(config, tmp_path):
  config.schedule.name = "plateau"
  exp = train.Experiment(config)
  state = exp.init_state()
  batches = exp.train_batches()
  for k in range(3):
    state, _ = exp.train_step(state, sharding.to_global(batches[k], exp.mesh))
  state = exp.record_eval(state, jnp.float32(0.25))
  mngr = checkpoint.manager(str(tmp_path), keep=2)
  checkpoint.save(mngr, 3, state, config, metadata=exp.metadata())
  mngr.wait_until_finished()
  restored = checkpoint.restore(mngr, 3, exp.abstract_state)
  leaves, tree = jax.tree.flatten(state)
  r_leaves, r_tree = jax.tree.flatten(restored)
  assert tree == r_tree and len(leaves) > 10
  for a, b in zip(leaves, r_leaves):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  assert int(restored.step) == 3 and float(restored.plateau.best_value) == 0.25
  assert checkpoint.restore_config(mngr, 3)["optimizer"]["learning_rate"] == \
      config.optimizer.learning_rate
  assert checkpoint.restore_metadata(mngr, 3) == exp.metadata()


def test_an_asynchronous_save_writes_the_state_it_was_given(config, tmp_path, monkeypatch):
  from orbax.checkpoint._src.serialization import serialization
  release, write = threading.Event(), serialization.async_serialize_from_host

  async def held(*args, **kwargs):  # The arrays are written only once the steps below ran.
    await asyncio.to_thread(release.wait)
    return await write(*args, **kwargs)
  monkeypatch.setattr(serialization, "async_serialize_from_host", held)
  exp = train.Experiment(config)
  state, batches = exp.init_state(), exp.train_batches()
  state, _ = exp.train_step(state, sharding.to_global(batches[0], exp.mesh))
  expected = jax.tree.map(np.array, state)  # Copies, not views of the buffers donated below.
  mngr = checkpoint.manager(str(tmp_path), keep=2, async_save=True)
  try:
    checkpoint.save(mngr, 1, state, config, metadata=exp.metadata())
    for k in range(1, 3):  # Each step is given the saved state to donate to its result.
      state, _ = exp.train_step(state, sharding.to_global(batches[k], exp.mesh))
    jax.block_until_ready(state)
    assert mngr.all_steps() == [1] and not (tmp_path / "checkpoints" / "1").exists()
  finally:
    release.set()
  restored = checkpoint.restore(mngr, 1, exp.abstract_state)
  for a, b in zip(jax.tree.leaves(expected), jax.tree.leaves(restored), strict=True):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("async_save", [False, True])
def test_checkpoints_keep_the_last_k_plus_the_best_by_validation(config, tmp_path, async_save):
  exp = train.Experiment(config)
  state = exp.init_state()
  assert checkpoint.best_metric(config) is None  # No validation split: no best kept.
  config.train_split, config.validation_split = "train[:-100]", "train[-100:]"
  assert checkpoint.best_metric(config) == "val/top1"
  val = {1: 0.5, 2: 0.9, 3: 0.6, 4: 0.7, 5: 0.65}
  test = {1: 0.95, 2: 0.1, 3: 0.1, 4: 0.1, 5: 0.1}  # Never chooses.
  kept = {}
  for best in (None, "val/top1"):
    mngr = checkpoint.manager(str(tmp_path / str(best)), keep=2, best_metric=best,
                              async_save=async_save)
    for step, top1 in val.items():
      checkpoint.save(mngr, step, state, config, {"val/top1": top1, "eval/top1": test[step]},
                      metadata=exp.metadata())
    mngr.wait_until_finished()
    kept[best] = sorted(mngr.all_steps())
    on_disk = sorted(int(d) for d in os.listdir(tmp_path / str(best) / "checkpoints"))
    assert on_disk == kept[best]
  assert kept == {None: [4, 5], "val/top1": [2, 4, 5]}


def test_eval_step_counts_exactly_with_padding():
  logits = np.array([[5, 4, 3, 2, 1, 0, 0],    # label 0: top-1 hit
                     [5, 4, 3, 2, 1, 0, 0],    # label 4: top-5 hit only
                     [5, 4, 3, 2, 1, 0, 0],    # label 6: miss
                     [0, 9, 0, 0, 0, 0, 0]],   # padding row, label 2
                    np.float32)
  batch = {"image": logits, "label": np.array([0, 4, 6, 2]),
           "mask": np.array([1, 1, 1, 0], np.float32)}

  class State:
    params, batch_stats = {}, {}
    apply_fn = staticmethod(lambda variables, x, train: jnp.asarray(x))

  out = jax.device_get(steps.eval_step(State, batch))
  assert out["count"] == 3 and out["top1"] == 1 and out["top5"] == 2
  log_z = np.log(np.exp(logits[0]).sum())
  assert_close(out["loss"], 3 * log_z - (5 + 1 + 0), rtol=1e-5)


def test_evaluate_covers_the_whole_split(config):
  exp = train.Experiment(config)
  result = exp.evaluate(exp.init_state())
  assert result["eval/count"] == 300  # 128 + 128 + 44 real rows of a padded last batch.
  assert 0.0 <= result["eval/top1"] <= result["eval/top5"] <= 1.0


def test_batch_not_divisible_by_devices_is_a_user_error(config):
  config.batch_size = 30
  with pytest.raises(train.UserError, match="multiple of the 8 devices"):
    train.Experiment(config)


def test_batchnorm_statistics_are_over_the_global_batch(config, monkeypatch):
  import flax.linen as nn
  from jaxcnn import models

  class BNNet(nn.Module):
    num_classes: int = 10
    input_size: int = 28
    width: float = 1.0
    dtype: str = "float32"
    ops: object = None  # Its convs are flax's own whatever the config says.

    @nn.compact
    def __call__(self, x, *, train):
      x = nn.Conv(4, (3, 3), name="conv")(x)
      x = nn.BatchNorm(use_running_average=not train, momentum=0.5, name="bn")(x)
      return nn.Dense(self.num_classes, name="head")(x.mean(axis=(1, 2)))

  monkeypatch.setitem(models.MODELS, "bn_test", BNNet)
  config.model = "bn_test"
  config.batch_size = 64
  stats = []
  for devices in (jax.devices()[:1], jax.devices()):
    exp = train.Experiment(config, devices=devices)
    state, _ = exp.train_step(exp.init_state(),
                              sharding.to_global(exp.train_batches()[0], exp.mesh))
    stats.append(jax.device_get(state.batch_stats))
  assert_trees_close(*stats, rtol=1e-5)
  # Running mean moved half-way from 0 towards the batch mean: non-trivial statistics.
  assert np.abs(stats[0]["bn"]["mean"]).max() > 1e-3


def test_batches_go_to_the_devices_ahead_of_the_step():
  mesh = sharding.make_mesh()
  pulled = []

  def local():
    try:
      for k in range(5):
        pulled.append(k)
        yield {"image": np.full((8, 2), k, np.float32)}
    finally:
      pulled.append("closed")

  batches = sharding.on_device(local(), mesh, ahead=2)
  first = next(batches)
  assert pulled == [0, 1, 2]  # The next two batches' transfers are already issued.
  assert isinstance(first["image"], jax.Array)
  assert first["image"].sharding == sharding.batch_sharding(mesh)
  assert [int(b["image"][0, 0]) for b in batches] == [1, 2, 3, 4]
  assert pulled[-1] == "closed"
  early = sharding.on_device(local(), mesh, ahead=2)
  next(early)
  early.close()  # Training stopped: the host pipeline is closed with it.
  assert pulled[-1] == "closed"
