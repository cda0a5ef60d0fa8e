"""Local response normalisation on and off: AlexNet (Sec. 3.3) and VGG A vs A-LRN (Table 3)."""

from experiments.study import Arm

TITLE = "Local response normalisation on and off"
CLAIM = """
AlexNet (Sec. 3.3): response normalisation lowers the top-1 and top-5 error rates by 1.4 and
1.2 points on ILSVRC (13% -> 11% test error for a 4-layer CIFAR-10 net). VGG (Sec. 4.1,
Table 3): LRN does not improve configuration A (A-LRN 29.7 / 10.5 vs A 29.6 / 10.4).
"""
SETUP = """
The papers: AlexNet on ILSVRC (random 224x224 crops, 227 in effect, of 256x256 images, flips,
PCA colour noise, N(0, 0.01^2) weights, batch 128, lr 0.01 divided by 10 when the validation
error stopped improving, about 90 epochs, ten-crop testing) with LRN (k = 2, n = 5,
alpha = 1e-4, beta = 0.75) after conv1 and conv2; VGG-A on ILSVRC (224x224 crops of images
rescaled to 256, flips, weights of variance 1e-2, batch 256, lr 0.01 divided by 10 three
times, 74 epochs, dense single-scale testing at 256), A-LRN normalising after its first
convolution; a single run per setting, momentum 0.9 and weight decay 5e-4 in both. Ours, on
Fashion-MNIST (28x28 grey), with that momentum and weight decay, batch 128, lr 0.01 with
cosine decay, He initialisation, a centre-crop test and 5 seeds per arm: AlexNet at width
0.25 with its two towers, dropout 0.5 and augmentation (random 67x67 crops of images
rescaled to 76, flips, PCA noise 0.1), 10 epochs (4,680 steps); VGG-A at width 0.25
(16-32-64-128-128 maps, FC 1024) on random 32x32 crops of images rescaled to 36 with flips,
4 epochs (1,872 steps), where the five poolings leave 1x1 maps (the paper's 7x7). Our LRN
has AlexNet's constants in both nets. AlexNet's CIFAR-10 result (13% -> 11%) is not tested.
"""
SCALE = """
Fashion-MNIST (60,000 training / 10,000 test images). AlexNet at width 0.25 on 67x67 crops
of images rescaled to 76, 10 epochs (configs/alexnet.py:small); VGG-A at width 0.25 on
32x32 crops, 4 epochs (configs/vgg11.py:small, configs/vgg11_lrn.py:small).
"""
SEEDS = (0, 1, 2, 3, 4)
ARMS = [
    Arm("AlexNet, no LRN", "configs/alexnet.py:small", {"model_kwargs.lrn": False},
        paper="baseline"),
    Arm("AlexNet, LRN", "configs/alexnet.py:small", baseline="AlexNet, no LRN",
        paper="-1.4 top-1, -1.2 top-5 (ILSVRC)"),
    Arm("VGG-A", "configs/vgg11.py:small", {"num_epochs": 4.0}, baseline="VGG-A",
        paper="29.6 / 10.4"),
    Arm("VGG-A-LRN", "configs/vgg11_lrn.py:small", {"num_epochs": 4.0}, baseline="VGG-A",
        paper="29.7 / 10.5"),
]
COLUMNS = ("top1", "top5")
