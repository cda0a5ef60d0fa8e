"""VGG-B with pairs of 3x3 convolutions vs single 5x5 convolutions (Simonyan & Zisserman, Sec. 4.1)."""

from experiments.study import Arm

TITLE = "Stacks of 3x3 convolutions vs one 5x5"
CLAIM = """
VGG (Sec. 4.1): replacing each pair of 3x3 convolutions of configuration B by a single 5x5
convolution (same receptive field) raises the top-1 error by 7 points (single-scale test).
"""
SETUP = """
The paper: configuration B and B with each pair of 3x3 convolutions replaced by one 5x5, on
ILSVRC: 224x224 crops of images rescaled to 256, flips, batch 256, SGD momentum 0.9, weight
decay 5e-4, dropout 0.5, lr 0.01 divided by 10 three times, 74 epochs; B, like the other
nets deeper than A, was initialised from a trained A (its first four convolutions and last
three FC layers); top-1 error of a single-scale test, a single run each. Ours: both nets at
width 0.25 (16-32-64-128-128 maps, FC 1024) on Fashion-MNIST (28x28 grey), random 32x32
crops of images rescaled to 36 with flips, batch 128, the paper's momentum, weight decay
and dropout, lr 0.01 with cosine decay, 4 epochs (1,872 steps), both from random He
initialisation, a centre-crop test, 3 seeds per arm. The 5x5 net has 5 convolutions to B's
10. At 32x32 input the five poolings leave 1x1 maps (the paper's 7x7), and blocks 4 and 5
work on 4x4 and 2x2 maps, smaller than a 5x5 kernel (the paper's 28x28 and 14x14).
"""
SCALE = """
Fashion-MNIST; VGG-B at width 0.25 on 32x32 crops of images rescaled to 36, 4 epochs
(configs/vgg13.py:small); the 5x5 arm is the model vgg_b_5x5.
"""
SEEDS = (0, 1, 2)
ARMS = [
    Arm("B, 3x3 pairs", "configs/vgg13.py:small", {"num_epochs": 4.0}, paper="baseline"),
    Arm("B, single 5x5", "configs/vgg13.py:small", {"num_epochs": 4.0, "model": "vgg_b_5x5"},
        paper="+7 top-1"),
]
COLUMNS = ("top1", "top5", "params", "macs")
NOTES = """
Two runs were interrupted and resumed from their checkpoints (B 3x3 seed 1, B 5x5 seed 0):
their wall times cover only the resumed part, so the total above is short of a full sitting.
The runs span several commits of the CPU convolution and pooling code; those compute the same
values up to float summation order (each record holds its commit).
"""
