"""config.init_from: a new run starting from another run's or an imported checkpoint."""

import jax
import numpy as np
import pytest

from jaxcnn import checkpoint
from jaxcnn import finetune
from jaxcnn import loading
from jaxcnn import train
from jaxcnn.errors import UserError
from tests.tolerance import assert_close


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
