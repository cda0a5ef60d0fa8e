"""torchvision GoogLeNet weights -> variables of jaxcnn's ``googlenet_torchvision``.

The auxiliary heads are converted when the state dict has them (aux_logits=True); the
model creates and uses them only with train=True.
"""

from typing import Mapping

import numpy as np

from jaxcnn.tools.convert.state_dict import StateDict, check_arch
from jaxcnn.models.googlenet import AUX_AFTER, TABLE1

ARCHS = ("googlenet",)
# torchvision's "5x5" branch is a 3x3 conv (pytorch/vision#906), kept for its weights.
_BRANCH5X5_KERNEL = 3


def _basic_conv(sd: StateDict, key: str, out_ch: int, in_ch: int, kernel: int):
  """torchvision's BasicConv2d (bias-free conv + BatchNorm) -> (params, batch_stats)."""
  w = sd.get(f"{key}.conv.weight", (out_ch, in_ch, kernel, kernel))
  bn, stats = sd.batch_norm(f"{key}.bn", out_ch)
  return {"conv": {"kernel": w.transpose(2, 3, 1, 0)}, "bn": bn}, {"bn": stats}


def from_torchvision(arch: str, state_dict: Mapping[str, np.ndarray]) -> dict:
  """Variables {"params", "batch_stats"} for ``VARIANTS["googlenet_torchvision"]``.

  torchvision's conv2 / conv3 are the paper's conv2 1x1 reduce / 3x3 (``conv2_reduce`` /
  ``conv2``); branch1, branch2.{0,1}, branch3.{0,1}, branch4.1 of an inception block are
  ``b1x1``, ``b3x3_reduce``, ``b3x3``, ``b5x5_reduce``, ``b5x5``, ``pool_proj``.
  ``num_batches_tracked`` entries are ignored. The number of classes is read from ``fc``.
  """
  check_arch(arch, ARCHS)
  sd = StateDict(arch, state_dict)
  params, stats = {}, {}
  for name, key, out_ch, in_ch, kernel in (("conv1", "conv1", 64, 3, 7),
                                           ("conv2_reduce", "conv2", 64, 64, 1),
                                           ("conv2", "conv3", 192, 64, 3)):
    params[name], stats[name] = _basic_conv(sd, key, out_ch, in_ch, kernel)
  in_ch, aux_in = 192, []
  for block in TABLE1:
    if block == "M":
      continue
    name, (n1x1, n3x3r, n3x3, n5x5r, n5x5, npool) = block
    branches = (("b1x1", "branch1", n1x1, in_ch, 1),
                ("b3x3_reduce", "branch2.0", n3x3r, in_ch, 1),
                ("b3x3", "branch2.1", n3x3, n3x3r, 3),
                ("b5x5_reduce", "branch3.0", n5x5r, in_ch, 1),
                ("b5x5", "branch3.1", n5x5, n5x5r, _BRANCH5X5_KERNEL),
                ("pool_proj", "branch4.1", npool, in_ch, 1))
    params[name], stats[name] = {}, {}
    for branch, key, out_ch, branch_in, kernel in branches:
      params[name][branch], stats[name][branch] = _basic_conv(sd, f"{name}.{key}", out_ch,
                                                              branch_in, kernel)
    in_ch = n1x1 + n3x3 + n5x5 + npool
    if name in AUX_AFTER:
      aux_in.append(in_ch)
  num_classes = sd.rows("fc.weight") or 1000
  if any(k.startswith("aux") for k in sd.tensors):
    for k, channels in enumerate(aux_in, start=1):
      aux = f"aux{k}"
      conv, conv_stats = _basic_conv(sd, f"{aux}.conv", 128, channels, 1)
      params[aux] = {"conv": conv,
                     "fc1": sd.linear(f"{aux}.fc1", 1024, 128 * 4 * 4, chw=(128, 4, 4)),
                     "fc2": sd.linear(f"{aux}.fc2", num_classes, 1024)}
      stats[aux] = {"conv": conv_stats}
  params["fc"] = sd.linear("fc", num_classes, in_ch)
  sd.finish()
  return {"params": params, "batch_stats": stats}
