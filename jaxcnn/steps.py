"""Pure train and eval steps. No side effects: the loop jit-compiles them with shardings."""

import jax
import jax.numpy as jnp
import optax

from jaxcnn import optim
from jaxcnn.state import TrainState


def _variables(params, batch_stats):
  return {"params": params, "batch_stats": batch_stats} if batch_stats else {"params": params}


def _cross_entropy(logits, labels):
  return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def train_step(state: TrainState, batch, *, schedule: optax.Schedule,
               aux_loss_weight: float = 0.3, layer_grad_norms: bool = False):
  """One SGD step on a global batch; returns the new state and scalar metrics.

  A model with auxiliary classifiers returns {"logits", "aux_logits"} in training;
  their losses are added with ``aux_loss_weight`` (GoogLeNet: 0.3). With
  ``layer_grad_norms``, the metrics also hold "grad_norm/<name>" for every top-level layer
  (how much gradient reaches each depth).
  """
  rng = jax.random.fold_in(state.rng, state.step)

  def loss_fn(params):
    out, updates = state.apply_fn(
        _variables(params, state.batch_stats), batch["image"], train=True,
        rngs={"dropout": rng}, mutable=["batch_stats"])
    logits, aux_logits = (out["logits"], out["aux_logits"]) if isinstance(out, dict) else (out, ())
    main = _cross_entropy(logits, batch["label"])
    aux = sum((_cross_entropy(a, batch["label"]) for a in aux_logits), jnp.float32(0.0))
    loss = main + aux_loss_weight * aux
    return loss, (logits, main, updates.get("batch_stats", state.batch_stats))

  grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
  (loss, (logits, main_loss, batch_stats)), grads = grad_fn(state.params)
  updates, opt_state = state.tx.update(grads, state.opt_state, state.params)
  scale = state.plateau.scale
  updates = jax.tree.map(lambda u: (u * scale).astype(u.dtype), updates)
  params = optax.apply_updates(state.params, updates)
  grad_norm = optim.global_norm(grads)
  # A step with a non-finite loss or gradient leaves the state as it was (only the step
  # advances), so no NaN ever reaches the parameters; the loop stops or counts it.
  finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
  keep = lambda new, old: jax.tree.map(lambda n, o: jnp.where(finite, n, o), new, old)
  new_state = state.replace(step=state.step + 1,
                            params=keep(params, state.params),
                            opt_state=keep(opt_state, state.opt_state),
                            batch_stats=keep(batch_stats, state.batch_stats))
  metrics = {
      "loss": loss,
      "main_loss": main_loss,
      "top1": jnp.mean(jnp.argmax(logits, -1) == batch["label"]),
      "learning_rate": schedule(state.step) * scale,
      "grad_norm": grad_norm,
      "param_norm": optim.global_norm(new_state.params),
      "nonfinite": 1.0 - finite.astype(jnp.float32),
  }
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
