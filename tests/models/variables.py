"""Model variables filled by numpy, for tests that need values but not flax's initialisers."""

import flax.linen as nn
import jax
import numpy as np


def random_variables(model, x, train=False, seed=0):
  """model.init's variables filled by numpy: zero biases and BN means, unit BN scales and
  variances, He-scaled normal values for every other parameter (kernels, LeNet's coefficients).

  flax's initialisers compile once per shape, which costs seconds each on XLA:CPU; only the
  shapes are traced here.
  """
  rng = np.random.default_rng(seed)
  rngs = {"params": jax.random.key(0), "dropout": jax.random.key(1)}
  shapes = nn.unbox(jax.eval_shape(lambda: model.init(rngs, x, train=train)))

  def fill(path, leaf):
    name = path[-1].key
    if name in ("bias", "mean"):
      return np.zeros(leaf.shape)
    if name in ("scale", "var"):
      return np.ones(leaf.shape)
    return rng.standard_normal(leaf.shape) * np.sqrt(2 / max(1, np.prod(leaf.shape[:-1])))

  return jax.tree_util.tree_map_with_path(lambda p, l: fill(p, l).astype(np.float32), shapes)


def randomize_batch_norm(model, torch):
  """Gives a torch model's BatchNorm layers non-trivial affine parameters and statistics."""
  gen = torch.Generator().manual_seed(1)
  with torch.no_grad():
    for m in model.modules():
      if isinstance(m, torch.nn.BatchNorm2d):
        m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
        m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
        m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen) * 0.1)
        m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)
