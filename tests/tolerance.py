"""Float comparisons at the scale of the values compared.

XLA picks kernels and vector widths for the processor it runs on, so the order of a float32 sum,
and with it the last bits of the result, differs from one x86-64 machine to another. An element
much smaller than the terms it was summed from carries their rounding error, not its own: a
relative tolerance alone cannot hold it. Each comparison here therefore adds an absolute tolerance
of `ulps` units in the last place of the largest expected magnitude.
"""

import jax
import jax.numpy as jnp
import numpy as np

RTOL = 1e-5
ULPS = 64  # In float32, 7.6e-6 of the largest expected magnitude: a reduction's rounding noise.


def eps(*arrays, dtype=None):
  """The machine epsilon of `dtype`, else of the least precise float among `arrays` (float32 if
  none is a float)."""
  if dtype is not None:
    return float(jnp.finfo(dtype).eps)
  dtypes = [np.asarray(a).dtype for a in arrays]
  return max((float(jnp.finfo(d).eps) for d in dtypes if jnp.issubdtype(d, jnp.inexact)),
             default=float(jnp.finfo(np.float32).eps))


def atol(actual, expected, ulps=ULPS, dtype=None):
  """`ulps` units in the last place of the largest magnitude in `expected`."""
  scale = np.max(np.abs(np.asarray(expected, np.float64)), initial=0.0)
  return ulps * eps(actual, expected, dtype=dtype) * scale


def close(actual, expected, rtol=RTOL, ulps=ULPS, dtype=None):
  """Whether all of `actual` is within rtol * |expected| + atol of `expected`."""
  tol = atol(actual, expected, ulps, dtype)
  return np.allclose(np.asarray(actual, np.float64), np.asarray(expected, np.float64), rtol=rtol,
                     atol=tol)


def assert_close(actual, expected, rtol=RTOL, ulps=ULPS, dtype=None):
  """np.testing.assert_allclose with atol = ulps * eps * max|expected| (see the module)."""
  tol = atol(actual, expected, ulps, dtype)
  np.testing.assert_allclose(np.asarray(actual, np.float64), np.asarray(expected, np.float64),
                             rtol=rtol, atol=tol)


def assert_trees_close(actual, expected, **kwargs):
  """assert_close on each pair of leaves, each at its own scale."""
  jax.tree.map(lambda a, b: assert_close(a, b, **kwargs), actual, expected)


def differ(a, b, rel=1e-3):
  """Whether a and b differ somewhere by more than `rel` of b's largest magnitude: a change well
  above float noise, not one in the last bits."""
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  return np.max(np.abs(a - b), initial=0.0) > rel * np.max(np.abs(b), initial=0.0)
