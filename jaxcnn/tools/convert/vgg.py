"""torchvision VGG weights -> variables of jaxcnn's ``vgg11`` .. ``vgg19`` and ``_bn`` models."""

from typing import Mapping

import numpy as np

from jaxcnn.tools.convert.state_dict import StateDict, check_arch
from jaxcnn.models.vgg import CONFIGS, TORCHVISION_CONFIGS, conv_layers

ARCHS = tuple(TORCHVISION_CONFIGS) + tuple(f"{a}_bn" for a in TORCHVISION_CONFIGS)


def from_torchvision(arch: str, state_dict: Mapping[str, np.ndarray]) -> dict:
  """Variables for ``VARIANTS[arch]`` (same name) from torchvision's ``arch`` weights.

  The jaxcnn models of these names include torchvision's adaptive 7x7 average pool, so
  they match torchvision at every input size. The number of classes is read from the
  last layer.
  """
  check_arch(arch, ARCHS)
  batch_norm = arch.endswith("_bn")
  spec = CONFIGS[TORCHVISION_CONFIGS[arch.removesuffix("_bn")]]
  sd = StateDict(arch, state_dict)
  params, stats = {}, {}
  convs = iter(conv_layers(spec))
  # torchvision's features Sequential: conv, [BatchNorm2d,] ReLU per conv; MaxPool2d per "M".
  index, in_ch = 0, 3
  for entry in spec:
    if entry == "M":
      index += 1
      continue
    name, maps, kernel = next(convs)
    params[name] = sd.conv(f"features.{index}", maps, in_ch, kernel)
    if batch_norm:
      bn = name.replace("conv", "bn")
      params[bn], stats[bn] = sd.batch_norm(f"features.{index + 1}", maps)
    index += 3 if batch_norm else 2
    in_ch = maps
  num_classes = sd.rows("classifier.6.weight") or 1000
  # classifier: Linear, ReLU, Dropout, Linear, ReLU, Dropout, Linear.
  params["fc6"] = sd.linear("classifier.0", 4096, in_ch * 7 * 7, chw=(in_ch, 7, 7))
  params["fc7"] = sd.linear("classifier.3", 4096, 4096)
  params["fc8"] = sd.linear("classifier.6", num_classes, 4096)
  sd.finish()
  return {"params": params, "batch_stats": stats} if batch_norm else {"params": params}
