"""ResNet-110 for CIFAR-10 (three stages of 18 basic blocks, 16/32/64 maps, identity
shortcuts with zero-padding, option A; 1.7M parameters).

Paper: He, Zhang, Ren & Sun, 2015, "Deep Residual Learning for Image Recognition", Sec. 4.2
and Table 6. Recipe: 4-pixel padding, random 32x32 crops, flips; batch 128, SGD momentum
0.9, weight decay 1e-4, lr 0.1 divided by 10 at 32k and 48k steps, 64k steps in all. The
plain counterpart is ``--config.model=plain110``.

  python -m jaxcnn.main --config=configs/resnet110.py --workdir=runs/resnet110

Expected: 6.43 (best of 5 runs; mean 6.61 +- 0.16) % test error (Table 6). Needs cifar10 prepared (`tfds build cifar10`
with network access; the run says so when it is missing).

Variants (``--config=configs/resnet110.py:VARIANT``):
  default  the recipe above.
  small    Fashion-MNIST padded to 32x32 with the same augmentation; the first 10,000
           training images, 3 epochs of batch 128 with cosine decay from 0.1 after a linear
           warm-up over the first epoch (the scale of experiments/residual.py). Not yet
           trained at this size: expect about 20 min on the 2-core CPU (ResNet-56's time
           scaled by the multiply-adds, 505M against 250M a 32x32 image).
"""

from jaxcnn import recipes


def get_config(arg: str | None = None):
  return recipes.resnet_cifar("resnet110", arg, __file__)
