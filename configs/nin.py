"""Network in Network on CIFAR-10: three mlpconv blocks and global average pooling.

Paper: Lin, Chen & Yan, 2013, "Network In Network", Sec. 3 (mlpconv, global average
pooling), Sec. 4.2 (CIFAR-10). Recipe: dropout between the mlpconv blocks, translation and
flip augmentation (here ResNet's 4-pixel pad and crop); batch 128, SGD momentum 0.9, lr
divided by 10 when the error stops improving. The paper gives no learning rate or
weight decay; 0.1 and 1e-4 are ours. Its global contrast normalisation and ZCA whitening
are replaced by per-channel standardisation.

Departure from the paper: the last 5,000 training images are held out (validation_split, as
ResNet's 45k/5k split) and the learning-rate plateaus and the best checkpoint are decided on
them, never on the 10,000 test images the paper reports.

  python -m jaxcnn.main --config=configs/nin.py --workdir=runs/nin

Expected: 8.81 % test error with dropout and augmentation (Table 2). Needs cifar10
prepared (`tfds build cifar10` with network access; the run says so when it is missing).
``--config.model=nin_fc`` swaps the global average pooling for an FC head (Sec. 4.6).

Variants (``--config=configs/nin.py:VARIANT``):
  default  the recipe above.
  small    Fashion-MNIST padded to 32x32 at width 0.5, pad-and-crop and flips, He
           initialisation; the first 10,000 training images, 4 epochs of batch 128, lr 0.01
           with cosine decay (at 0.05 the ReLUs on its class maps die within a hundred
           steps). Measured: 60.20 % test error (seed 0) in 3.6 min on the 2-core CPU; NiN
           learns slowly at this rate, and these 312 steps only show that it learns. More
           data and steps (--config.train_split=train --config.num_epochs=3, some 16 min
           by the same rate) should do better; not yet measured.
"""

from jaxcnn import recipes
from jaxcnn.config import base_config


def get_config(arg: str | None = None):
  c = base_config()
  c.model = "nin"
  recipes.switches(c, "head", "dropout", "weight_init")
  variant = arg or "default"
  if variant == "default":
    recipes.cifar10(c)
    recipes.hold_out(c, 5_000)
    recipes.sgd(c, learning_rate=0.1, batch_size=128, weight_decay=1e-4)
    recipes.divide_on_plateau(c, epochs=200, patience=5)
  elif variant == "small":
    recipes.fashion_mnist(c, image_size=32, train_crop="pad", flip=True)
    c.data.random_crop_padding = 4
    c.model_kwargs.weight_init = "he"
    recipes.small(c, width=0.5, epochs=4, learning_rate=0.01, train_split="train[:10000]")
  else:
    raise recipes.unknown_variant(__file__, variant, ("default", "small"))
  return c
