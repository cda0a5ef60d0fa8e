"""ZFNet: AlexNet with a 7x7/2 first layer, a stride-2 conv2 and no towers, on ILSVRC-2012.

Paper: Zeiler & Fergus, 2013, "Visualizing and Understanding Convolutional Networks",
Fig. 3 (architecture), Sec. 3 (training), Table 2 (results). Recipe: 224x224 crops of
images rescaled to 256, flips; batch 128, SGD momentum 0.9, lr 0.01 lowered by hand on
plateaus (divided by 10 here), dropout 0.5, weights N(0, 0.01^2), biases 0; 70 epochs;
10-crop testing.

Departure from the paper: the last 10,000 training images are held out (validation_split)
and the learning-rate plateaus and the best checkpoint are decided on them; the paper
decided on the 50,000 validation images it reported on, here the test split (eval_split).

  python -m jaxcnn.main --config=configs/zfnet.py --workdir=runs/zfnet

Expected: 38.4 / 16.5 % top-1 / top-5 error (1 ZFNet, Table 2); 12 days on one GTX 580
in the paper. Needs imagenet2012 prepared (the run says how).

Variants (``--config=configs/zfnet.py:VARIANT``):
  default  the recipe above.
  small    Fashion-MNIST at width 0.25, 63x63 random crops of images rescaled to 72, flips,
           He initialisation with zero biases; 10 epochs of batch 128, lr 0.01 with cosine
           decay. Measured: 14.97 % test error (seed 0) in 10.3 min on the 2-core CPU.
"""

from jaxcnn import recipes
from jaxcnn.config import base_config


def get_config(arg: str | None = None):
  c = base_config()
  c.model = "zfnet"
  recipes.switches(c, "lrn", "pool_window", "dropout", "dropout_site", "activation",
                   "weight_init")
  variant = arg or "default"
  if variant == "default":
    recipes.imagenet(c, image_size=224, resize=256)
    recipes.sgd(c, learning_rate=0.01, batch_size=128, weight_decay=5e-4)
    recipes.divide_on_plateau(c, epochs=70)
    c.eval_protocol = "ten_crop"
  elif variant == "small":
    recipes.fashion_mnist(c, image_size=63, resize=72, train_crop="random", flip=True)
    c.model_kwargs.weight_init = "he"
    recipes.small(c, width=0.25, epochs=10, learning_rate=0.01)
  else:
    raise recipes.unknown_variant(__file__, variant, ("default", "small"))
  return c
