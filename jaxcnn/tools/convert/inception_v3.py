"""torchvision Inception-v3 weights -> variables of jaxcnn's ``inception_v3``.

jaxcnn's model keeps torchvision's layer names, so ``Mixed_6e.branch7x7_2.conv.weight`` becomes
``Mixed_6e/branch7x7_2/conv/kernel``. The auxiliary classifier is converted when the state
dict has it (aux_logits=True); the model creates and uses it only with train=True.
"""

from collections.abc import Mapping

import numpy as np

from jaxcnn.models.inception_v3 import AUX_AFTER, BLOCKS, STEM
from jaxcnn.tools.convert.state_dict import StateDict, check_arch

ARCHS = ("inception_v3",)


def _basic_conv(sd: StateDict, key: str, out_ch: int, in_ch: int, kernel) -> tuple[dict, dict]:
  """torchvision's BasicConv2d (bias-free conv + BatchNorm) -> (params, batch_stats)."""
  kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
  w = sd.get(f"{key}.conv.weight", (out_ch, in_ch, kh, kw))
  bn, stats = sd.batch_norm(f"{key}.bn", out_ch)
  return {"conv": {"kernel": w.transpose(2, 3, 1, 0)}, "bn": bn}, {"bn": stats}


def _module(sd, prefix, convs, in_ch):
  """An InceptionModule's convs; returns (params, stats, output channels)."""
  params, stats, maps = {}, {}, {"x": in_ch, "pool": in_ch}
  for name, source, features, kernel in convs:
    params[name], stats[name] = _basic_conv(sd, f"{prefix}.{name}", features, maps[source],
                                            kernel)
    maps[name] = features
  read = {source for _, source, _, _ in convs}
  return params, stats, sum(maps[name] for name, *_ in convs if name not in read)


def _reduction(sd, prefix, branches, in_ch):
  """A GridReduction's chained branches; the pooled input passes on its maps."""
  params, stats, out_ch = {}, {}, in_ch
  for branch in branches:
    maps = in_ch
    for name, features, kernel in branch:
      params[name], stats[name] = _basic_conv(sd, f"{prefix}.{name}", features, maps, kernel)
      maps = features
    out_ch += maps
  return params, stats, out_ch


def from_torchvision(arch: str, state_dict: Mapping[str, np.ndarray]) -> dict:
  """Variables {"params", "batch_stats"} for ``VARIANTS["inception_v3"]`` (its default
  ``reduction="parallel"``). ``num_batches_tracked`` entries are ignored; the number of
  classes is read from ``fc``."""
  check_arch(arch, ARCHS)
  sd = StateDict(arch, state_dict)
  params, stats, in_ch = {}, {}, 3
  for layer in STEM:
    if layer == "M":
      continue
    name, features, kernel, _, _ = layer
    params[name], stats[name] = _basic_conv(sd, name, features, in_ch, kernel)
    in_ch = features
  num_classes = sd.rows("fc.weight") or 1000
  for name, kind, spec in BLOCKS:
    read_block = _module if kind == "module" else _reduction
    params[name], stats[name], in_ch = read_block(sd, name, spec, in_ch)
    if name == AUX_AFTER and any(k.startswith("AuxLogits.") for k in sd.tensors):
      conv0, stats0 = _basic_conv(sd, "AuxLogits.conv0", 128, in_ch, 1)
      conv1, stats1 = _basic_conv(sd, "AuxLogits.conv1", 768, 128, 5)
      params["AuxLogits"] = {"conv0": conv0, "conv1": conv1,
                             "fc": sd.linear("AuxLogits.fc", num_classes, 768)}
      stats["AuxLogits"] = {"conv0": stats0, "conv1": stats1}
  params["fc"] = sd.linear("fc", num_classes, in_ch)
  sd.finish()
  return {"params": params, "batch_stats": stats}
