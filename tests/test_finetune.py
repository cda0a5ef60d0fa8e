"""config.init_from: a new run starting from another run's or an imported checkpoint."""

import jax
import ml_collections
import numpy as np
import pytest

from jaxcnn import checkpoint
from jaxcnn import finetune
from jaxcnn import loading
from jaxcnn import train
from jaxcnn.errors import UserError
from tests.tolerance import assert_close, differ


def _import(config, workdir, num_classes, channels, params=None):
  """A step-0 checkpoint of another task, as jaxcnn.tools.convert writes one."""
  exp = train.Experiment(config, train=False, num_classes=num_classes,
                         input_shape=(28, 28, channels), devices=jax.devices()[:1])
  state = exp.init_state()
  if params:
    state = state.replace(params={**state.params, **params})
  mngr = checkpoint.manager(str(workdir), keep=1)
  checkpoint.save(mngr, 0, state, config, metadata=exp.metadata())
  mngr.wait_until_finished()
  return jax.device_get(state.params)


def test_the_head_is_replaced_and_the_rest_fine_tunes(trained_run, config, tmp_path, capsys):
  # A 7-class network whose features were learnt on these images: the trained run's layers
  # below its classifier.
  body = {k: v for k, v in loading.load_run(trained_run[0]).variables["params"].items()
          if k != "output"}
  source = _import(config, tmp_path / "source", num_classes=7, channels=1, params=body)

  exp = train.Experiment(config, train=False)
  fresh = exp.init_state()
  state, report = finetune.initialize(fresh, config, exp.input_shape, str(tmp_path / "source"),
                                      exp.state_sharding)
  assert report.startswith(f"Initialised from {tmp_path / 'source'} (step 0, lenet5_modern): "
                           "copied 8 of 10 arrays; re-initialised the classifier head (")
  assert "output/kernel (42, 7) -> (42, 10)" in report and "output/bias (7,) -> (10,)" in report
  for name in ("c1", "c3", "c5", "f6"):
    jax.tree.map(np.testing.assert_array_equal, state.params[name], source[name])
  jax.tree.map(np.testing.assert_array_equal, state.params["output"], fresh.params["output"])
  assert state.params["c1"]["kernel"].sharding == fresh.params["c1"]["kernel"].sharding
  assert int(state.step) == 0

  # Twelve steps from those features against twelve from scratch.
  scratch = train.train_and_evaluate(config, str(tmp_path / "scratch"))
  config.init_from = str(tmp_path / "source")
  tuned = train.train_and_evaluate(config, str(tmp_path / "tuned"))
  assert "re-initialised the classifier head" in capsys.readouterr().out
  # Measured: 1.0 against 0.27.
  assert tuned["eval/top1"] > 0.9 and tuned["eval/top1"] > scratch["eval/top1"] + 0.3

  # Resuming wins over init_from.
  config.num_train_steps = 16
  train.train_and_evaluate(config, str(tmp_path / "tuned"), allow_config_change=True)
  out = capsys.readouterr().out
  assert "Resuming from the checkpoint at step 12" in out and "Initialised" not in out


def test_an_rgb_first_layer_is_summed_for_grayscale_input(config, tmp_path):
  source = _import(config, tmp_path, num_classes=10, channels=3)
  exp = train.Experiment(config, train=False)
  state, report = finetune.initialize(exp.init_state(), config, exp.input_shape, str(tmp_path),
                                      exp.state_sharding)
  assert "copied 10 of 10 arrays; summed c1 over its RGB input channels" in report
  assert_close(state.params["c1"]["kernel"], source["c1"]["kernel"].sum(axis=2, keepdims=True),
               rtol=1e-6)


def test_another_architecture_or_a_missing_source_is_an_error(config, tmp_path):
  wide = config.copy_and_resolve_references()
  wide.width = 1.0
  _import(wide, tmp_path / "wide", num_classes=10, channels=1)
  exp = train.Experiment(config, train=False)  # width 0.5
  with pytest.raises(UserError, match=r"does not fit this config's lenet5_modern beyond the "
                     r"classifier head: params/c1/bias: \(6,\) there, \(3,\) here"):
    finetune.initialize(exp.init_state(), config, exp.input_shape, str(tmp_path / "wide"),
                        exp.state_sharding)
  with pytest.raises(UserError, match=r"config.init_from=.*nowhere: No such directory"):
    finetune.initialize(exp.init_state(), config, exp.input_shape, str(tmp_path / "nowhere"),
                        exp.state_sharding)


def _vgg(config, model):
  """A narrow VGG of Table 1 on the synthetic images padded to 32x32 (a 1x1 map after the
  five pools)."""
  c = config.copy_and_resolve_references()
  c.model, c.width = model, 0.125
  c.model_kwargs = ml_collections.ConfigDict({"hidden": 16})
  c.data.image_size = 32
  return c


def test_vgg_b_starts_from_a_trained_a_as_the_paper_did(config, tmp_path):
  a = _vgg(config, "vgg_a")
  a.seed = 1  # Flax draws a layer's initial values from the seed and its name: B's differ.
  exp_a = train.Experiment(a, train=False, num_classes=10, input_shape=(32, 32, 1),
                           devices=jax.devices()[:1])
  mngr = checkpoint.manager(str(tmp_path / "a"), keep=1)
  checkpoint.save(mngr, 0, exp_a.init_state(), a, metadata=exp_a.metadata())
  mngr.wait_until_finished()
  source = loading.load_run(str(tmp_path / "a")).variables["params"]

  b = _vgg(config, "vgg_b")
  exp = train.Experiment(b, train=False)
  fresh = exp.init_state()
  # Without a layer mapping, B does not fit A (it has conv1_2 and conv2_2, A has not).
  with pytest.raises(UserError, match=r"params/conv1_2/bias \(8,\) is not in it"):
    finetune.initialize(fresh, b, exp.input_shape, str(tmp_path / "a"), exp.state_sharding)

  b.init_from_layers = "vgg_a"
  state, report = finetune.initialize(fresh, b, exp.input_shape, str(tmp_path / "a"),
                                      exp.state_sharding)
  # Sec. 3.1: the first four convs and the three FC layers are A's; the others are B's own.
  for name in ("conv1_1", "conv2_1", "conv3_1", "conv3_2", "fc6", "fc7", "fc8"):
    jax.tree.map(np.testing.assert_array_equal, state.params[name], source[name])
    assert differ(state.params[name]["kernel"], fresh.params[name]["kernel"])
  for name in ("conv1_2", "conv2_2", "conv4_1", "conv4_2", "conv5_1", "conv5_2"):
    jax.tree.map(np.testing.assert_array_equal, state.params[name], fresh.params[name])
  # conv4_1 has the same shape in both nets: it was left fresh, not copied.
  assert differ(state.params["conv4_1"]["kernel"], source["conv4_1"]["kernel"])
  assert "copied 14 of 26 arrays (config.init_from_layers; 12 arrays of conv1_2, conv2_2, " \
         "conv4_1, conv4_2, conv5_1, conv5_2 keep their fresh initialisation)." in report

  # A layer from another name: B's conv5_1 (512 -> 512 maps at full width) from A's conv4_2.
  b.init_from_layers = "conv5_1=conv4_2"
  state, report = finetune.initialize(fresh, b, exp.input_shape, str(tmp_path / "a"),
                                      exp.state_sharding)
  jax.tree.map(np.testing.assert_array_equal, state.params["conv5_1"], source["conv4_2"])
  jax.tree.map(np.testing.assert_array_equal, state.params["fc6"], fresh.params["fc6"])
  for spec, where in (("conv9_9", "this network"), ("conv1_2=conv9_9", str(tmp_path / "a"))):
    b.init_from_layers = spec
    with pytest.raises(UserError, match=f"names conv9_9, not a layer of {where}.*conv1_1"):
      finetune.initialize(fresh, b, exp.input_shape, str(tmp_path / "a"), exp.state_sharding)
