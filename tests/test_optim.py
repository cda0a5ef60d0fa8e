import jax
import jax.numpy as jnp
import numpy as np
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


def _updates(config, grads_seq, params):
  tx = optim.make_optimizer(config, optax.constant_schedule(config.optimizer.learning_rate))
  state = tx.init(params)
  out = []
  for grads in grads_seq:
    u, state = tx.update(grads, state, params)
    out.append(u)
  return out, state


PARAMS = {"kernel": jnp.array([[1.0, -2.0], [0.5, 3.0]]), "bias": jnp.array([0.5, -1.0])}
GRADS = [jax.tree.map(lambda p, k=k: jnp.cos(p * (k + 1)) * 2.0, PARAMS) for k in range(3)]


def test_adamw_is_optax_adamw_with_the_kernel_mask():
  c = base_config()  # weight_decay_mode stays "coupled": AdamW's decay is decoupled anyway.
  c.optimizer.name, c.optimizer.learning_rate, c.optimizer.weight_decay = "adamw", 0.1, 0.01
  c.optimizer.b1, c.optimizer.b2, c.optimizer.eps = 0.8, 0.99, 1e-6
  ours, _ = _updates(c, GRADS, PARAMS)
  reference = optax.adamw(0.1, b1=0.8, b2=0.99, eps=1e-6, weight_decay=0.01,
                          mask=lambda p: jax.tree.map(lambda x: x.ndim > 1, p))
  state = reference.init(PARAMS)
  for u, g in zip(ours, GRADS):
    r, state = reference.update(g, state, PARAMS)
    jax.tree.map(lambda a, b: assert_close(a, b, rtol=1e-6), u, r)


def test_rmsprop_is_tensorflows():
  """ms starts at 1; ms = decay ms + (1 - decay) g^2; mom = m mom + lr g / sqrt(ms + eps);
  the step is -mom (TensorFlow's RMSPropOptimizer, with which Inception-v3 trained)."""
  c = base_config()
  c.optimizer.name, c.optimizer.learning_rate, c.optimizer.weight_decay = "rmsprop", 0.1, 0.0
  c.optimizer.decay, c.optimizer.eps, c.optimizer.momentum = 0.9, 1.0, 0.9
  ours, _ = _updates(c, GRADS, PARAMS)
  ms = jax.tree.map(jnp.ones_like, PARAMS)
  mom = jax.tree.map(jnp.zeros_like, PARAMS)
  for u, g in zip(ours, GRADS):
    ms = jax.tree.map(lambda s, g: 0.9 * s + 0.1 * g * g, ms, g)
    mom = jax.tree.map(lambda m, s, g: 0.9 * m + 0.1 * g / jnp.sqrt(s + 1.0), mom, ms, g)
    jax.tree.map(lambda a, b: assert_close(a, -b, rtol=1e-6), u, mom)


def test_rmsprop_matches_tensorflow_s_own_optimizer():
  """TensorFlow's tf.compat.v1.train.RMSPropOptimizer (the optimizer Inception-v3 trained
  with, its mean square starting at ones) on the same gradients gives the same parameters."""
  tf = pytest.importorskip("tensorflow")
  c = base_config()
  c.optimizer.name, c.optimizer.learning_rate, c.optimizer.weight_decay = "rmsprop", 0.1, 0.0
  c.optimizer.decay, c.optimizer.eps, c.optimizer.momentum = 0.9, 1.0, 0.9
  ours, _ = _updates(c, GRADS, PARAMS)
  variables = {k: tf.Variable(np.asarray(v)) for k, v in PARAMS.items()}
  opt = tf.compat.v1.train.RMSPropOptimizer(0.1, decay=0.9, momentum=0.9, epsilon=1.0)
  for grads in GRADS:
    opt.apply_gradients([(tf.constant(np.asarray(grads[k])), variables[k]) for k in variables])
  for k, v in variables.items():
    moved = PARAMS[k] + sum(u[k] for u in ours)
    assert_close(moved, v.numpy(), rtol=1e-6)
  assert_close(opt.get_slot(variables["bias"], "rms").numpy(), 0.9 ** 3 + 0.1 * sum(
      0.9 ** (2 - i) * np.asarray(g["bias"]) ** 2 for i, g in enumerate(GRADS)), rtol=1e-6)


def test_gradient_clipping_by_global_norm():
  c = base_config()
  c.optimizer.learning_rate, c.optimizer.momentum, c.optimizer.weight_decay = 0.1, 0.0, 0.0
  grads = {"kernel": jnp.full((2, 2), 3.0), "bias": jnp.full((2,), 4.0)}  # Norm sqrt(68).
  (plain,), state = _updates(c, [grads], PARAMS)
  assert len(state) == 3  # sgd's layout as before clipping existed (checkpoints restore).
  c.grad_clip_norm = 2.0
  (clipped,), state = _updates(c, [grads], PARAMS)
  assert len(state) == 4
  scale = 2.0 / np.sqrt(68.0)
  jax.tree.map(lambda a, b: assert_close(a, b * scale, rtol=1e-6), clipped, plain)
  c.grad_clip_norm = 100.0  # Above the norm: untouched.
  (unclipped,), _ = _updates(c, [grads], PARAMS)
  jax.tree.map(lambda a, b: assert_close(a, b, rtol=1e-6), unclipped, plain)


def test_unknown_optimizer_is_refused_by_name():
  from jaxcnn import config as config_lib
  from jaxcnn.errors import UserError
  c = base_config()
  c.optimizer.name = "lamb"
  with pytest.raises(UserError, match="optimizer.name='lamb' must be one of sgd, adamw, "
                     "rmsprop"):
    config_lib.validate(c)
