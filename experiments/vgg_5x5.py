"""VGG-B with pairs of 3x3 convolutions vs single 5x5 convolutions (Simonyan & Zisserman, Sec. 4.1)."""

from experiments.study import Arm

TITLE = "Stacks of 3x3 convolutions vs one 5x5"
CLAIM = """
VGG (Sec. 4.1): replacing each pair of 3x3 convolutions of configuration B by a single 5x5
convolution (same receptive field) raises the top-1 error by 7 points (single-scale test).
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
