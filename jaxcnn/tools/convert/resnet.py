"""torchvision ResNet weights -> variables of jaxcnn's ``resnet18`` .. ``resnet152``."""

from typing import Mapping

import numpy as np

from jaxcnn.tools.convert.state_dict import StateDict, check_arch
from jaxcnn.models.resnet import IMAGENET_STAGES, IMAGENET_WIDTHS

ARCHS = tuple(f"resnet{depth}" for depth in IMAGENET_STAGES)


def _conv(sd: StateDict, key: str, out_ch: int, in_ch: int, kernel: int) -> dict:
  """A bias-free conv: OIHW -> HWIO."""
  return {"kernel": sd.get(f"{key}.weight", (out_ch, in_ch, kernel, kernel)).transpose(2, 3, 1, 0)}


def from_torchvision(arch: str, state_dict: Mapping[str, np.ndarray]) -> dict:
  """Variables {"params", "batch_stats"} for ``VARIANTS[arch]`` (same name).

  torchvision's ``layer{i}.{j}.downsample.{0,1}`` become ``layer{i}_{j}/shortcut_{conv,bn}``;
  ``num_batches_tracked`` entries are ignored. The number of classes is read from ``fc``.
  """
  check_arch(arch, ARCHS)
  block, stages = IMAGENET_STAGES[int(arch.removeprefix("resnet"))]
  bottleneck = block == "bottleneck"
  sd = StateDict(arch, state_dict)
  params = {"conv1": _conv(sd, "conv1", 64, 3, 7)}
  stats = {}
  params["bn1"], stats["bn1"] = sd.batch_norm("bn1", 64)
  in_ch = 64
  for i, (blocks, width) in enumerate(zip(stages, IMAGENET_WIDTHS)):
    out_ch = width * 4 if bottleneck else width
    for j in range(blocks):
      key, name = f"layer{i + 1}.{j}", f"layer{i + 1}_{j}"
      # (out, in, kernel) of conv1, conv2[, conv3]; the stride sits on the 3x3.
      convs = ([(width, in_ch, 1), (width, width, 3), (out_ch, width, 1)] if bottleneck
               else [(width, in_ch, 3), (width, width, 3)])
      p, s = {}, {}
      for k, (o, c, kernel) in enumerate(convs, start=1):
        p[f"conv{k}"] = _conv(sd, f"{key}.conv{k}", o, c, kernel)
        p[f"bn{k}"], s[f"bn{k}"] = sd.batch_norm(f"{key}.bn{k}", o)
      if (i > 0 and j == 0) or in_ch != out_ch:  # stride 2 or more maps: projection
        p["shortcut_conv"] = _conv(sd, f"{key}.downsample.0", out_ch, in_ch, 1)
        p["shortcut_bn"], s["shortcut_bn"] = sd.batch_norm(f"{key}.downsample.1", out_ch)
      params[name], stats[name] = p, s
      in_ch = out_ch
  params["fc"] = sd.linear("fc", sd.rows("fc.weight") or 1000, in_ch)
  sd.finish()
  return {"params": params, "batch_stats": stats}
