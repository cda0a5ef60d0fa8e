"""bf16 compute keeps float32 master parameters, optimizer state and loss."""

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
