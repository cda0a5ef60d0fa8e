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
These ten runs trained on the 2-core CPU, one at a time on both cores of one AMD EPYC
(family 25, model 17), none resumed: the naive arm at about 94 images/s, some 45 minutes of
training a run, the 1x1 arm about 6 minutes. They rerun bit for bit from their records (the
1x1 arm's seed 0, `--reproduce "1x1 bottleneck:0"`: 79.99% again, 22 of 22 logged losses
equal). The same ten runs at the same code version trained first on one NVIDIA H200 (that
table is in git at 963bedc: naive 19.19 ± 2.56%, 1x1 18.74 ± 0.89% test error, -0.45
points, t = -0.4). Seed by seed the two devices' runs differ by 0.06 to 3.58 points (a
GPU's convolutions round otherwise: TF32, autotuned algorithms), the most in the naive arm's
seeds 3 and 4 (2.26 and 3.58), the GPU's two worst runs: within one device's spread over
seeds (the GPU's naive arm ranged from 16.26 to 22.09%). The difference of the arms changed
sign between the devices, as a difference with |t| near 1 can.
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
