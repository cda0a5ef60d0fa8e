"""ResNet-101 (bottleneck blocks, 7.6x10^9 multiply-adds) on ILSVRC-2012.

Paper: He, Zhang, Ren & Sun, 2015, "Deep Residual Learning for Image Recognition", Table 1
(architecture), Sec. 3.4 (training), Tables 2-3 (results). Recipe: shorter side rescaled
at random in [256, 480], 224x224 crops, flips; batch 256, SGD momentum 0.9, weight decay
1e-4, lr 0.1 divided by 10 at epochs 30 and 60, 90 epochs; BatchNorm, no dropout;
10-crop testing.

Departure from the paper: the last 10,000 training images are held out (validation_split)
and the best checkpoint is decided on them; the paper chose on the 50,000 validation
images it reported on, here the test split (eval_split).

  python -m jaxcnn.main --config=configs/resnet101.py --workdir=runs/resnet101

Expected error: 21.75 / 6.05 top-1 / top-5 (10-crop, Table 3). Needs imagenet2012 prepared (the run says how).

Variants (``--config=configs/resnet101.py:VARIANT``):
  default  the recipe above.
  small    Fashion-MNIST at width 0.25 (stage widths 16-32-64-128 (x4 out)), 64x64 crops of images
           rescaled to 72, flips; the first 10,000 training images, 3 epochs of batch 128
           with cosine decay from 0.1 after a linear warm-up over the first epoch.
           Measured: 23.22 % test error (seed 0) in 4.3 min on the 2-core CPU.
"""

from jaxcnn import recipes


def get_config(arg: str | None = None):
  return recipes.resnet_imagenet("resnet101", arg, __file__)
