"""Training procedures end to end: the validation split, the moving average, resuming with
every optional piece of state, profiling."""

import glob
import json
import os

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

import jaxcnn
from jaxcnn import checkpoint
from jaxcnn import preemption
from jaxcnn import train
from jaxcnn.data import pipeline
from jaxcnn.data import sources
from jaxcnn.errors import UserError
from tests.tolerance import assert_close, differ


def rows(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [json.loads(line) for line in f]


def saved_state(workdir, step):
  return ocp.StandardCheckpointer().restore(
      os.path.join(workdir, "checkpoints", str(step), "state"))


def test_validation_split_is_logged_and_decides_the_plateau(config, tmp_path):
  config.train_split, config.validation_split = "train[:-128]", "train[-128:]"
  config.schedule.name = "plateau"
  workdir = str(tmp_path / "run")
  result = train.train_and_evaluate(config, workdir)
  assert result["val/count"] == 128 and result["eval/count"] == 300
  evals = [r for r in rows(workdir) if "eval/top1" in r]
  assert len(evals) == 1 and {"val/top1", "val/loss", "val/top5"} <= set(evals[0])
  assert evals[0]["val/top1"] == result["val/top1"]
  # The plateau's record is the validation error, not the test error.
  plateau = saved_state(workdir, 12)["plateau"]
  assert float(plateau["best_value"]) == np.float32(1.0 - result["val/top1"])
  # The held-out examples were not trained on: 896 training images, 28 steps of 32 an epoch.
  assert train.Experiment(config).steps_per_epoch == 28


@pytest.mark.parametrize("validation, message", [
    ("test[:100]", r"validation_split='test\[:100\]' shares 100 examples with eval_split"),
    ("train[-100:]", r"validation_split='train\[-100:\]' shares 100 examples with train_split"),
])
def test_a_validation_split_overlapping_the_test_or_training_data_is_refused(
    config, tmp_path, validation, message):
  config.validation_split = validation
  with pytest.raises(UserError, match=message):
    train.train_and_evaluate(config, str(tmp_path / "run"))
  assert not os.path.exists(tmp_path / "run" / "checkpoints")


def test_moving_average_is_evaluated_and_loaded(config, tmp_path, data_dir):
  plain = train.Experiment(config)  # A checkpoint of a run without the average.
  mngr = checkpoint.manager(str(tmp_path / "plain"), keep=1)
  checkpoint.save(mngr, 0, plain.init_state(), config, metadata=plain.metadata())
  mngr.wait_until_finished()
  with pytest.raises(UserError, match="no moving average .* ema_decay=0"):
    jaxcnn.load(str(tmp_path / "plain"), ema=True)
  config.ema_decay = 0.8
  workdir = str(tmp_path / "run")
  result = train.train_and_evaluate(config, workdir)
  assert {"eval/ema_top1", "eval/ema_top5", "eval/ema_loss"} <= set(result)
  state = saved_state(workdir, 12)
  _, averaged, _ = jaxcnn.load(workdir, ema=True)
  _, variables, _ = jaxcnn.load(workdir)
  jax.tree.map(np.testing.assert_array_equal, averaged["params"], state["ema"]["params"])
  jax.tree.map(np.testing.assert_array_equal, variables["params"], state["params"])
  assert differ(averaged["params"]["c1"]["kernel"], variables["params"]["c1"]["kernel"])
  # The averaged variables reproduce the run's evaluation of them.
  model, _, loaded_config = jaxcnn.load(workdir, ema=True)
  test = sources.load("fashion_mnist", ("test",), data_dir).splits["test"]
  images = pipeline.make_preprocess(loaded_config.data, train=False)(test[np.arange(len(test))])
  logits = model.apply(averaged, images["image"], train=False)
  assert_close(np.mean(np.argmax(logits, -1) == test.labels), result["eval/ema_top1"])


class StopAt(preemption.StopRequest):
  """A SIGTERM that arrives at ``step``."""

  def __init__(self, step):
    super().__init__()
    self.step = step

  def should_stop(self, step):
    self.signal_name = "SIGTERM" if step == self.step else None
    return step == self.step


def test_every_optional_state_resumes_exactly(config, tmp_path):
  """The moving average, accumulation, clipping, RMSProp's and float16's states, checkpointed
  at a stop and resumed, give the uninterrupted run's parameters bit for bit."""
  config.ema_decay, config.grad_accum_steps, config.grad_clip_norm = 0.9, 2, 1.0
  config.optimizer.name, config.optimizer.learning_rate = "rmsprop", 0.01
  config.label_smoothing, config.dtype = 0.1, "float16"
  config.checkpoint_every_steps = 100
  straight, stopped = str(tmp_path / "straight"), str(tmp_path / "stopped")
  train.train_and_evaluate(config, straight)
  # Stopped where the run logs anyway: the logged windows are the uninterrupted run's.
  assert train.train_and_evaluate(config, stopped, stop=StopAt(8)) is None
  train.train_and_evaluate(config, stopped)
  a, b = saved_state(straight, 12), saved_state(stopped, 12)
  for key in ("params", "ema", "opt_state", "loss_scale"):
    jax.tree.map(np.testing.assert_array_equal, a[key], b[key])
  train_rows = lambda w: [{k: v for k, v in r.items() if k != "train/images_per_s"}
                          for r in rows(w)]
  assert train_rows(straight) == train_rows(stopped)
  assert all("train/skipped_steps" in r for r in rows(straight) if "train/loss" in r)


def test_profile_steps_write_a_trace(config, tmp_path):
  probe = str(tmp_path / "probe")
  try:
    jax.profiler.start_trace(probe)
    jax.profiler.stop_trace()
  except (RuntimeError, ImportError, OSError) as e:  # This jaxlib has no profiler.
    pytest.skip(f"jax.profiler is unavailable: {e}")
  config.num_train_steps, config.profile_steps = 3, (1, 3)
  workdir = str(tmp_path / "run")
  train.train_and_evaluate(config, workdir)
  traces = glob.glob(os.path.join(workdir, "profile", "plugins", "profile", "*", "*.xplane.pb"))
  assert traces and os.path.getsize(traces[0]) > 0
