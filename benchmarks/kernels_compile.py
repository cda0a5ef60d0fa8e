"""What the CPU kernels cost outside a training step: GoogLeNet (width 0.25, 64x64, factorised
and with the parallel grid reduction) applied op by op, and its gradient compiled, with
jaxcnn's CPU kernels ("fast") and XLA's native ones. Each measurement in a fresh process.

  python benchmarks/kernels_compile.py
"""

import os
import subprocess
import sys

CHILD = r"""
import os, sys, time
os.environ["XLA_FLAGS"] = "--xla_backend_optimization_level=0"
import jax, jax.numpy as jnp
from jaxcnn.models import googlenet, ops
what, impl = sys.argv[1], sys.argv[2]
model = googlenet.GoogLeNet(num_classes=10, width=0.25, factorise="asymmetric",
                            reduction="parallel", ops=ops.select(impl))
x = jax.random.normal(jax.random.key(0), (2, 64, 64, 1))
variables = jax.jit(lambda: model.init({"params": jax.random.key(0)}, x, train=False))()
start = time.perf_counter()
if what == "eager":
  jax.block_until_ready(model.apply(variables, x, train=False))
else:
  loss = lambda p: model.apply({**variables, "params": p}, x, train=False).sum()
  jax.jit(jax.grad(loss)).lower(variables["params"]).compile()
print(f"{time.perf_counter() - start:.2f}")
"""


def main():
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  for what, label in (("eager", "forward pass op by op"), ("compile", "gradient compiled")):
    for impl in ("fast", "native"):
      out = subprocess.run([sys.executable, "-c", CHILD, what, impl], cwd=root, check=True,
                           capture_output=True, text=True).stdout.split()[-1]
      print(f"{label:24s} {impl:7s} {out} s", flush=True)


if __name__ == "__main__":
  main()
