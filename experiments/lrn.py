"""Local response normalisation on and off: AlexNet (Sec. 3.3) and VGG A vs A-LRN (Table 3)."""

from experiments.study import Arm

TITLE = "Local response normalisation on and off"
CLAIM = """
AlexNet (Sec. 3.3): response normalisation lowers the top-1 and top-5 error rates by 1.4 and
1.2 points on ILSVRC (13% -> 11% test error for a 4-layer CIFAR-10 net). VGG (Sec. 4.1,
Table 3): LRN does not improve configuration A (A-LRN 29.7 / 10.5 vs A 29.6 / 10.4).
"""
SCALE = """
Fashion-MNIST (60,000 training / 10,000 test images). AlexNet at width 0.25 on 67x67 crops
of images rescaled to 76, 10 epochs (configs/alexnet.py:small); VGG-A at width 0.25 on
32x32 crops, 4 epochs (configs/vgg11.py:small, configs/vgg11_lrn.py:small).
"""
SEEDS = (0, 1, 2)
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
