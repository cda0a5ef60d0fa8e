"""Plain vs residual networks at 20, 56 and 110 layers (He et al., Sec. 4.2, Fig. 6)."""

from experiments.study import Arm

TITLE = "Plain vs residual at 20, 56 and 110 layers"
CLAIM = """
ResNet (Sec. 4.2, Fig. 6, CIFAR-10): the deeper plain net has higher training and test
error than the shallower one (degradation: plain-56 is worse than plain-20), while residual
nets gain from depth (ResNet-20 8.75%, ResNet-56 6.97%, ResNet-110 6.43% test error).
"""
SETUP = """
The paper: CIFAR-10 (32x32 colour), 4-pixel padding with random 32x32 crops and flips; three
stages of 16, 32 and 64 maps with identity (option A) shortcuts, the plain nets the same
without them; batch 128, SGD momentum 0.9, weight decay 1e-4, lr 0.1 divided by 10 at 32,000
and 48,000 steps, 64,000 steps in all; a warm-up (lr 0.01 until the training error fell
below 80%, about 400 steps) for ResNet-110 only; Fig. 6 shows plain nets of 20-56 layers and
ResNets of 20-110 (single runs; ResNet-110 the best of 5). Ours: the same nets at half the
width (8, 16 and 32 maps) on Fashion-MNIST (28x28 grey, padded to 32x32), the first 10,000
of its 60,000 training images, the paper's augmentation, batch, momentum and weight decay,
lr 0.1 with cosine decay after one fixed warm-up for every arm (linear from 0 over the first
epoch, 78 steps), 10 epochs (780 steps), the test on the 10,000 test images, 5 seeds per
arm. Differences: the data set, a fifth of its training images, half the width (the
110-layer net at full width takes about 5 s a step on two cores), 780 steps against 64,000,
cosine decay in place of the two divisions, and a warm-up in every arm. No plain-110: Fig. 6
has none.
"""
SCALE = """
Fashion-MNIST padded to 32x32, the first 10,000 training images, 10 epochs, pad-and-crop and
flips, width 0.5, a one-epoch linear warm-up to 0.1 then cosine decay (configs/resnet20.py,
resnet56.py, resnet110.py:small with num_epochs, width and the warm-up overridden; plain
nets by --config.model=plain20/plain56). The train error is measured on those 10,000
images in evaluation mode at the end.
"""
SEEDS = (0, 1, 2, 3, 4)
_SCALE = {"train_split": "train[:10000]", "num_epochs": 10.0, "width": 0.5,
          "schedule.warmup_epochs": 1.0}
ARMS = [
    Arm("plain-20", "configs/resnet20.py:small", {**_SCALE, "model": "plain20"}, paper="—"),
    Arm("plain-56", "configs/resnet56.py:small", {**_SCALE, "model": "plain56"},
        baseline="plain-20", paper="worse than plain-20"),
    Arm("ResNet-20", "configs/resnet20.py:small", _SCALE, baseline="ResNet-20",
        paper="8.75 (CIFAR-10)"),
    Arm("ResNet-56", "configs/resnet56.py:small", _SCALE, baseline="ResNet-20",
        paper="6.97 (CIFAR-10)"),
    Arm("ResNet-110", "configs/resnet110.py:small", _SCALE, baseline="ResNet-20",
        paper="6.43 (CIFAR-10)"),
]
COLUMNS = ("top1", "train_error")
