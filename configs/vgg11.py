"""VGG configuration A (11 weight layers) on ILSVRC-2012.

Paper: Simonyan & Zisserman, 2014, "Very Deep Convolutional Networks for Large-Scale Image
Recognition", Table 1 (configuration A), Sec. 3.1 (training), Table 3 (results).
Recipe: batch 256, SGD momentum 0.9, weight decay 5e-4, dropout 0.5 on fc6/fc7, lr 0.01
divided by 10 when the validation error stops improving, 74 epochs; 224x224 crops of
images rescaled to S = 256, flips; dense (fully-convolutional) evaluation at Q = 256.

Departure from the paper: the last 10,000 training images are held out (validation_split)
and the learning-rate plateaus and the best checkpoint are decided on them; the paper
decided on the 50,000 validation images it reported on, here the test split (eval_split).

  python -m jaxcnn.main --config=configs/vgg11.py --workdir=runs/vgg11

Expected (Table 3, S = 256, single scale): top-1 / top-5 error 29.6 / 10.4 %.
Needs imagenet2012 prepared (the run says how); about 2-3 weeks on 4 GPUs in the paper.

Variants (``--config=configs/vgg11.py:VARIANT``):
  default  the recipe above.
  jitter   scale jittering S in [256, 512], evaluated densely at Q = 256, 384, 512.
  small    Fashion-MNIST at width 0.25 (16-32-64-128-128 maps, FC 1024), 32x32 crops of
           images rescaled to 36, flips, He initialisation, 4 epochs of batch 128 with
           cosine decay from 0.01. Measured: 13.12 +- 0.35 % top-1 error over
           3 seeds (the depth study's 32x32 design, results at 3846d94), about 4 min a
           run on the 2-core CPU.
"""

from jaxcnn import recipes


def get_config(arg: str | None = None):
  return recipes.vgg("vgg_a", arg, __file__)
