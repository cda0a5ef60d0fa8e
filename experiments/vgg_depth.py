"""Depth: VGG configurations A (11), B (13), D (16) and E (19 layers) (Table 3)."""

from experiments.study import Arm

TITLE = "Depth: VGG A, B, D, E"
CLAIM = """
VGG (Table 3, S = 256): the error falls with depth from A (11 layers, 29.6 / 10.4) to B
(13, 28.7 / 9.9) and D (16, 27.0 / 8.8), and saturates at E (19, 27.3 / 9.0).
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
