"""torchvision AlexNet weights -> variables of jaxcnn's ``alexnet_torchvision``."""

from typing import Mapping

import numpy as np

from jaxcnn.tools.convert.state_dict import StateDict, check_arch
from jaxcnn.models.alexnet import TORCHVISION_CONVS

# Sequential indices of torchvision's weight layers (ReLU, pools and dropouts in between).
_CONV_KEYS = ("features.0", "features.3", "features.6", "features.8", "features.10")
_FC_KEYS = {"fc6": "classifier.1", "fc7": "classifier.4", "fc8": "classifier.6"}
ARCHS = ("alexnet",)


def from_torchvision(arch: str, state_dict: Mapping[str, np.ndarray]) -> dict:
  """Variables for ``VARIANTS["alexnet_torchvision"]`` from torchvision's ``alexnet`` weights.

  The number of classes is read from the last layer.
  """
  check_arch(arch, ARCHS)
  sd = StateDict(arch, state_dict)
  params, in_ch = {}, 3
  for spec, key in zip(TORCHVISION_CONVS, _CONV_KEYS):
    params[spec.name] = sd.conv(key, spec.features, in_ch, spec.kernel)
    in_ch = spec.features
  num_classes = sd.rows(f"{_FC_KEYS['fc8']}.weight") or 1000
  params["fc6"] = sd.linear(_FC_KEYS["fc6"], 4096, in_ch * 6 * 6, chw=(in_ch, 6, 6))
  params["fc7"] = sd.linear(_FC_KEYS["fc7"], 4096, 4096)
  params["fc8"] = sd.linear(_FC_KEYS["fc8"], num_classes, 4096)
  sd.finish()
  return {"params": params}
