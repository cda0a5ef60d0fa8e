"""Dynamic loss scaling for float16 compute.

float16's smallest normal number is 6e-5: small gradients flowing back through float16
activations would flush to zero. The loss is multiplied by ``scale`` before differentiation
and the float32 gradients divided by it after; a step whose gradients overflow is skipped and
the scale halved, and after ``GROWTH_INTERVAL`` finite steps in a row it is doubled. This is
flax.training.dynamic_scale's algorithm with its constants, written out because flax's wraps a
single value_and_grad, while the micro-batches of an accumulated step (grad_accum_steps) share
one scale and one decision.
"""

import jax
import jax.numpy as jnp
from flax import struct

INITIAL_SCALE = 2.0 ** 15
GROWTH_INTERVAL = 2000
GROWTH_FACTOR, BACKOFF_FACTOR = 2.0, 0.5


class LossScale(struct.PyTreeNode):
  scale: jax.Array  # float32
  good_steps: jax.Array  # int32: finite steps since the scale last changed.

  @classmethod
  def create(cls) -> "LossScale":
    return cls(scale=jnp.float32(INITIAL_SCALE), good_steps=jnp.int32(0))

  def unscale(self, grads):
    """The gradients of ``scale * loss``, divided back to those of the loss (float32)."""
    return jax.tree.map(lambda g: g.astype(jnp.float32) / self.scale, grads)

  def update(self, finite: jax.Array) -> "LossScale":
    """The scale after a step whose gradients were ``finite`` (or overflowed)."""
    grow = finite & (self.good_steps + 1 >= GROWTH_INTERVAL)
    top = jnp.finfo(jnp.float32).max
    scale = jnp.where(finite, jnp.where(grow, jnp.minimum(self.scale * GROWTH_FACTOR, top),
                                        self.scale),
                      jnp.maximum(self.scale * BACKOFF_FACTOR, jnp.finfo(jnp.float32).tiny))
    good = jnp.where(finite & ~grow, self.good_steps + 1, 0).astype(jnp.int32)
    return self.replace(scale=scale.astype(jnp.float32), good_steps=good)
