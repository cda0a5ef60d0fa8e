"""ResNet-20 for CIFAR-10 (three stages of 3 basic blocks, 16/32/64 maps, identity
shortcuts with zero-padding, option A; 0.27M parameters).

Paper: He, Zhang, Ren & Sun, 2015, "Deep Residual Learning for Image Recognition", Sec. 4.2
and Table 6. Recipe: 4-pixel padding, random 32x32 crops, flips; batch 128, SGD momentum
0.9, weight decay 1e-4, lr 0.1 divided by 10 at 32k and 48k steps, 64k steps in all. The
plain counterpart is ``--config.model=plain20``.

  python -m jaxcnn.main --config=configs/resnet20.py --workdir=runs/resnet20

Expected: 8.75 % test error (Table 6). Needs cifar10 prepared (`tfds build cifar10`
with network access; the run says so when it is missing).

Variants (``--config=configs/resnet20.py:VARIANT``):
  default  the recipe above.
  small    Fashion-MNIST padded to 32x32 with the same augmentation; the first 10,000
           training images, 3 epochs of batch 128 with cosine decay from 0.1 (the scale of the
           residual study's first design). Measured: 19.67 +- 1.17 % test error over 3
           seeds, about 3.2 min a run on the 2-core CPU (plain20: 19.28 +- 0.12 %;
           experiments/results/residual.md at commit 3846d94).
"""

from jaxcnn import recipes


def get_config(arg: str | None = None):
  return recipes.resnet_cifar("resnet20", arg, __file__)
