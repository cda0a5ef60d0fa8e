"""Plain vs residual networks at 20 and 56 layers (He et al., Sec. 4.2, Fig. 6)."""

from experiments.study import Arm

TITLE = "Plain vs residual at 20 and 56 layers"
CLAIM = """
ResNet (Sec. 4.2, Fig. 6, CIFAR-10): the deeper plain net has higher training and test
error than the shallower one (degradation: plain-56 is worse than plain-20), while residual
nets gain from depth (ResNet-20 8.75%, ResNet-56 6.97% test error).
"""
SETUP = """
The paper: CIFAR-10 (32x32 colour), 4-pixel padding with random 32x32 crops and flips; three
stages of 16, 32 and 64 maps with identity (option A) shortcuts, the plain nets the same
without them; batch 128, SGD momentum 0.9, weight decay 1e-4, lr 0.1 divided by 10 at 32,000
and 48,000 steps, 64,000 steps in all; a warm-up (lr 0.01 until the training error fell
below 80%, about 400 steps) only for ResNet-110, none at 20 or 56 layers, where it reports
single runs. Ours: the same nets at the same widths on Fashion-MNIST (28x28 grey, padded to
32x32), the first 10,000 of its 60,000 training images, the paper's augmentation, batch,
momentum and weight decay, lr 0.1 from the first step (no warm-up in any arm) with cosine
decay, 3 epochs (234 steps), the test on the 10,000 test images, 3 seeds per arm.
Differences: the data set, a sixth of its training images, 234 steps against 64,000, and
cosine decay in place of the two divisions.
"""
SCALE = """
Fashion-MNIST padded to 32x32, the first 10,000 training images, 3 epochs, pad-and-crop and
flips, cosine decay from 0.1 (configs/resnet20.py:small, configs/resnet56.py:small; plain
nets by --config.model=plain20/plain56). The train error is measured on those 10,000 images.
"""
NOTES = """
plain-20 seed 1 was stopped with SIGTERM at step 79 of 234 and resumed from its checkpoint:
its recorded wall time, 125 s, covers only the resumed part. ResNet-20
seed 2 (312 s) shared the cores with unit tests; the other 20-layer runs took 179-202 s and
the 56-layer runs 484-615 s. At lr 0.1 from the first step (the paper's recipe for these
depths, which it trained for 64,000 steps, not 234), ResNet-56 did not settle in the first
epoch: seed 0's test loss after it was 1,226 (all at chance), seeds 1 and 2 stood at 22% and
18% test accuracy, against 28-61% for ResNet-20. The small variants of the 56-layer nets have
since been given a one-epoch warm-up; the arms pin it to 0, and the records' commands, written
before that, build the same configs without the pin.
"""
SEEDS = (0, 1, 2)
# The paper's lr 0.1 from the first step: the small variants of the 56-layer nets warm up.
_SCALE = {"train_split": "train[:10000]", "num_epochs": 3.0, "schedule.warmup_epochs": 0.0}
ARMS = [
    Arm("plain-20", "configs/resnet20.py:small", {**_SCALE, "model": "plain20"}, paper="—"),
    Arm("ResNet-20", "configs/resnet20.py:small", _SCALE, baseline="plain-20",
        paper="8.75 (CIFAR-10)"),
    Arm("plain-56", "configs/resnet56.py:small", {**_SCALE, "model": "plain56"},
        baseline="plain-20", paper="worse than plain-20"),
    Arm("ResNet-56", "configs/resnet56.py:small", _SCALE, baseline="ResNet-20",
        paper="6.97 (CIFAR-10)"),
]
COLUMNS = ("top1", "train_error")
