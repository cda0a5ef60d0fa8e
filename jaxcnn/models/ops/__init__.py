"""The one seam between the papers' networks and the kernels that run them.

Model files describe layers; which convolution and max pooling compute them, and with which
XLA compiler options the steps are compiled, is chosen here, once, from ``config.conv_impl``:

  "auto"    on CPU: ``conv.conv_general_dilated`` and ``pool.max_pool`` (formulations XLA:CPU
            trains quickly) inside jitted steps, and XLA's own convolutions in place of
            YNNPACK's; op by op (outside jit) and elsewhere
            XLA's native ops and default options (cuDNN's and XLA's convolutions are the fast
            ones on GPU and TPU).
  "native"  XLA's native ops and default options everywhere.
  "fast"    the CPU formulations on any backend (for tests).

A model takes an ``Ops`` field (``ops``) and calls ``ops.conv`` (``nn.Conv``'s
``conv_general_dilated``) and ``ops.max_pool`` (``nn.max_pool``'s signature); ``jit`` compiles
a step with the options that go with them. Benchmarks: benchmarks/RESULTS.md.
"""

import dataclasses
from typing import Callable

import flax.linen as nn
import jax
from jax import lax

from jaxcnn.models.ops import conv as conv_lib
from jaxcnn.models.ops import pool as pool_lib

IMPLS = conv_lib.IMPLS


@dataclasses.dataclass(frozen=True)
class Ops:
  """The kernels of a model's convolutions and max poolings."""
  impl: str
  conv: Callable  # lax.conv_general_dilated's signature.
  max_pool: Callable  # nn.max_pool's signature.


def select(impl: str = "auto") -> Ops:
  """The kernels ``impl`` ("auto", "native" or "fast") means on this backend."""
  if conv_lib.use_fast(impl):
    return Ops(impl, conv_lib.conv_general_dilated, pool_lib.max_pool)
  return Ops(impl, lax.conv_general_dilated, nn.max_pool)


def _traced(*arrays) -> bool:
  return any(isinstance(a, jax.core.Tracer) for a in arrays)


# "auto" applies the CPU formulations inside a traced function (a jitted step) only. Called
# op by op (a model applied outside jit), each formulation's pieces would be dispatched and
# compiled one by one (GoogLeNet's forward pass: seconds against a tenth of that for the
# native ops), so untraced calls take XLA's native ops.
def _auto_conv(lhs, rhs, *args, **kwargs):
  return select("auto" if _traced(lhs, rhs) else "native").conv(lhs, rhs, *args, **kwargs)


def _auto_max_pool(inputs, *args, **kwargs):
  return select("auto" if _traced(inputs) else "native").max_pool(inputs, *args, **kwargs)


# A model's default: "auto", resolved when the model is called (not when jaxcnn is imported,
# which must not start a backend).
AUTO = Ops("auto", _auto_conv, _auto_max_pool)


def for_model(impl: str = "auto") -> Ops:
  """The ``ops`` field of a model built for ``impl``: AUTO for "auto", else ``select(impl)``."""
  return AUTO if impl == "auto" else select(impl)


def jit(fun: Callable, impl: str = "auto", **kwargs) -> Callable:
  """``jax.jit(fun, **kwargs)`` with the compiler options of the kernels ``impl`` selects."""
  return jax.jit(fun, compiler_options=conv_lib.compiler_options(impl), **kwargs)
