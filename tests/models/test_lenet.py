import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn import models
from jaxcnn.models import lenet


def param_counts(model, size, channels=1):
  shapes = jax.eval_shape(functools.partial(model.init, train=False), jax.random.PRNGKey(0),
                          jnp.zeros((1, size, size, channels)))
  return {k: sum(int(np.prod(l.shape)) for l in jax.tree.leaves(v))
          for k, v in shapes["params"].items()}


def test_lenet5_has_the_papers_60000_parameters():
  counts = param_counts(models.create("lenet5"), 32)
  assert counts == {
      "c1": 156,      # 6 * (5*5*1 + 1)
      "s2": 12,       # 6 coefficients + 6 biases
      "c3": 1_516,    # 6*(3*25+1) + 9*(4*25+1) + 1*(6*25+1)
      "s4": 32,       # 16 + 16
      "c5": 48_120,   # 120 * (5*5*16 + 1)
      "f6": 10_164,   # 84 * (120 + 1)
  }
  assert sum(counts.values()) == 60_000


def test_c3_follows_the_connection_table():
  model = lenet.PartialConv(lenet.C3_TABLE, in_features=6)
  x = jnp.zeros((1, 14, 14, 6))
  variables = model.init(jax.random.PRNGKey(0), x)
  # Feeding one input map at a time: output map j responds only if the map is in table[j].
  for i in range(6):
    xi = x.at[..., i].set(1.0)
    y = model.apply(variables, xi) - model.apply(variables, x)
    response = np.abs(np.asarray(y)).max(axis=(0, 1, 2))
    responds = response > 1e-4 * response.max()  # Well above float noise, below any real one.
    expected = np.array([i in inputs for inputs in lenet.C3_TABLE])
    np.testing.assert_array_equal(responds, expected)


def test_squash_is_the_scaled_tanh():
  # f(1) = 1.7159 tanh(2/3) = 1.0000 (the paper chose A, S so that f(+-1) = +-1).
  assert float(lenet.squash(jnp.float32(1.0))) == pytest.approx(1.0, abs=2e-4)


def test_rbf_codes_are_fixed_orthogonal_plus_minus_one_vectors():
  codes = lenet.rbf_codes(10, 84)
  assert codes.shape == (10, 84) and set(np.unique(codes)) == {-1.0, 1.0}
  gram = codes @ codes.T
  np.testing.assert_array_equal(np.diag(gram), 84)  # Sums of 84 products of +-1: exact.
  # Nearly orthogonal: any two codes differ in at least 40 of the 84 positions.
  assert np.abs(gram - np.diag(np.diag(gram))).max() <= 4


def test_output_is_minus_the_distance_to_the_nearest_code():
  model = models.create("lenet5")
  x = jax.random.normal(jax.random.PRNGKey(1), (3, 32, 32, 1))
  variables = model.init(jax.random.PRNGKey(0), x, train=False)
  logits = model.apply(variables, x, train=False)
  assert logits.shape == (3, 10) and np.all(np.asarray(logits) <= 0)
  assert "rbf" not in variables["params"]  # The code vectors are fixed, not trained.


def test_lenet5_rejects_inputs_below_32():
  model = models.create("lenet5")
  with pytest.raises(ValueError, match="at least 32x32"):
    model.init(jax.random.PRNGKey(0), jnp.zeros((1, 28, 28, 1)), train=False)


def test_lenet5_modern_counts():
  counts = param_counts(models.create("lenet5_modern"), 28)
  # c1 6*(25+1); c3 16*(6*25+1); c5 120*(16*5*5+1); f6 84*(120+1); output 10*(84+1).
  assert counts == {"c1": 156, "c3": 2_416, "c5": 48_120, "f6": 10_164, "output": 850}
