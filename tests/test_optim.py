import jax
import jax.numpy as jnp
import optax
import pytest

from jaxcnn import optim
from jaxcnn.config import base_config
from tests.tolerance import assert_close


def config_with(**schedule):
  c = base_config()
  c.optimizer.learning_rate = 0.1
  for k, v in schedule.items():
    c.schedule[k] = v
  return c


def test_multistep_divides_by_ten_at_the_given_epochs():
  sched = optim.make_schedule(config_with(name="multistep", boundaries_epochs=(2, 3)),
                              steps_per_epoch=10, total_steps=40)
  # Products of a few float32 factors: each value within a few ulps of its own size.
  assert [float(sched(s)) for s in (0, 19, 20, 29, 30, 39)] == pytest.approx(
      [0.1, 0.1, 0.01, 0.01, 0.001, 0.001], rel=1e-6)


def test_cosine_with_warmup():
  sched = optim.make_schedule(config_with(name="cosine", warmup_epochs=1.0),
                              steps_per_epoch=10, total_steps=110)
  # 0 * lr is exact; the rest are float32 values a few roundings from the ones written.
  assert float(sched(0)) == 0.0 and float(sched(5)) == pytest.approx(0.05, rel=1e-6)
  assert float(sched(10)) == pytest.approx(0.1, rel=1e-6)
  assert float(sched(60)) == pytest.approx(0.05, abs=1e-6)  # Half-way through the cosine.
  assert float(sched(110)) == pytest.approx(0.0, abs=1e-7)


def test_plateau_divides_by_ten_after_patience_evaluations_without_improvement():
  plateau = optim.make_plateau(config_with(name="plateau", patience=2))
  state = plateau.init(None)
  scales = []
  for error in (0.5, 0.4, 0.41, 0.40, 0.39, 0.45, 0.46):
    _, state = plateau.update((), state, value=jnp.float32(error))
    scales.append(float(state.scale))
  assert scales == pytest.approx([1, 1, 1, 0.1, 0.1, 0.1, 0.01], rel=1e-6)  # float32 products.


@pytest.mark.parametrize("mode", ["coupled", "decoupled"])
def test_weight_decay_forms(mode):
  c = base_config()
  c.optimizer.learning_rate, c.optimizer.momentum, c.optimizer.weight_decay = 0.1, 0.9, 0.01
  c.optimizer.weight_decay_mode = mode
  tx = optim.make_optimizer(c, optax.constant_schedule(0.1))
  params = {"kernel": jnp.full((2, 2), 2.0), "bias": jnp.full((2,), 2.0)}
  grads = jax.tree.map(jnp.ones_like, params)
  state = tx.init(params)
  u1, state = tx.update(grads, state, params)
  u2, state = tx.update(grads, state, params)
  # Biases are not decayed: plain momentum, -lr * (1) then -lr * (0.9 + 1).
  assert_close(u2["bias"], -0.1 * 1.9, rtol=1e-6)
  if mode == "coupled":   # Decay enters the momentum buffer: v = 0.9 v + (g + wd w).
    expected = -0.1 * (0.9 * 1.02 + 1.02)
  else:                   # Decay is added after momentum: -lr (v + wd w).
    expected = -0.1 * (1.9 + 0.02)
  assert_close(u2["kernel"], expected, rtol=1e-6)
