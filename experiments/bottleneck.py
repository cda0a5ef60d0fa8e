"""Naive inception modules vs modules with 1x1 reductions (Szegedy et al., Sec. 4, Fig. 2)."""

from experiments.study import Arm

TITLE = "Naive vs 1x1-bottleneck inception modules"
CLAIM = """
GoogLeNet (Sec. 4, Fig. 2): 1x1 convolutions that reduce the channels before the 3x3 and 5x5
convolutions keep the computation in check (the paper's example: 112.9M multiplies for a
direct 5x5 from 480 maps at 14x14 to 48, 5.3M with a 1x1 reduction to 16 first), so that
the network can be made wider and deeper at a bounded cost.
"""
SETUP = """
The paper: GoogLeNet on ILSVRC with 1x1 reductions before its 3x3 and 5x5 convolutions and a
1x1 projection after its pooling branch (Fig. 2b); it argues against the naive module
(Fig. 2a) by its cost (112.9M against 5.3M multiplies in its example) and reports no error
for a network built of it. Its training: crops of 8-100% of the image area with aspect
ratios 3/4 to 4/3 resized to 224x224, flips and photometric distortions, SGD momentum 0.9
with the lr lowered 4% every 8 epochs. Ours trains both: GoogLeNet at width 0.25 on
Fashion-MNIST (28x28 grey) rescaled to 72, the same kind of crops resized to 64x64, flips,
batch 128, weight decay 5e-4, lr 0.05 with cosine decay, 4 epochs (1,872 steps), auxiliary
heads at weight 0.3, a centre-crop test, 5 seeds per arm. The naive arm drops the 1x1
reductions and the pooling projection, so each module passes its input's maps on through
the pooling branch and the width grows from block to block; the cost is counted at 64x64.
"""
SCALE = """
Fashion-MNIST; GoogLeNet at width 0.25 on 64x64 crops, 4 epochs (configs/googlenet.py:small);
multiply-adds and parameters are counted at that size by jaxcnn.tools.summary.
"""
NOTES = """
These ten runs trained on one NVIDIA H200 (its own jax 0.11.2 with the lock's flax 0.12.8,
optax and orbax, through experiments/device/run.sh; XLA's default float32 precision on the
GPU, which may use TF32 in convolutions), lent for one session: on the 2-core CPU the naive
arm trains at about 100 images/s, some 40 minutes a run. Seeds 3 and 4 of the naive arm
trained beside fourteen other processes on the one GPU, the other eight beside seven (eight
processes, 1.5 minutes for the eight): the wall times are shares of the GPU, compile
included. GPU runs are not bitwise (XLA autotunes convolutions): a run repeated there differs
in the later digits, not like another seed.
"""
SEEDS = (0, 1, 2, 3, 4)
ARMS = [
    Arm("naive", "configs/googlenet.py:small",
        {"num_epochs": 4.0, "model_kwargs.inception": "naive"}, paper="—"),
    Arm("1x1 bottleneck", "configs/googlenet.py:small",
        {"num_epochs": 4.0, "model_kwargs.inception": "bottleneck"},
        paper="far fewer multiply-adds"),
]
COLUMNS = ("top1", "top5", "params", "macs")
