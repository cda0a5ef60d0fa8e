"""Dataset and optimisation settings that several experiment configs share (see configs/)."""

import os

from ml_collections import ConfigDict

# Per-channel pixel statistics of the training sets, for inputs scaled to [0, 1].
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
FASHION_MNIST_MEAN, FASHION_MNIST_STD = (0.2860,), (0.3530,)


def imagenet(c: ConfigDict, *, image_size: int = 224, resize: int = 256) -> ConfigDict:
  """ILSVRC-2012 (TFDS imagenet2012, which needs the manual download): random
  ``image_size`` crops of images rescaled to ``resize`` plus flips; centre-crop evaluation
  on the 50,000 validation images, the test split here. The last 10,000 training images are
  held out as the validation split, which the learning-rate plateaus and the best checkpoint
  are decided on; the papers decided on the validation set they reported on."""
  c.dataset = "imagenet2012"
  c.eval_split = "validation"
  hold_out(c, 10_000)
  c.data.mean, c.data.std = IMAGENET_MEAN, IMAGENET_STD
  c.data.resize, c.data.image_size = resize, image_size
  c.data.train_crop, c.data.random_flip = "random", True
  c.eval_protocol = "center"
  c.eval_batch_size = 500
  return c


def hold_out(c: ConfigDict, n: int) -> ConfigDict:
  """Trains on all but the last ``n`` training examples and holds those out as the validation
  split (TFDS stores examples shuffled: the last ``n`` are a random sample)."""
  c.train_split, c.validation_split = f"train[:-{n}]", f"train[-{n}:]"
  return c


def cifar10(c: ConfigDict) -> ConfigDict:
  """CIFAR-10 with ResNet's augmentation (Sec. 4.2): 4-pixel padding, random 32x32 crops,
  horizontal flips; evaluation on the 10,000 test images as they are."""
  c.dataset = "cifar10"
  c.train_split, c.eval_split = "train", "test"
  c.data.mean, c.data.std = CIFAR10_MEAN, CIFAR10_STD
  c.data.image_size = 32
  c.data.train_crop, c.data.random_crop_padding, c.data.random_flip = "pad", 4, True
  return c


def fashion_mnist(c: ConfigDict, *, image_size: int = 0, resize: int = 0,
                  train_crop: str = "none", flip: bool = False) -> ConfigDict:
  """Fashion-MNIST (60,000 / 10,000 28x28 grey images), the scale this project's small
  variants and ablation studies run at. ``resize`` rescales the 28x28 images (0: as they
  are); ``image_size`` is the network's input (padded or centre-cropped to it)."""
  c.dataset = "fashion_mnist"
  c.train_split, c.eval_split = "train", "test"
  c.data.mean, c.data.std = FASHION_MNIST_MEAN, FASHION_MNIST_STD
  c.data.resize, c.data.image_size = resize, image_size
  c.data.train_crop, c.data.random_flip = train_crop, flip
  c.eval_protocol = "center"
  c.eval_batch_size = 1000
  return c


def sgd(c: ConfigDict, *, learning_rate: float, batch_size: int, weight_decay: float,
        momentum: float = 0.9) -> ConfigDict:
  """SGD with momentum and coupled (L2) weight decay, as all of these papers trained."""
  c.batch_size = batch_size
  c.optimizer.name = "sgd"
  c.optimizer.learning_rate = learning_rate
  c.optimizer.momentum = momentum
  c.optimizer.weight_decay = weight_decay
  c.optimizer.weight_decay_mode = "coupled"
  return c


def divide_on_plateau(c: ConfigDict, *, epochs: float, patience: int = 2) -> ConfigDict:
  """The learning rate divided by 10 when the validation error stops improving
  (AlexNet Sec. 5, VGG Sec. 3.1): the error on config.validation_split, never the test data."""
  c.num_epochs = epochs
  c.schedule.name = "plateau"
  c.schedule.decay_factor = 0.1
  c.schedule.patience = patience
  c.eval_every_epochs = 1.0
  return c


def step_decay(c: ConfigDict, *, epochs: float, boundaries: tuple, factor: float = 0.1,
               warmup_epochs: float = 0.0) -> ConfigDict:
  """The learning rate multiplied by ``factor`` at each boundary (in epochs)."""
  c.num_epochs = epochs
  c.schedule.name = "multistep"
  c.schedule.boundaries_epochs = tuple(boundaries)
  c.schedule.decay_factor = factor
  c.schedule.warmup_epochs = warmup_epochs
  return c


def cosine(c: ConfigDict, *, epochs: float, warmup_epochs: float = 0.0) -> ConfigDict:
  """Cosine decay to zero: the small variants' schedule, which needs no tuning of when to
  decay for a run of a few epochs."""
  c.num_epochs = epochs
  c.schedule.name = "cosine"
  c.schedule.warmup_epochs = warmup_epochs
  c.eval_every_epochs = 1.0
  return c


def unknown_variant(path: str, variant: str, known) -> ValueError:
  """The error for a variant a config file lacks; ``path``: the file's ``__file__``."""
  name = os.path.join("configs", os.path.basename(path))
  return ValueError(f"Unknown variant {variant!r} of {name}; use one of: {', '.join(known)}.")


def small(c: ConfigDict, *, width: float, epochs: float, learning_rate: float,
          weight_decay: float = 5e-4, batch_size: int = 128,
          train_split: str = "train") -> ConfigDict:
  """The small variants' training: SGD with momentum, cosine decay, Fashion-MNIST."""
  c.width = width
  c.train_split = train_split
  sgd(c, learning_rate=learning_rate, batch_size=batch_size, weight_decay=weight_decay)
  cosine(c, epochs=epochs)
  c.log_every_steps = 100
  c.checkpoint_every_steps = 1000
  return c


def vgg(model: str, variant: str | None, path: str) -> ConfigDict:
  """VGG (Simonyan & Zisserman 2014, Sec. 3.1) on ILSVRC-2012, or its small variants."""
  from jaxcnn.config import base_config
  c = base_config()
  c.model = model
  switches(c, "dropout", "batch_norm")
  variant = variant or "default"
  if variant in ("default", "jitter"):
    # Sec. 3.1: batch 256, momentum 0.9, weight decay 5e-4, dropout 0.5, lr 1e-2 divided by
    # 10 when the validation accuracy stopped improving (3 times), 74 epochs; 224 crops of
    # images rescaled to S = 256 (or S in [256, 512] with "jitter"), flips.
    imagenet(c, image_size=224, resize=256)
    sgd(c, learning_rate=0.01, batch_size=256, weight_decay=5e-4)
    divide_on_plateau(c, epochs=74)
    # The paper initialised B-E from a trained A; its footnote: Glorot's initialisation
    # works without it. Configuration A keeps the paper's N(0, 0.01^2).
    c.model_kwargs.weight_init = "normal" if model in ("vgg_a", "vgg_a_lrn") else "glorot"
    if variant == "jitter":
      c.data.train_crop, c.data.scale_jitter = "scale_jitter", (256, 512)
    c.eval_protocol = "dense"
    c.eval_scales = (256,) if variant == "default" else (256, 384, 512)
  elif variant == "small":
    # Width 0.25 (16-32-64-128-128 maps, FC 1024), 32x32 crops of Fashion-MNIST rescaled to
    # 36, flips; He initialisation, from which every depth trains from scratch (from
    # Glorot's, E at this width does not start to learn in 300 steps).
    fashion_mnist(c, image_size=32, resize=36, train_crop="random", flip=True)
    small(c, width=0.25, epochs=4, learning_rate=0.01)
    c.model_kwargs.weight_init = "he"
  else:
    raise unknown_variant(path, variant, ("default", "jitter", "small"))
  return c


def resnet_imagenet(model: str, variant: str | None, path: str) -> ConfigDict:
  """ResNet (He et al. 2015, Sec. 3.4) on ILSVRC-2012, or its small variant."""
  from jaxcnn.config import base_config
  c = base_config()
  c.model = model
  variant = variant or "default"
  if variant == "default":
    # Sec. 3.4: scale augmentation (shorter side in [256, 480]), 224 crops, flips; batch 256,
    # lr 0.1 divided by 10 when the error plateaus (here at epochs 30 and 60 of 90, as the
    # 60x10^4 iterations come to), weight decay 1e-4, momentum 0.9; BN, no dropout.
    imagenet(c, image_size=224, resize=256)
    c.data.train_crop, c.data.scale_jitter = "scale_jitter", (256, 480)
    sgd(c, learning_rate=0.1, batch_size=256, weight_decay=1e-4)
    step_decay(c, epochs=90, boundaries=(30, 60))
    c.eval_protocol = "ten_crop"  # Tables 2-3 report 10-crop testing.
  elif variant == "small":
    # Width 0.25 (16-32-64-128 maps in the basic-block stages), 64x64 crops of Fashion-MNIST
    # rescaled to 72, flips; the first 10,000 training images for 3 epochs, as the CIFAR
    # nets' small variant, so that ResNet-152 too trains in a short CPU run (its config
    # gives the measured time).
    fashion_mnist(c, image_size=64, resize=72, train_crop="random", flip=True)
    small(c, width=0.25, epochs=3, learning_rate=0.1, weight_decay=1e-4,
          train_split="train[:10000]")
    small_warmup(c, model)
  else:
    raise unknown_variant(path, variant, ("default", "small"))
  return c


def small_warmup(c: ConfigDict, model: str) -> ConfigDict:
  """A linear warm-up over the first epoch for the small variants of nets deeper than 34
  layers, without which the deepest small nets did not settle: their 234 steps leave no time
  to recover from a rough start at lr 0.1. The test errors and losses with and without it are
  in configs/resnet56.py, configs/resnet50.py and the residual study's first design
  (experiments/results/residual.md at commit 3846d94)."""
  if int("".join(ch for ch in model if ch.isdigit())) > 34:
    c.schedule.warmup_epochs = 1.0
  return c


def resnet_cifar(model: str, variant: str | None, path: str) -> ConfigDict:
  """The CIFAR-10 ResNets and plain nets (He et al. 2015, Sec. 4.2), or their small variant."""
  from jaxcnn.config import base_config
  c = base_config()
  c.model = model
  variant = variant or "default"
  if variant == "default":
    # Sec. 4.2: batch 128, lr 0.1 divided by 10 at 32k and 48k iterations, stop at 64k (45k/5k
    # train/val split in the paper; all 50k here), weight decay 1e-4, momentum 0.9.
    cifar10(c)
    sgd(c, learning_rate=0.1, batch_size=128, weight_decay=1e-4)
    steps_per_epoch = 50_000 // 128
    step_decay(c, epochs=64_000 / steps_per_epoch,
               boundaries=(32_000 / steps_per_epoch, 48_000 / steps_per_epoch),
               # ResNet-110 trained at 0.01 until its training error fell below 80% (~400
               # steps); a linear warm-up over those steps stands in for it.
               warmup_epochs=400 / steps_per_epoch if model.endswith("110") else 0.0)
    c.num_train_steps = 64_000
  elif variant == "small":
    # Fashion-MNIST padded to 32x32, with the paper's pad-4-and-crop and flips; the first
    # 10,000 training images for 3 epochs, so that even the 110-layer nets train in a short
    # CPU run (the residual study's scale; the configs give the times).
    fashion_mnist(c, image_size=32, train_crop="pad", flip=True)
    c.data.random_crop_padding = 4
    small(c, width=1.0, epochs=3, learning_rate=0.1, weight_decay=1e-4,
          train_split="train[:10000]")
    small_warmup(c, model)
  else:
    raise unknown_variant(path, variant, ("default", "small"))
  return c


def switches(c: ConfigDict, *names: str) -> ConfigDict:
  """Declares the model's ablation switches in ``c.model_kwargs`` with the values the
  registered model has, so that each can be overridden from the command line
  (``--config.model_kwargs.lrn=false``) although configs are locked."""
  import functools
  from jaxcnn import models
  entry = models.MODELS[c.model]
  cls, preset = ((entry.func, entry.keywords) if isinstance(entry, functools.partial)
                 else (entry, {}))
  for name in names:
    c.model_kwargs[name] = preset.get(name, cls.__dataclass_fields__[name].default)
  return c
