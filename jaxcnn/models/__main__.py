"""python -m jaxcnn.models [--json]: every registered model with its family, paper, default
input and parameter count.

The counts are those of the network at its default input size and class count (1000 for the
ImageNet networks, 10 for the CIFAR and MNIST ones), in evaluation mode (GoogLeNet without
its auxiliary heads), from the variables' shapes alone (``jax.eval_shape``: nothing is
computed or compiled).
"""

import argparse
import functools
import json
import sys

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxcnn import models

# The module that defines a model -> (family, paper).
FAMILIES = {
    "lenet": ("LeNet-5", ("LeCun, Bottou, Bengio & Haffner 1998, Gradient-based learning "
                          "applied to document recognition")),
    "alexnet": ("AlexNet", ("Krizhevsky, Sutskever & Hinton 2012, ImageNet classification "
                            "with deep convolutional neural networks")),
    "vgg": ("VGG", ("Simonyan & Zisserman 2014, Very deep convolutional networks for "
                    "large-scale image recognition")),
    "nin": ("NiN", "Lin, Chen & Yan 2013, Network in network"),
    "googlenet": ("GoogLeNet", "Szegedy et al. 2014, Going deeper with convolutions"),
    "inception_v3": ("Inception-v3", ("Szegedy, Vanhoucke, Ioffe, Shlens & Wojna 2016, "
                                      "Rethinking the Inception architecture for computer "
                                      "vision")),
    "resnet": ("ResNet", ("He, Zhang, Ren & Sun 2015, Deep residual learning for image "
                          "recognition")),
}
# Models that share a module with networks of another paper.
OWN = {
    "zfnet": ("ZFNet", ("Zeiler & Fergus 2013, Visualizing and understanding convolutional "
                        "networks")),
    "alexnet_torchvision": ("AlexNet", ("Krizhevsky 2014, One weird trick for parallelizing "
                                        "convolutional neural networks")),
}


def family(name: str) -> tuple[str, str]:
  """(family, paper) of a registered model."""
  if name in OWN:
    return OWN[name]
  constructor = models.MODELS[name]
  module = getattr(constructor, "func", constructor).__module__
  return FAMILIES[module.rsplit(".", 1)[-1]]


def describe(name: str) -> dict:
  """A registered model's family, paper, default input and parameter count."""
  model = models.create(name)
  shape = (model.input_size, model.input_size, models.input_channels(name))
  x = jax.ShapeDtypeStruct((1,) + shape, jnp.float32)
  variables = jax.eval_shape(functools.partial(model.init, train=False),
                             jax.random.PRNGKey(0), x)
  params = jax.tree.leaves(nn.unbox(variables).get("params", {}))
  fam, paper = family(name)
  return {"name": name, "family": fam, "paper": paper, "input": list(shape),
          "num_classes": model.num_classes,
          "parameters": int(sum(int(np.prod(p.shape)) for p in params))}


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(prog="python -m jaxcnn.models",
                                   description=__doc__.split("\n")[0])
  parser.add_argument("--json", action="store_true", help="One JSON object per model and line.")
  args = parser.parse_args(argv)
  if not args.json:
    print(f"{'model':<22} {'family':<10} {'input':<10} {'classes':>7} {'parameters':>12}  paper")
  for name in models.MODELS:
    row = describe(name)
    if args.json:
      print(json.dumps(row), flush=True)
    else:
      size = "x".join(str(d) for d in row["input"])
      print(f"{name:<22} {row['family']:<10} {size:<10} {row['num_classes']:>7} "
            f"{row['parameters']:>12,}  {row['paper']}", flush=True)
  return 0


if __name__ == "__main__":
  sys.exit(main())
