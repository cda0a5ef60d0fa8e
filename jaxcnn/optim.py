"""Optimizers and learning-rate schedules from the config (optax)."""

import jax
import jax.numpy as jnp
import optax
from ml_collections import ConfigDict

from jaxcnn.errors import UserError


def make_schedule(config: ConfigDict, steps_per_epoch: int, total_steps: int) -> optax.Schedule:
  """Learning rate as a function of the step (before any plateau scaling)."""
  opt, sched = config.optimizer, config.schedule
  lr = opt.learning_rate
  warmup = int(round(sched.warmup_epochs * steps_per_epoch))
  if sched.name in ("constant", "plateau"):
    main = optax.constant_schedule(lr)
  elif sched.name == "multistep":
    boundaries = {int(round(e * steps_per_epoch)) - warmup: sched.decay_factor
                  for e in sched.boundaries_epochs}
    main = optax.piecewise_constant_schedule(lr, boundaries)
  elif sched.name == "cosine":
    main = optax.cosine_decay_schedule(lr, max(1, total_steps - warmup))
  else:
    raise UserError(f"Unknown schedule {sched.name!r}; use constant, multistep, "
                     "cosine or plateau.")
  if warmup <= 0:
    return main
  return optax.join_schedules(
      [optax.linear_schedule(0.0, lr, warmup), main], [warmup])


def make_plateau(config: ConfigDict) -> optax.GradientTransformationExtraArgs:
  """The papers' "divide by 10 when validation error stops improving".

  Fed once per evaluation with the top-1 error, never by the train step.
  """
  sched = config.schedule
  return optax.contrib.reduce_on_plateau(
      factor=sched.decay_factor, patience=sched.patience, rtol=0.0,
      atol=sched.plateau_atol, cooldown=0, accumulation_size=1)


def _decay_mask(params):
  # Kernels decay; biases and normalisation scales/offsets do not.
  return jax.tree.map(lambda p: p.ndim > 1, params)


def make_optimizer(config: ConfigDict, schedule: optax.Schedule) -> optax.GradientTransformation:
  """SGD with momentum (optionally Nesterov), AdamW or RMSProp, with weight decay, after
  clipping the gradients to ``config.grad_clip_norm`` when it is set.

  ``weight_decay_mode`` (SGD, RMSProp): "coupled" adds wd * w to the gradient before momentum
  (the form AlexNet and VGG used); "decoupled" applies lr * wd * w outside the momentum
  (Loshchilov & Hutter's SGDW). AdamW's decay is always decoupled: that is what it is.
  RMSProp is TensorFlow's, which Inception-v3 used: epsilon inside the square root, the mean
  square starting at 1, and momentum over the learning-rate-scaled steps.
  """
  opt = config.optimizer
  wd = opt.weight_decay
  if opt.name == "sgd":
    direction = optax.trace(decay=opt.momentum, nesterov=opt.nesterov)
  elif opt.name == "adamw":
    direction = optax.scale_by_adam(b1=opt.b1, b2=opt.b2, eps=opt.eps)
  elif opt.name == "rmsprop":
    direction = optax.scale_by_rms(decay=opt.decay, eps=opt.eps, initial_scale=1.0,
                                   eps_in_sqrt=True)
  else:
    raise UserError(f"Unknown optimizer {opt.name!r}; use sgd, adamw or rmsprop.")
  decay = optax.add_decayed_weights(wd, mask=_decay_mask) if wd else optax.identity()
  if opt.weight_decay_mode == "decoupled" or opt.name == "adamw":
    parts = [direction, decay]
  elif opt.weight_decay_mode == "coupled":
    parts = [decay, direction]
  else:
    raise UserError(f"Unknown weight_decay_mode {opt.weight_decay_mode!r}; use "
                     "coupled or decoupled.")
  parts.append(optax.scale_by_learning_rate(schedule))
  if opt.name == "rmsprop" and opt.momentum:
    parts.append(optax.trace(decay=opt.momentum, nesterov=opt.nesterov))
  if config.grad_clip_norm:  # Only when set: the optimizer state's layout stays as it was.
    parts.insert(0, optax.clip_by_global_norm(config.grad_clip_norm))
  return optax.chain(*parts)


def global_norm(tree) -> jax.Array:
  return optax.tree.norm(tree).astype(jnp.float32)
