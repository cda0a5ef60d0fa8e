"""Every registered model: builds by name, runs forward and backward at a small input."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxcnn import models
from jaxcnn.errors import UserError
from tests.models.variables import random_variables

# Smallest convenient input per model; everything else runs at 32x32.
SMALL_INPUT = {"alexnet": 67, "alexnet_torchvision": 63, "zfnet": 67,
               "googlenet": 64, "googlenet_torchvision": 64, "inception_v3": 299}
# Inception-v3's auxiliary head needs 299x299 inputs: a narrow net keeps the step small.
SMALL_WIDTH = {"inception_v3": 0.125}


def small_input(name):
  for prefix, size in SMALL_INPUT.items():
    if name == prefix:
      return size
  return 32


def test_unknown_name_lists_the_valid_ones():
  with pytest.raises(UserError, match="Valid names: .*lenet5"):
    models.create("lenet6")


@pytest.mark.parametrize("name", sorted(models.MODELS))
def test_forward_and_backward_with_finite_gradients(name):
  size = small_input(name)
  channels = 1 if name.startswith("lenet") else 3
  model = models.create(name, num_classes=10, input_size=size, width=SMALL_WIDTH.get(name, 1.0))
  x = jax.random.normal(jax.random.PRNGKey(0), (2, size, size, channels))
  labels = jnp.array([1, 7])
  variables = random_variables(model, x, train=True)
  params = variables["params"]
  others = {k: v for k, v in variables.items() if k != "params"}

  def loss_fn(params):
    out, _ = model.apply({"params": params, **others}, x, train=True,
                         rngs={"dropout": jax.random.key(3)}, mutable=["batch_stats"])
    outs = [out["logits"], *out["aux_logits"]] if isinstance(out, dict) else [out]
    loss = sum(optax.softmax_cross_entropy_with_integer_labels(o, labels).mean() for o in outs)
    return loss, outs[0]

  (loss, logits), grads = jax.jit(jax.value_and_grad(loss_fn, has_aux=True))(params)
  assert logits.shape == (2, 10) and logits.dtype == jnp.float32
  assert np.all(np.isfinite(logits)) and np.isfinite(loss)
  for path, g in jax.tree_util.tree_leaves_with_path(grads):
    assert np.all(np.isfinite(g)), f"non-finite gradient at {jax.tree_util.keystr(path)}"
  # Every parameter takes part: some gradient entry is non-zero in each leaf.
  dead = [jax.tree_util.keystr(p) for p, g in jax.tree_util.tree_leaves_with_path(grads)
          if not np.any(g)]
  assert not dead, f"parameters without gradient: {dead}"
