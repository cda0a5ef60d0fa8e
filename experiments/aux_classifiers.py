"""GoogLeNet's auxiliary classifiers at loss weight 0, 0.3 and 1.0 (Szegedy et al., Sec. 5)."""

from experiments.study import Arm

TITLE = "GoogLeNet's auxiliary classifiers: loss weight 0, 0.3, 1.0"
CLAIM = """
GoogLeNet (Sec. 5): auxiliary classifiers on inception 4a and 4d, their losses added with
weight 0.3, were expected to strengthen the gradient reaching the lower layers and to
regularise; the paper reports their effect as minor (about 0.5 points). The right-hand plot
shows the gradient norm of the first convolution over training with and without them.
"""
SETUP = """
The paper: GoogLeNet on ILSVRC, crops of 8-100% of the image area with aspect ratios 3/4 to
4/3 resized to 224x224, flips and photometric distortions, SGD momentum 0.9 with the lr
lowered 4% every 8 epochs (its initial value, the batch, the weight decay and the epochs not
given), dropout 0.4 before the classifier; auxiliary heads on 4a and 4d (5x5/3 average
pooling to 4x4, a 1x1 convolution of 128 maps, FC 1024, dropout 0.7), their losses added
with weight 0.3 in training, the heads discarded at inference; the 0.5 points is its own
estimate. Ours: GoogLeNet at width 0.25 (the heads' 1x1 convolution 32 maps, FC 256) on
Fashion-MNIST (28x28 grey) rescaled to 72, the same kind of crops resized to 64x64, flips,
no photometric distortions, the paper's dropout, batch 128, weight decay 5e-4, lr 0.05 with
cosine decay, 4 epochs (1,872 steps), the initialisation of the BVLC Caffe reproduction (the
paper gives none), a centre-crop test, 5 seeds per arm. The heads are used only in training,
as the paper's; weight 1.0 lies outside the paper. At 64x64, 4a and 4d give 4x4 maps (the
paper's 14x14), which the heads' pooling takes to 1x1.
"""
SCALE = """
Fashion-MNIST; GoogLeNet at width 0.25 on 64x64 scale and aspect-ratio crops, 4 epochs
(configs/googlenet.py:small). Weight 0 keeps the heads in the network with no gradient
from them.
"""
SEEDS = (0, 1, 2, 3, 4)
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
