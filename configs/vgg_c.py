"""VGG configuration C (16 weight layers, three of them 1x1 convolutions) on ILSVRC-2012.

Paper: Simonyan & Zisserman, 2014, "Very Deep Convolutional Networks for Large-Scale Image
Recognition", Table 1 (configuration C: B plus a 1x1 conv ending each of blocks 3-5),
Sec. 3.1 (training), Tables 3-4 (results). Recipe: batch 256, SGD momentum 0.9, weight decay
5e-4, dropout 0.5 on fc6/fc7, lr 0.01 divided by 10 when the validation error stops
improving, 74 epochs; 224x224 crops of images rescaled to S = 256, flips; dense
(fully-convolutional) evaluation at Q = 256.

  python -m jaxcnn.main --config=configs/vgg_c.py --workdir=runs/vgg_c

The paper started C from a trained A (its first four convs and the three FC layers, the rest
N(0, 0.01^2)); to do the same, add --config.init_from=RUNS_A --config.init_from_layers=vgg_a
--config.model_kwargs.weight_init=normal (by default the random layers are Glorot's).

Expected (Table 3, S = 256, single scale): top-1 / top-5 error 28.1 / 9.4 %; with `:jitter`
(S in [256, 512]) and dense testing at Q = 256, 384, 512, 26.3 / 8.2 (Table 4).
Needs imagenet2012 prepared (the run says how).

Variants (``--config=configs/vgg_c.py:VARIANT``):
  default  the recipe above.
  jitter   scale jittering S in [256, 512], evaluated densely at Q = 256, 384, 512.
  small    Fashion-MNIST at width 0.25 (16-32-64-128-128 maps, FC 1024), 32x32 crops of
           images rescaled to 36, flips, He initialisation, 4 epochs of batch 128 with
           cosine decay from 0.01, as configs/vgg13.py's; not yet measured.
"""

from jaxcnn import recipes


def get_config(arg: str | None = None):
  return recipes.vgg("vgg_c", arg, __file__)
