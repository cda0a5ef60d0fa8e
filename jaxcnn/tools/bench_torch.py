"""PyTorch twins of the benchmarked networks, for ``jaxcnn.tools.bench --reference=torch``.

torchvision's models where one exists at that size; otherwise the same layers (maps,
kernels, strides, pools, classifier) written with torch.nn, so both sides do the same
arithmetic. Trained with SGD (momentum, weight decay) on a fixed synthetic batch, NCHW as a
PyTorch user would run them.
"""

import torch
from torch import nn
import torchvision

from jaxcnn.errors import UserError
from jaxcnn.models import alexnet as jax_alexnet
from jaxcnn.models import googlenet as jax_googlenet
from jaxcnn.models import layers
from jaxcnn.models import vgg as jax_vgg


def _lenet5_modern(width, channels, classes):
  w = lambda c: layers.scaled_width(c, width)
  return nn.Sequential(
      nn.Conv2d(channels, w(6), 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
      nn.Conv2d(w(6), w(16), 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
      nn.Linear(w(16) * 25, w(120)), nn.ReLU(), nn.Linear(w(120), w(84)), nn.ReLU(),
      nn.Linear(w(84), classes))


def _alexnet(width, channels, classes, size, towers=2):
  """The paper's AlexNet (two towers as groups, LRN, overlapping pools), scaled."""
  mods, c = [], channels
  for spec in jax_alexnet.ALEXNET_CONVS:
    f = towers * layers.scaled_width(spec.features // towers, width)
    mods += [nn.Conv2d(c, f, spec.kernel, spec.stride, spec.padding,
                       groups=towers if spec.grouped else 1), nn.ReLU()]
    if spec.lrn:
      mods.append(nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0))
    if spec.pool:
      mods.append(nn.MaxPool2d(3, 2))
    c = f
  features = nn.Sequential(*mods)
  with torch.no_grad():
    flat = features(torch.zeros(1, channels, size, size)).numel()
  hidden = layers.scaled_width(4096, width)
  return nn.Sequential(features, nn.Flatten(), nn.Dropout(), nn.Linear(flat, hidden), nn.ReLU(),
                       nn.Dropout(), nn.Linear(hidden, hidden), nn.ReLU(),
                       nn.Linear(hidden, classes))


def _vgg(spec, width, channels, classes, size):
  mods, c, pools = [], channels, 0
  for entry in spec:
    if entry == "M":
      mods.append(nn.MaxPool2d(2))
      pools += 1
    else:
      maps, k = entry if isinstance(entry, tuple) else (entry, 3)
      f = layers.scaled_width(maps, width)
      mods += [nn.Conv2d(c, f, k, padding=(k - 1) // 2), nn.ReLU()]
      c = f
  side = size // 2 ** pools
  hidden = layers.scaled_width(4096, width)
  return nn.Sequential(*mods, nn.Flatten(), nn.Linear(c * side * side, hidden), nn.ReLU(),
                       nn.Dropout(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(),
                       nn.Linear(hidden, classes))


class _BasicConv(nn.Sequential):
  def __init__(self, cin, cout, k, stride=1):
    super().__init__(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False),
                     nn.BatchNorm2d(cout, eps=1e-3), nn.ReLU())


class _Inception(nn.Module):
  def __init__(self, cin, widths):
    super().__init__()
    n1, n3r, n3, n5r, n5, npool = widths
    self.b1 = _BasicConv(cin, n1, 1)
    self.b3 = nn.Sequential(_BasicConv(cin, n3r, 1), _BasicConv(n3r, n3, 3))
    self.b5 = nn.Sequential(_BasicConv(cin, n5r, 1), _BasicConv(n5r, n5, 3))
    self.bp = nn.Sequential(nn.MaxPool2d(3, 1, 1), _BasicConv(cin, npool, 1))

  def forward(self, x):
    return torch.cat([self.b1(x), self.b3(x), self.b5(x), self.bp(x)], 1)


def _googlenet(width, channels, classes):
  """torchvision's GoogLeNet form (BN convs, 3x3 "5x5" branch, 2x2 last pool), no aux heads."""
  w = lambda c: layers.scaled_width(c, width)
  mods = [_BasicConv(channels, w(64), 7, 2), nn.MaxPool2d(3, 2, ceil_mode=True),
          _BasicConv(w(64), w(64), 1), _BasicConv(w(64), w(192), 3),
          nn.MaxPool2d(3, 2, ceil_mode=True)]
  c = w(192)
  pools = sum(b == "M" for b in jax_googlenet.TABLE1)
  for block in jax_googlenet.TABLE1:
    if block == "M":
      pools -= 1
      mods.append(nn.MaxPool2d(3 if pools else 2, 2, ceil_mode=True))
      continue
    widths = tuple(w(v) for v in block[1])
    mods.append(_Inception(c, widths))
    c = widths[0] + widths[2] + widths[4] + widths[5]
  return nn.Sequential(*mods, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2),
                       nn.Linear(c, classes))


def build(arch: str, config, size: int, channels: int, classes: int):
  """(torch module, description) for a jaxcnn model name and config."""
  width, kwargs = config.width, config.model_kwargs.to_dict()
  if arch == "lenet5_modern":
    return _lenet5_modern(width, channels, classes), "torch.nn LeNet-5 (modern)"
  if arch.startswith("resnet") and arch[6:].isdigit() and width == 1.0:
    model = getattr(torchvision.models, arch)(num_classes=classes)
    if kwargs.get("stem") == "cifar":
      model.conv1 = nn.Conv2d(channels, 64, 3, 1, 1, bias=False)
      model.maxpool = nn.Identity()
      return model, f"torchvision {arch}, 3x3 stem, no max pool"
    return model, f"torchvision {arch}"
  # Only the fields that change the arithmetic need to match the twin's.
  alexnet_paper = dict(towers=2, lrn=True, pool_window=3, activation="relu")
  if arch == "alexnet" and all(kwargs.get(k, v) == v for k, v in alexnet_paper.items()):
    return _alexnet(width, channels, classes, size), "torch.nn AlexNet (2 groups, LRN)"
  if arch in ("vgg_a", "vgg_d") and not kwargs.get("batch_norm") and \
      not kwargs.get("fully_convolutional"):
    return (_vgg(jax_vgg.CONFIGS[arch[-1].upper()], width, channels, classes, size),
            f"torch.nn VGG {arch[-1].upper()}")
  if arch == "vgg16" and width == 1.0 and not kwargs:
    return torchvision.models.vgg16(num_classes=classes), "torchvision vgg16"
  if arch == "googlenet_torchvision" and kwargs.get("aux_logits") is False:
    return _googlenet(width, channels, classes), "torch.nn GoogLeNet (torchvision form, no aux)"
  raise UserError(f"No PyTorch twin for model {arch!r} with width {width} and model_kwargs "
                  f"{kwargs}; use a --preset, or drop --reference=torch.")


class TorchCase:
  """One PyTorch training step on a fixed batch."""

  def __init__(self, name, config, size, channels, classes):
    torch.manual_seed(0)
    self.model, self.description = build(config.model, config, size, channels, classes)
    self.model.train()
    self.opt = torch.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.9,
                               weight_decay=5e-4)
    self.x = torch.randn(config.batch_size, channels, size, size)
    self.y = torch.randint(0, classes, (config.batch_size,))

  def train_step(self):
    self.opt.zero_grad(set_to_none=True)
    loss = nn.functional.cross_entropy(self.model(self.x), self.y)
    loss.backward()
    self.opt.step()
