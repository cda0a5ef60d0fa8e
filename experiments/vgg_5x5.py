"""VGG-B with pairs of 3x3 convolutions vs single 5x5 ones (Simonyan & Zisserman, Sec. 4.1)."""

from experiments.study import Arm

TITLE = "Stacks of 3x3 convolutions vs one 5x5"
CLAIM = """
VGG (Sec. 4.1): replacing each pair of 3x3 convolutions of configuration B by a single 5x5
convolution (same receptive field) raises the top-1 error by 7 points (single-scale test).
"""
SETUP = """
The paper: configuration B and B with each pair of 3x3 convolutions replaced by one 5x5, on
ILSVRC: 224x224 crops of images rescaled to 256, flips, batch 256, SGD momentum 0.9, weight
decay 5e-4, dropout 0.5, lr 0.01 divided by 10 three times, 74 epochs; B was initialised
from a trained A (its first four convolutions and last three FC layers); top-1 error of a
single-scale test, a single run each. Ours: both nets at width 0.125 (8-16-32-64-64 maps,
FC 512) on Fashion-MNIST rescaled to 72 with random 64x64 crops and flips, so blocks 4 and
5 work on 8x8 and 4x4 maps and the last pooling leaves 2x2 (at 32x32 input the earlier
design left 4x4, 2x2 and 1x1, smaller than a 5x5 kernel); batch 128, the paper's momentum,
weight decay and dropout, lr 0.01 with cosine decay, 8 epochs of the first 54,000 training
images (the last 6,000 held out for validation), both from random He initialisation (the
5x5 net has no layers an A could give), a centre-crop test, 5 seeds per arm. The 5x5 net has
5 convolutions to B's 10.
"""
SCALE = """
Fashion-MNIST rescaled to 72, random 64x64 crops, flips; VGG-B at width 0.125, 8 epochs of
training images 0-53,999 (configs/vgg13.py:small with the input, width, epochs and splits
overridden); the 5x5 arm is the model vgg_b_5x5.
"""
SEEDS = (0, 1, 2, 3, 4)
_RUN = {"data.image_size": 64, "data.resize": 72, "width": 0.125, "num_epochs": 8.0,
        "train_split": "train[:54000]", "validation_split": "train[54000:]"}
ARMS = [
    Arm("B, 3x3 pairs", "configs/vgg13.py:small", _RUN, paper="baseline"),
    Arm("B, single 5x5", "configs/vgg13.py:small", {**_RUN, "model": "vgg_b_5x5"},
        paper="+7 top-1"),
]
COLUMNS = ("top1", "top5", "train_error", "params", "macs")
