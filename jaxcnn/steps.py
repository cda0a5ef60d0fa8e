"""Pure train and eval steps. No side effects: the loop jit-compiles them with shardings."""

import jax
import jax.numpy as jnp
import optax

from jaxcnn import optim
from jaxcnn.state import TrainState


def _variables(params, batch_stats):
  return {"params": params, "batch_stats": batch_stats} if batch_stats else {"params": params}


def _cross_entropy(logits, labels, smoothing: float = 0.0):
  logits = logits.astype(jnp.float32)
  if not smoothing:
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
  targets = optax.smooth_labels(jax.nn.one_hot(labels, logits.shape[-1]), smoothing)
  return optax.softmax_cross_entropy(logits, targets).mean()


def _gradients(state: TrainState, params, batch_stats, batch, rng, *, aux_loss_weight: float,
               label_smoothing: float):
  """Gradients of the loss on ``batch`` (of the scaled loss under float16's loss scaling),
  with (loss, main loss, correct top-1 count, new batch_stats)."""

  def loss_fn(params):
    out, updates = state.apply_fn(
        _variables(params, batch_stats), batch["image"], train=True,
        rngs={"dropout": rng}, mutable=["batch_stats"])
    logits, aux_logits = (out["logits"], out["aux_logits"]) if isinstance(out, dict) else (out, ())
    main = _cross_entropy(logits, batch["label"], label_smoothing)
    aux = sum((_cross_entropy(a, batch["label"], label_smoothing) for a in aux_logits),
              jnp.float32(0.0))
    loss = main + aux_loss_weight * aux
    scaled = loss * state.loss_scale.scale if state.loss_scale else loss
    correct = jnp.sum(jnp.argmax(logits, -1) == batch["label"]).astype(jnp.float32)
    return scaled, (loss, main, correct, updates.get("batch_stats", batch_stats))

  return jax.grad(loss_fn, has_aux=True)(params)


def _accumulated(state: TrainState, batch, rng, steps: int, **loss_args):
  """``_gradients`` of the whole batch, or their mean over ``steps`` micro-batches (a scan:
  one micro-batch's activations in memory at a time). BatchNorm normalises each micro-batch
  by its own statistics and updates its running averages once per micro-batch."""
  if steps == 1:
    return _gradients(state, state.params, state.batch_stats, batch, rng, **loss_args)
  # Micro-batch i takes rows i, i + steps, ...: each device's rows of the global batch stay
  # on it, whatever the micro-batch.
  micro = jax.tree.map(
      lambda x: x.reshape((x.shape[0] // steps, steps) + x.shape[1:]).swapaxes(0, 1), batch)

  def body(carry, xs):
    total, batch_stats, sums = carry
    mb, i = xs
    grads, (loss, main, correct, batch_stats) = _gradients(
        state, state.params, batch_stats, mb, jax.random.fold_in(rng, i), **loss_args)
    total = jax.tree.map(jnp.add, total, grads)
    return (total, batch_stats, jax.tree.map(jnp.add, sums, (loss, main, correct))), None

  zeros = jax.tree.map(jnp.zeros_like, state.params)
  init = (zeros, state.batch_stats, (jnp.float32(0.0),) * 3)
  (total, batch_stats, (loss, main, correct)), _ = jax.lax.scan(
      body, init, (micro, jnp.arange(steps)))
  grads = jax.tree.map(lambda g: g / steps, total)
  return grads, (loss / steps, main / steps, correct, batch_stats)


def train_step(state: TrainState, batch, *, schedule: optax.Schedule,
               aux_loss_weight: float = 0.3, layer_grad_norms: bool = False,
               label_smoothing: float = 0.0, grad_accum_steps: int = 1,
               ema_decay: float = 0.0):
  """One optimizer step on a global batch; returns the new state and scalar metrics.

  A model with auxiliary classifiers returns {"logits", "aux_logits"} in training;
  their losses are added with ``aux_loss_weight`` (GoogLeNet: 0.3), both smoothed by
  ``label_smoothing``. With ``layer_grad_norms``, the metrics also hold "grad_norm/<name>" for
  every top-level layer (how much gradient reaches each depth). ``grad_accum_steps``
  micro-batches make one step (see ``_accumulated``); ``state.ema``, when on, moves towards
  the new parameters and statistics by 1 - ``ema_decay``.
  """
  rng = jax.random.fold_in(state.rng, state.step)
  grads, (loss, main_loss, correct, batch_stats) = _accumulated(
      state, batch, rng, grad_accum_steps, aux_loss_weight=aux_loss_weight,
      label_smoothing=label_smoothing)
  scaling = bool(state.loss_scale)
  if scaling:
    grads = state.loss_scale.unscale(grads)
  grad_norm = optim.global_norm(grads)
  updates, opt_state = state.tx.update(grads, state.opt_state, state.params)
  scale = state.plateau.scale
  updates = jax.tree.map(lambda u: (u * scale).astype(u.dtype), updates)
  params = optax.apply_updates(state.params, updates)
  ema = state.ema
  if ema:
    ema = optax.incremental_update({"params": params, "batch_stats": batch_stats}, ema,
                                   step_size=1.0 - ema_decay)
  # A step with a non-finite loss or gradient leaves the state as it was (only the step
  # advances), so no NaN ever reaches the parameters; the loop stops or counts it. Under loss
  # scaling, overflowing gradients with a finite loss only lower the scale (a skipped step).
  loss_finite, grads_finite = jnp.isfinite(loss), jnp.isfinite(grad_norm)
  finite = loss_finite & grads_finite
  keep = lambda new, old: jax.tree.map(lambda n, o: jnp.where(finite, n, o), new, old)
  new_state = state.replace(step=state.step + 1,
                            params=keep(params, state.params),
                            opt_state=keep(opt_state, state.opt_state),
                            batch_stats=keep(batch_stats, state.batch_stats),
                            ema=keep(ema, state.ema))
  metrics = {
      "loss": loss,
      "main_loss": main_loss,
      "top1": correct / batch["label"].shape[0],
      "learning_rate": schedule(state.step) * scale,
      "grad_norm": grad_norm,
      "param_norm": optim.global_norm(new_state.params),
      "nonfinite": 1.0 - (loss_finite if scaling else finite).astype(jnp.float32),
  }
  if scaling:
    new_state = new_state.replace(loss_scale=state.loss_scale.update(grads_finite))
    metrics["skipped"] = (loss_finite & ~grads_finite).astype(jnp.float32)
    metrics["loss_scale"] = state.loss_scale.scale
  if layer_grad_norms:
    metrics.update({f"grad_norm/{name}": optim.global_norm(g) for name, g in grads.items()})
  return new_state, metrics


def eval_step(state: TrainState, batch):
  """Sums over the real (mask == 1) rows of a padded global batch."""
  logits = state.apply_fn(_variables(state.params, state.batch_stats), batch["image"],
                          train=False)
  labels, mask = batch["label"], batch["mask"]
  loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
  k = min(5, logits.shape[-1])
  _, top = jax.lax.top_k(logits, k)
  top1 = top[:, 0] == labels
  top5 = jnp.any(top == labels[:, None], axis=-1)
  return {
      "loss": jnp.sum(loss * mask),
      "top1": jnp.sum(top1 * mask),
      "top5": jnp.sum(top5 * mask),
      "count": jnp.sum(mask),
  }
