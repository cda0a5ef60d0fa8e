"""Depth: VGG configurations A (11), B (13), D (16) and E (19 layers) (Table 3)."""

from experiments.study import Arm

TITLE = "Depth: VGG A, B, D, E"
CLAIM = """
VGG (Table 3, S = 256): the error falls with depth from A (11 layers, 29.6 / 10.4) to B
(13, 28.7 / 9.9) and D (16, 27.0 / 8.8), and saturates at E (19, 27.3 / 9.0).
"""
SETUP = """
The paper: configurations A, B, D and E on ILSVRC, 224x224 crops of images rescaled to
S = 256, flips, batch 256, SGD momentum 0.9, weight decay 5e-4, dropout 0.5, lr 0.01 divided
by 10 three times, 74 epochs; A from random weights of variance 1e-2, the deeper nets
initialised from a trained A (its first four convolutions and last three FC layers); dense
single-scale testing at 256, a single run each. Ours: every net at width 0.25
(16-32-64-128-128 maps, FC 1024) on Fashion-MNIST (28x28 grey), random 32x32 crops of images
rescaled to 36 with flips, batch 128, the paper's momentum, weight decay and dropout, lr 0.01
with cosine decay, 4 epochs (1,872 steps), every depth from random He initialisation (none
from A), a centre-crop test, 3 seeds per arm. At 32x32 input the five poolings leave 1x1
maps (the paper's 7x7): the convolutions that D and E add to B, in blocks 3-5, work on 8x8,
4x4 and 2x2 maps (the paper's 56x56, 28x28 and 14x14).
"""
SCALE = """
Fashion-MNIST; VGG at width 0.25 (16-32-64-128-128 maps, FC 1024) on 32x32 crops of images
rescaled to 36, He initialisation, 4 epochs (configs/vgg11.py, vgg13.py, vgg16.py,
vgg19.py, variant small).
"""
NOTES = """
The three runs of A shared the two cores with benchmarks and tests (load average 3.3-3.6 at
their ends), and A's seed 2 was paused (SIGSTOP) for 3 min 16 s while a benchmark ran: its
recorded wall time, 407 s, includes the pause, and so does the study's total. The results
are unaffected.
"""
SEEDS = (0, 1, 2)
_SHORT = {"num_epochs": 4.0}
ARMS = [
    Arm("A (11 layers)", "configs/vgg11.py:small", _SHORT, paper="29.6 / 10.4"),
    Arm("B (13 layers)", "configs/vgg13.py:small", _SHORT, paper="28.7 / 9.9"),
    Arm("D (16 layers)", "configs/vgg16.py:small", _SHORT, paper="27.0 / 8.8"),
    Arm("E (19 layers)", "configs/vgg19.py:small", _SHORT, paper="27.3 / 9.0"),
]
COLUMNS = ("top1", "top5", "params", "macs")
