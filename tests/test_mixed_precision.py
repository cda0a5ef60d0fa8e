"""bfloat16 and float16 compute keep float32 master parameters, optimizer state and loss;
float16 scales the loss."""

import json

import jax
import jax.numpy as jnp
import numpy as np

from jaxcnn import sharding
from jaxcnn import train


def _one_step(config):
  exp = train.Experiment(config, num_classes=10, input_shape=(28, 28, 1))
  rng = np.random.default_rng(0)
  batch = {"image": rng.standard_normal((config.batch_size, 28, 28, 1), np.float32),
           "label": rng.integers(0, 10, config.batch_size).astype(np.int32)}
  state = exp.init_state()
  return exp.train_step(state, sharding.to_global(batch, exp.mesh))


def test_bfloat16_step_keeps_float32_state(config):
  config.dtype = "float32"
  _, metrics32 = _one_step(config)
  config.dtype = "bfloat16"
  state, metrics = _one_step(config)
  dtypes = {leaf.dtype for leaf in jax.tree.leaves((state.params, state.opt_state))
            if jnp.issubdtype(leaf.dtype, jnp.floating)}
  assert dtypes == {jnp.dtype(jnp.float32)}
  assert metrics["loss"].dtype == jnp.float32
  # Same initial parameters and batch: bf16's 8-bit mantissa moves the loss (~2.3) by < 1%.
  assert abs(float(metrics["loss"]) - float(metrics32["loss"])) < 0.02
  assert float(metrics["nonfinite"]) == 0.0


def test_float16_trains_lenet5_with_loss_scaling(config, tmp_path):
  config.dtype = "float16"
  workdir = str(tmp_path / "run")
  result = train.train_and_evaluate(config, workdir)
  with open(f"{workdir}/metrics.jsonl") as f:
    logged = [json.loads(line) for line in f if "train/loss" in line]
  assert len(logged) == 3 and all(np.isfinite(r["train/loss"]) for r in logged)
  assert all(r["train/loss_scale"] > 0 for r in logged)
  assert sum(r["train/skipped_steps"] for r in logged) < 12  # Most steps were taken.
  assert logged[-1]["train/loss"] < logged[0]["train/loss"]
  assert np.isfinite(result["eval/loss"])
