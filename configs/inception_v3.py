"""Inception-v3 on ILSVRC-2012, as torchvision builds it, with its auxiliary head.

Paper: Szegedy, Vanhoucke, Ioffe, Shlens & Wojna, 2016, "Rethinking the Inception
Architecture for Computer Vision", Sec. 5-6 (the network, Fig. 5-7 and 10), Sec. 7 (label
smoothing), Sec. 8 (training). Recipe: 299x299 crops (8 to 100 % of the area, aspect ratio
in [3/4, 4/3]), flips; RMSProp with decay 0.9 and epsilon 1.0, lr 0.045 multiplied by 0.94
every two epochs, gradient clipping at global norm 2.0, label smoothing 0.1, the auxiliary
head's loss added (weight 0.4, TF-slim's; the paper gives none), 100 epochs at batch 32 (the
paper's per-replica batch: 50 replicas updated the parameters asynchronously, each with its
own 32 images). Weight decay 4e-5 is TF-slim's (the paper gives none). Evaluation: the
central 299x299 of the image rescaled to 342 (87.5 %, TF-slim's).

Departure from the paper: the last 10,000 training images are held out (validation_split)
and the best checkpoint is decided on them; the paper reported on the 50,000 validation
images, here the test split (eval_split).

  python -m jaxcnn.main --config=configs/inception_v3.py --workdir=runs/inception_v3

Expected: 21.2 / 5.6 % top-1 / top-5 error for one crop (Table 3, the full Inception-v3 with
the auxiliary head's BatchNorm). Needs imagenet2012 prepared (the run says how).

Variants (``--config=configs/inception_v3.py:VARIANT``):
  default  the recipe above.
  small    Fashion-MNIST at width 0.25, scale and aspect-ratio crops of the 28x28 images
           resized to 75x75 (the smallest input the network takes; evaluation: rescaled to
           84, the centre 75), flips; no
           auxiliary head (its 5x5 convolution needs the 17x17 map of a 299 input); 4 epochs
           of batch 128, SGD lr 0.05 with cosine decay, as the small GoogLeNet. Not yet
           measured.
"""

from jaxcnn import recipes
from jaxcnn.config import base_config


def get_config(arg: str | None = None):
  c = base_config()
  c.model = "inception_v3"
  recipes.switches(c, "aux_logits", "reduction", "transform_input", "dropout_rate")
  variant = arg or "default"
  if variant == "default":
    recipes.imagenet(c, image_size=299, resize=342)
    c.data.train_crop = "inception"
    c.batch_size = 32
    c.optimizer.name = "rmsprop"
    c.optimizer.learning_rate = 0.045
    c.optimizer.decay, c.optimizer.eps, c.optimizer.momentum = 0.9, 1.0, 0.9
    c.optimizer.weight_decay = 4e-5
    c.grad_clip_norm = 2.0
    c.label_smoothing = 0.1
    c.aux_loss_weight = 0.4
    recipes.step_decay(c, epochs=100, boundaries=tuple(range(2, 100, 2)), factor=0.94)
  elif variant == "small":
    recipes.fashion_mnist(c, image_size=75, resize=84, train_crop="inception", flip=True)
    c.model_kwargs.aux_logits = False
    recipes.small(c, width=0.25, epochs=4, learning_rate=0.05)
  else:
    raise recipes.unknown_variant(__file__, variant, ("default", "small"))
  return c
