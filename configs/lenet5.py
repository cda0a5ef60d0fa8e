"""LeNet-5 (modern form: ReLU, max-pool, softmax) on Fashion-MNIST.

Paper: LeCun et al., 1998, "Gradient-based learning applied to document
recognition", Fig. 2 (layer sizes); the paper-faithful network is a separate
model. Recipe: SGD momentum 0.9, batch 128, lr 0.05 with cosine decay, weight
decay 5e-4 on kernels, 15 epochs, no augmentation.

  python -m jaxcnn.main --config=configs/lenet5.py --workdir=runs/lenet5

Measured: 91.25% top-1 on the 10,000 test images (seed 0, at 3846d94; the command above,
which `make train` runs).

Variants (``--config=configs/lenet5.py:VARIANT``):
  default  the recipe above.
  small    width 0.5 (3-8-60-42 units), 5 epochs with the same recipe.
  tiny     200 steps with width 0.5, for smoke tests (about 85% top-1).
"""

from jaxcnn import recipes
from jaxcnn.config import base_config


def get_config(arg: str | None = None):
  config = base_config()
  config.model = "lenet5_modern"
  config.dataset = "fashion_mnist"
  config.data.mean, config.data.std = recipes.FASHION_MNIST_MEAN, recipes.FASHION_MNIST_STD
  config.batch_size = 128
  config.num_epochs = 15
  config.optimizer.learning_rate = 0.05
  config.optimizer.momentum = 0.9
  config.optimizer.weight_decay = 5e-4
  config.schedule.name = "cosine"
  config.log_every_steps = 100
  config.checkpoint_every_steps = 2000

  variant = arg or "default"
  if variant == "tiny":
    config.width = 0.5
    config.num_train_steps = 200
    config.log_every_steps = 50
  elif variant == "small":
    config.width = 0.5
    config.num_epochs = 5
  elif variant != "default":
    raise recipes.unknown_variant(__file__, variant, ("default", "small", "tiny"))
  return config
