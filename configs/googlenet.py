"""GoogLeNet (Inception v1) on ILSVRC-2012, with its auxiliary classifiers at weight 0.3.

Paper: Szegedy et al., 2014, "Going Deeper with Convolutions", Table 1 (architecture),
Sec. 5 (auxiliary classifiers), Sec. 6 (training), Sec. 7 (results). Recipe: crops of 8 to
100 % of the image area with aspect ratio in [3/4, 4/3] resized to 224x224, flips; SGD
momentum 0.9, lr lowered by 4 % every 8 epochs; dropout 0.4 before the classifier, 0.7 in
the auxiliary heads, whose losses are added with weight 0.3. The paper gives neither the
initial learning rate, the batch size, the weight decay nor the number of epochs; 0.01,
128, 2e-4 and 90 are ours (lr and weight decay as in the BVLC Caffe reproduction). Photometric distortions and Polyak
averaging are not used.

Departure from the paper: the last 10,000 training images are held out (validation_split)
and the best checkpoint is decided on them; the paper chose on the 50,000 validation
images it reported on, here the test split (eval_split).

  python -m jaxcnn.main --config=configs/googlenet.py --workdir=runs/googlenet

Expected: 10.07 % top-5 error for one model and one crop (Table 4); the paper's 6.67 %
needs 7 models and 144 crops. Needs imagenet2012 prepared (the run says how). The 144 crops
(Sec. 6; Table 5: 7.89 % for one model) and the ensemble of several runs:

  python -m jaxcnn.main --config=configs/googlenet.py --workdir=runs/googlenet --mode=eval \\
      --config.eval_protocol=multi_crop --config.eval_batch_size=64
  python -m jaxcnn.tools.ensemble runs/googlenet runs/googlenet_2 ... --protocol=multi_crop \\
      --batch_size=64

Variants (``--config=configs/googlenet.py:VARIANT``):
  default  the recipe above.
  small    Fashion-MNIST at width 0.25, scale and aspect-ratio crops of the 28x28 images
           resized to 64x64 (evaluation: rescaled to 72, the centre 64), flips; 4 epochs of
           batch 128, lr 0.05 with cosine decay. Measured while the crops were drawn on the
           images rescaled to 72 first: 18.94 +- 0.85 % top-1 error over 6 runs (seeds 0-2
           in two studies: experiments/results/aux_classifiers.md, gap_vs_fc.md), about
           5 min a run on the 2-core CPU.
"""

from jaxcnn import recipes
from jaxcnn.config import base_config


def get_config(arg: str | None = None):
  c = base_config()
  c.model = "googlenet"
  recipes.switches(c, "inception", "head", "aux_logits", "lrn", "factorise", "reduction")
  c.aux_loss_weight = 0.3
  variant = arg or "default"
  if variant == "default":
    recipes.imagenet(c, image_size=224, resize=256)
    c.data.train_crop = "inception"
    recipes.sgd(c, learning_rate=0.01, batch_size=128, weight_decay=2e-4)
    recipes.step_decay(c, epochs=90, boundaries=tuple(range(8, 90, 8)), factor=0.96)
  elif variant == "small":
    recipes.fashion_mnist(c, image_size=64, resize=72, train_crop="inception", flip=True)
    recipes.small(c, width=0.25, epochs=4, learning_rate=0.05)
  else:
    raise recipes.unknown_variant(__file__, variant, ("default", "small"))
  return c
