"""ResNet-56 for CIFAR-10 (three stages of 9 basic blocks, 16/32/64 maps, identity
shortcuts with zero-padding, option A; 0.85M parameters).

Paper: He, Zhang, Ren & Sun, 2015, "Deep Residual Learning for Image Recognition", Sec. 4.2
and Table 6. Recipe: 4-pixel padding, random 32x32 crops, flips; batch 128, SGD momentum
0.9, weight decay 1e-4, lr 0.1 divided by 10 at 32k and 48k steps, 64k steps in all. The
plain counterpart is ``--config.model=plain56``.

  python -m jaxcnn.main --config=configs/resnet56.py --workdir=runs/resnet56

Expected: 6.97 % test error (Table 6). Needs cifar10 prepared (`tfds build cifar10`
with network access; the run says so when it is missing).

Variants (``--config=configs/resnet56.py:VARIANT``):
  default  the recipe above.
  small    Fashion-MNIST padded to 32x32 with the same augmentation; the first 10,000
           training images, 3 epochs of batch 128 with cosine decay from 0.1 after a linear
           warm-up over the first epoch (the scale of the residual study's first design). Measured:
           18.59 % test error (seed 0) in 10.3 min on the 2-core CPU. Without the warm-up
           (--config.schedule.warmup_epochs=0, experiments/results/residual.md at 3846d94) it
           does not settle in these 234 steps: 56.76 +- 8.33 % over 3 seeds (plain56:
           44.37 +- 4.44 %).
"""

from jaxcnn import recipes


def get_config(arg: str | None = None):
  return recipes.resnet_cifar("resnet56", arg, __file__)
