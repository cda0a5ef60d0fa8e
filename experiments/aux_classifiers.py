"""GoogLeNet's auxiliary classifiers at loss weight 0, 0.3 and 1.0 (Szegedy et al., Sec. 5)."""

from experiments.study import Arm

TITLE = "GoogLeNet's auxiliary classifiers: loss weight 0, 0.3, 1.0"
CLAIM = """
GoogLeNet (Sec. 5): auxiliary classifiers on inception 4a and 4d, their losses added with
weight 0.3, were expected to strengthen the gradient reaching the lower layers and to
regularise; the paper reports their effect as minor (about 0.5 points). The right-hand plot
shows the gradient norm of the first convolution over training with and without them.
"""
SCALE = """
Fashion-MNIST; GoogLeNet at width 0.25 on 64x64 scale and aspect-ratio crops, 4 epochs
(configs/googlenet.py:small). Weight 0 keeps the heads in the network with no gradient
from them.
"""
SEEDS = (0, 1, 2)
_LOG = {"num_epochs": 4.0, "log_layer_grad_norms": True}
ARMS = [
    Arm("no auxiliary loss (0)", "configs/googlenet.py:small", {**_LOG, "aux_loss_weight": 0.0},
        paper="baseline"),
    Arm("auxiliary weight 0.3", "configs/googlenet.py:small", {**_LOG, "aux_loss_weight": 0.3},
        paper="about -0.5 (the paper's own estimate)"),
    Arm("auxiliary weight 1.0", "configs/googlenet.py:small", {**_LOG, "aux_loss_weight": 1.0},
        paper="—"),
]
COLUMNS = ("top1", "top5")
CURVES = ("train/grad_norm/conv1",)
