"""Per-layer output shapes, parameters and multiply-adds of a model.

  python -m jaxcnn.tools.summary vgg16 [--input_size=224] [--depth=1] [--train]

Multiply-adds are counted as the papers count them: for every convolution, output
positions x kernel area x input maps per group x output maps (padding included);
for every fully connected layer, inputs x outputs. XLA's cost analysis (what
``flax.linen.tabulate(compute_flops=True)`` reports) skips the products with the
zero padding, so it cannot reproduce the papers' tables; the counts here come from
the layers' shapes, collected with ``flax.linen.intercept_methods``.
"""

import argparse
import dataclasses
import functools
import sys

import jax
import jax.numpy as jnp
import numpy as np
import flax.linen as nn

from jaxcnn import models
from jaxcnn import tools

# Hyphenated spellings of earlier releases, accepted with a deprecation message until the next.
RENAMED = {"--input-size": "--input_size", "--num-classes": "--num_classes"}


@dataclasses.dataclass
class Row:
  path: str          # "inception3a" or "inception3a/branch2_3x3"; "" is the whole model.
  kind: str          # Module class name.
  output: tuple      # Output shape of the call (batch dimension included), or () if not an array.
  params: int        # Parameters in this module's subtree.
  macs: int          # Multiply-adds per forward pass over the batch, this subtree.


def _layer_macs(module: nn.Module, args, out) -> int:
  if hasattr(module, "multiply_adds"):
    return int(module.multiply_adds(args[0], out))
  if isinstance(module, nn.Conv):
    x = args[0]
    kernel = np.prod(module.kernel_size)
    return int(np.prod(out.shape[:-1]) * kernel * (x.shape[-1] // module.feature_group_count)
               * out.shape[-1])
  if isinstance(module, nn.Dense):
    return int(np.prod(out.shape[:-1]) * args[0].shape[-1] * out.shape[-1])
  return 0


def summarize(model: nn.Module, input_shape: tuple, *, train: bool = False) -> list[Row]:
  """One row per module call (first call of each path), in call order, plus the total row."""
  calls: dict[str, list] = {}
  own_macs: dict[str, int] = {}

  def interceptor(next_fun, args, kwargs, context):
    out = next_fun(*args, **kwargs)
    if context.method_name != "__call__":
      return out
    path = "/".join(context.module.path)
    if path not in calls:
      shape = tuple(out.shape) if hasattr(out, "shape") else ()
      calls[path] = [type(context.module).__name__, shape]
    own_macs[path] = own_macs.get(path, 0) + _layer_macs(context.module, args, out)
    return out

  x = jnp.zeros(input_shape, jnp.float32)
  rngs = {"params": jax.random.PRNGKey(0), "dropout": jax.random.PRNGKey(1)}
  # Shapes only: nothing is computed, so even VGG-E summarises in seconds.
  variables = nn.unbox(jax.eval_shape(functools.partial(model.init, train=train), rngs, x))

  def forward(variables):
    with nn.intercept_methods(interceptor):
      if train:
        return model.apply(variables, x, train=True, rngs=rngs, mutable=True)
      return model.apply(variables, x, train=False)

  jax.eval_shape(forward, variables)

  param_sizes = {}
  for path, leaf in jax.tree_util.tree_leaves_with_path(variables.get("params", {})):
    keys = [p.key for p in path]
    param_sizes["/".join(keys[:-1])] = param_sizes.get("/".join(keys[:-1]), 0) + int(leaf.size)

  def subtree(table, prefix):
    if prefix == "":
      return sum(table.values())
    return sum(v for k, v in table.items() if k == prefix or k.startswith(prefix + "/"))

  return [Row(path, kind, shape, subtree(param_sizes, path), subtree(own_macs, path))
          for path, (kind, shape) in calls.items()]


def format_table(rows: list[Row], depth: int) -> str:
  shown = [r for r in rows if r.path and r.path.count("/") < depth]
  total = next(r for r in rows if r.path == "")
  header = f"{'layer':<34} {'type':<16} {'output':<20} {'params':>12} {'mult-adds':>14}"
  lines = [header, "-" * len(header)]
  for r in shown:
    shape = "x".join(str(d) for d in r.output[1:]) if r.output else "-"
    lines.append(f"{r.path:<34} {r.kind:<16} {shape:<20} {r.params:>12,} {r.macs:>14,}")
  lines.append("-" * len(header))
  lines.append(f"{'total':<34} {total.kind:<16} {'':<20} {total.params:>12,} {total.macs:>14,}")
  lines.append(f"{total.params:,} parameters ({total.params / 1e6:.2f} M), "
               f"{total.macs:,} multiply-adds ({total.macs / 1e9:.3f} G) per image")
  return "\n".join(lines)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(prog="python -m jaxcnn.tools.summary", description=__doc__.split("\n")[0])
  parser.add_argument("model", help="registered model name, e.g. vgg16")
  parser.add_argument("--input_size", type=int, default=None,
                      help="square input size (default: the model's input_size)")
  parser.add_argument("--channels", type=int, default=None, help="input channels (default 3; 1 for LeNet)")
  parser.add_argument("--num_classes", type=int, default=None,
                      help="classes (default: the model's num_classes)")
  parser.add_argument("--depth", type=int, default=1, help="module nesting depth to list")
  parser.add_argument("--train", action="store_true",
                      help="count the training-mode network (auxiliary heads included)")
  args = parser.parse_args(tools.respell(sys.argv[1:] if argv is None else list(argv), RENAMED))
  if args.model not in models.MODELS:
    print(f"error: unknown model {args.model!r}. Valid names: {', '.join(sorted(models.MODELS))}.",
          file=sys.stderr)
    return 1
  overrides = {} if args.num_classes is None else {"num_classes": args.num_classes}
  model = models.create(args.model, **overrides)
  size = args.input_size or model.input_size
  channels = args.channels or models.input_channels(args.model)
  try:
    rows = summarize(model, (1, size, size, channels), train=args.train)
  except ValueError as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  print(f"{args.model}, input {size}x{size}x{channels}")
  print(format_table(rows, args.depth))
  return 0


if __name__ == "__main__":
  sys.exit(main())
