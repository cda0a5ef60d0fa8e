"""The checked reader of torchvision state dicts that every converter shares."""

from typing import Mapping

import numpy as np


class StateDict:
  """Takes tensors out of a torchvision state dict, checking names and shapes.

  Every problem is collected and ``finish`` raises one ValueError listing the missing
  keys, the unexpected keys and the shape mismatches together.
  """

  # Bookkeeping without a counterpart in flax.
  IGNORED_SUFFIXES = (".num_batches_tracked",)

  def __init__(self, arch: str, state_dict: Mapping[str, np.ndarray]):
    self.arch = arch
    self.tensors = {k: np.asarray(v) for k, v in state_dict.items()}
    self.used, self.missing, self.mismatched = set(), [], []

  def get(self, key: str, shape: tuple[int, ...]) -> np.ndarray:
    if key not in self.tensors:
      self.missing.append(key)
      return np.zeros(shape, np.float32)
    self.used.add(key)
    value = self.tensors[key]
    if value.shape != tuple(shape):
      self.mismatched.append(f"{key}: expected {tuple(shape)}, got {value.shape}")
      return np.zeros(shape, np.float32)
    return value.astype(np.float32, copy=False)

  def rows(self, key: str) -> int | None:
    """Leading dimension of a tensor, or None when absent (e.g. the classifier's classes)."""
    return self.tensors[key].shape[0] if key in self.tensors else None

  def conv(self, prefix: str, out_ch: int, in_ch: int, kernel: int) -> dict:
    """OIHW -> HWIO (for grouped convs torch's I is already in/groups, as flax wants)."""
    w = self.get(f"{prefix}.weight", (out_ch, in_ch, kernel, kernel))
    return {"kernel": w.transpose(2, 3, 1, 0), "bias": self.get(f"{prefix}.bias", (out_ch,))}

  def linear(self, prefix: str, out_features: int, in_features: int,
             chw: tuple[int, int, int] | None = None) -> dict:
    """(out, in) -> (in, out); ``chw`` reorders the rows of a layer fed by a flattened map.

    torch flattens NCHW (index c*H*W + h*W + w), flax NHWC (h*W*C + w*C + c).
    """
    w = self.get(f"{prefix}.weight", (out_features, in_features))
    if chw is not None:
      c, h, wd = chw
      w = w.reshape(out_features, c, h, wd).transpose(2, 3, 1, 0).reshape(in_features,
                                                                           out_features)
    else:
      w = w.T
    return {"kernel": w, "bias": self.get(f"{prefix}.bias", (out_features,))}

  def batch_norm(self, prefix: str, n: int) -> tuple[dict, dict]:
    """(params, batch_stats) of a BatchNorm2d."""
    params = {"scale": self.get(f"{prefix}.weight", (n,)), "bias": self.get(f"{prefix}.bias", (n,))}
    stats = {"mean": self.get(f"{prefix}.running_mean", (n,)),
             "var": self.get(f"{prefix}.running_var", (n,))}
    return params, stats

  def finish(self) -> None:
    unexpected = sorted(k for k in self.tensors if k not in self.used
                        and not k.endswith(self.IGNORED_SUFFIXES))
    problems = []
    if self.missing:
      problems.append(f"missing keys: {', '.join(self.missing)}")
    if unexpected:
      problems.append(f"unexpected keys: {', '.join(unexpected)}")
    if self.mismatched:
      problems.append(f"shape mismatches: {'; '.join(self.mismatched)}")
    if problems:
      raise ValueError(f"torchvision {self.arch} state_dict does not fit: " + ". ".join(problems))


def check_arch(arch: str, archs: tuple[str, ...]) -> None:
  if arch not in archs:
    raise ValueError(f"Unknown torchvision arch {arch!r}. Valid: {', '.join(archs)}.")
