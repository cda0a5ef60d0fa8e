"""AlexNet on ILSVRC-2012: two towers, LRN, overlapping pooling, dropout, PCA colour noise.

Paper: Krizhevsky, Sutskever & Hinton, 2012, "ImageNet Classification with Deep
Convolutional Neural Networks": Sec. 3 (architecture), 4.1 (augmentation), 5 (training),
6 (results). Recipe: 227x227 random crops of images rescaled to 256 (the paper says 224;
11x11/4 with no padding needs 227 to give 55x55), flips, PCA colour noise with std 0.1;
dropout 0.5 on the outputs of fc6 and fc7 (Sec. 4.2); batch 128, SGD momentum 0.9, weight
decay 5e-4, weights N(0, 0.01^2), biases 1 in conv2, conv4, conv5 and the hidden FC layers;
lr 0.01 divided by 10 when the validation error stops improving; about 90 epochs; 10-crop
testing (corners and centre, with flips).

Departure from the paper: the last 10,000 training images are held out (validation_split)
and the learning-rate plateaus and the best checkpoint are decided on them; the paper
decided on the 50,000 validation images it reported on, here the test split (eval_split).

  python -m jaxcnn.main --config=configs/alexnet.py --workdir=runs/alexnet

Expected: 40.7 / 18.2 % top-1 / top-5 error on the validation set (one CNN, Sec. 6);
five to six days on two GTX 580 GPUs in the paper. Needs imagenet2012 prepared (the run
says how). With two devices, --config.mesh.model=2 places the towers as the paper did.

Variants (``--config=configs/alexnet.py:VARIANT``):
  default  the recipe above.
  small    Fashion-MNIST at width 0.25 (24-64-96-96-64 maps, FC 1024), 67x67 random crops
           of images rescaled to 76, flips, PCA noise 0.1, He initialisation with zero
           biases (from the paper's N(0, 0.01^2) a network this narrow does not start to
           learn within an epoch); 10 epochs of batch 128, lr 0.01 with cosine decay.
           Measured: 16.3 +- 1.7% top-1 error over 5 seeds (the AlexNet LRN arm of
           experiments/results/lrn.md, trained with the dropout masks on fc6's and fc7's
           inputs, torchvision's order, before model_kwargs.dropout_site put them on the
           outputs as the paper does), 5-10 min per run on the 2-core CPU with other
           jobs sharing it.
  fig1     Figure 1's experiment (ReLU vs tanh): model alexnet_fig1, the four-layer net
           (three 5x5 convs of 32-32-64 maps with 3x3/2 pooling, one FC layer), on
           Fashion-MNIST as it is (28x28, no augmentation), no regularisation of any kind (no
           dropout, LRN, weight decay or augmentation), batch 128, SGD momentum 0.9 at a
           constant learning rate (0.01; the study sweeps it per activation), 8 epochs.
"""

from jaxcnn import recipes
from jaxcnn.config import base_config


def get_config(arg: str | None = None):
  c = base_config()
  variant = arg or "default"
  if variant == "fig1":
    c.model = "alexnet_fig1"
    recipes.switches(c, "activation", "init_scale")
    recipes.fashion_mnist(c)
    recipes.small(c, width=1.0, epochs=8, learning_rate=0.01, weight_decay=0.0)
    c.schedule.name = "constant"
    return c
  c.model = "alexnet"
  recipes.switches(c, "lrn", "pool_window", "towers", "dropout", "dropout_site", "activation",
                   "weight_init")
  if variant == "default":
    recipes.imagenet(c, image_size=227, resize=256)
    c.data.pca_noise = 0.1
    recipes.sgd(c, learning_rate=0.01, batch_size=128, weight_decay=5e-4)
    recipes.divide_on_plateau(c, epochs=90)
    c.eval_protocol = "ten_crop"
  elif variant == "small":
    recipes.fashion_mnist(c, image_size=67, resize=76, train_crop="random", flip=True)
    c.data.pca_noise = 0.1
    c.model_kwargs.weight_init = "he"
    recipes.small(c, width=0.25, epochs=10, learning_rate=0.01)
  else:
    raise recipes.unknown_variant(__file__, variant, ("default", "small", "fig1"))
  return c
