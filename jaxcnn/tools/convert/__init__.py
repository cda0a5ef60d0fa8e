"""torchvision weights -> jaxcnn variables and Orbax checkpoints.

  python -m jaxcnn.tools.convert --arch=vgg16 --pth=vgg16-397923af.pth \\
      --config=configs/vgg16.py --workdir=runs/vgg16_imagenet

writes a step-0 checkpoint that ``python -m jaxcnn.main --mode=eval`` (with the same
config and workdir) restores. Reading a .pth file needs torch (the optional extra
``pip install -e '.[torch]'``); the conversion itself is numpy only.
"""

import importlib
import os
from typing import Mapping

import numpy as np

from jaxcnn.errors import UserError

# torchvision architecture -> (converter module, jaxcnn model that mirrors it).
ARCHS = {
    "alexnet": ("alexnet", "alexnet_torchvision"),
    **{f"vgg{d}{bn}": ("vgg", f"vgg{d}{bn}") for d in (11, 13, 16, 19) for bn in ("", "_bn")},
    "googlenet": ("googlenet", "googlenet_torchvision"),
    "inception_v3": ("inception_v3", "inception_v3"),
    **{f"resnet{d}": ("resnet", f"resnet{d}") for d in (18, 34, 50, 101, 152)},
}


def jaxcnn_model(arch: str) -> str:
  """The registered jaxcnn model name that a torchvision architecture converts to."""
  _check(arch)
  return ARCHS[arch][1]


def default_config(arch: str):
  """The config of a converted ``arch`` without --config: configs/ARCH.py (vgg16_bn: vgg16.py)
  of the clone jaxcnn runs from."""
  from jaxcnn import config as config_lib
  root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
      __file__)))))
  path = os.path.join(root, "configs", f"{arch.removesuffix('_bn')}.py")
  if not os.path.exists(path):
    raise UserError(f"No config for {arch} at {path}; pass --config=configs/NAME.py.")
  return config_lib.load_file(path)


def _check(arch):
  if arch not in ARCHS:
    raise UserError(f"No torchvision converter for {arch!r}. Available: {', '.join(ARCHS)}.")


def torchvision_to_flax(arch: str, state_dict: Mapping[str, np.ndarray]) -> dict:
  """Converts a torchvision state_dict (tensors or arrays) into flax variables."""
  _check(arch)
  arrays = {k: np.asarray(v.detach().cpu().numpy() if hasattr(v, "detach") else v)
            for k, v in state_dict.items()}
  module = importlib.import_module(f"jaxcnn.tools.convert.{ARCHS[arch][0]}")
  return module.from_torchvision(arch, arrays)
