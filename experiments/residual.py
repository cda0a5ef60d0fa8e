"""Plain vs residual networks at 20 and 56 layers (He et al., Sec. 4.2, Fig. 6)."""

from experiments.run import Arm

TITLE = "Plain vs residual at 20 and 56 layers"
CLAIM = """
ResNet (Sec. 4.2, Fig. 6, CIFAR-10): the deeper plain net has higher training and test
error than the shallower one (degradation: plain-56 is worse than plain-20), while residual
nets gain from depth (ResNet-20 8.75%, ResNet-56 6.97% test error).
"""
SCALE = """
Fashion-MNIST padded to 32x32, the first 10,000 training images, 3 epochs, pad-and-crop and
flips, cosine decay from 0.1 (configs/resnet20.py:small, configs/resnet56.py:small; plain
nets by --config.model=plain20/plain56). The train error is measured on those 10,000 images.
"""
SEEDS = (0, 1, 2)
_SCALE = {"train_split": "train[:10000]", "num_epochs": 3.0}
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
