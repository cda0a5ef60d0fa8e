"""The command-line tools around the library: each is ``python -m jaxcnn.tools.NAME``.

predict (classify image files), ensemble (several runs' softmax averaged), export (TF
SavedModel or ONNX), plots (curves, filters, confusion), summary (shapes, parameters,
multiply-adds), convert (torchvision weights), bench (training throughput, against PyTorch
with the torch extra), bench_input (input pipeline throughput), bench_checkpoint (the stall
of a save). Their flags are spelled with underscores, as absl's are. The library
(jaxcnn.train, jaxcnn.models, jaxcnn.data, ...) imports none of them, except that
config.init_from=torchvision:NAME loads convert when it is used.
"""

import sys


def respell(argv: list[str], renamed: dict[str, str]) -> list[str]:
  """``argv`` with the old spellings of flags (``renamed``: {"--input-size": "--input_size"})
  replaced by the new ones, each old one used announced as deprecated on stderr."""
  out = []
  for i, arg in enumerate(argv):
    if arg == "--":  # The rest are positional arguments.
      return out + argv[i:]
    name, eq, value = arg.partition("=")
    if name in renamed:
      print(f"warning: {name} is deprecated and will be removed in the next release; use "
            f"{renamed[name]}.", file=sys.stderr)
      arg = renamed[name] + eq + value
    out.append(arg)
  return out
