"""Local response normalisation against the formula of AlexNet's Section 3.3, written out."""

import jax
import numpy as np
import pytest

from jaxcnn.models import layers
from jaxcnn.models.ops import lrn
from tests.tolerance import assert_close, differ


def _by_formula(a, size, k, alpha, beta):
  """b_c = a_c / (k + alpha * sum of a_j^2 over the maps j in c's window) ** beta."""
  channels = a.shape[-1]
  out = np.empty_like(a, dtype=np.float64)
  for c in range(channels):
    lo, hi = max(0, c - size // 2), min(channels - 1, c + (size - 1) // 2)
    total = np.sum(np.square(a[..., lo:hi + 1].astype(np.float64)), axis=-1)
    out[..., c] = a[..., c] / (k + alpha * total) ** beta
  return out


# The papers' constants, other ones (the general power), an even window, and more maps than
# the band-matrix form takes (the reduce_window form).
@pytest.mark.parametrize("channels,size,k,alpha,beta", [
    (24, 5, 2.0, 1e-4, 0.75),
    (10, 3, 1.0, 0.05, 0.5),
    (9, 4, 1.5, 0.02, 0.75),
    (lrn._LRN_BAND_MAX_MAPS + 3, 5, 2.0, 1e-3, 0.75),
])
def test_matches_the_formula(channels, size, k, alpha, beta):
  a = np.asarray(jax.random.normal(jax.random.PRNGKey(0), (2, 3, 4, channels))) * 10
  got = layers.local_response_norm(a, size=size, k=k, alpha=alpha, beta=beta)
  assert_close(got, _by_formula(a, size, k, alpha, beta), rtol=1e-5)
  # The normalisation is strong enough here to matter: the output is not the input.
  assert differ(got, a, rel=1e-2)
