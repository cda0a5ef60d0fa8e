"""Grid reduction by pooling alone, by convolution then pooling, or by a strided convolution
beside the pooling (Szegedy et al. 2016, "Rethinking the Inception Architecture", Sec. 5)."""

from experiments.study import Arm

TITLE = "Grid reduction: pooling, convolution then pooling, or both in parallel"
CLAIM = """
Rethinking the Inception Architecture (Sec. 5, Figs. 9-10): reducing the grid by pooling before
the convolutions that widen the representation introduces a representational bottleneck (Fig. 9
left); convolving at full resolution and then pooling avoids it at three times the cost (Fig. 9
right); stride-2 convolutions beside a stride-2 pooling, concatenated, avoid the bottleneck
cheaply.
"""
SETUP = """
The paper: Inception-v3 on ILSVRC reduces its 35x35 and 17x17 grids with parallel modules
(Fig. 10: stride-2 conv branches, some after 1x1 reductions, beside a stride-2 pooling,
concatenated: 35x35x288 to 17x17x768 and 17x17x768 to 8x8x1280); Sec. 5 argues for them by
cost and by its principle of avoiding representational bottlenecks. Ours: the small
GoogLeNet (width 0.25) on Fashion-MNIST (28x28 grey) rescaled to 72, crops of 8-100% of the
area with aspect ratios 3/4 to 4/3 resized to 64x64, flips, batch 128, weight decay 5e-4,
lr 0.05 with cosine decay, 4 epochs (1,872 steps), auxiliary heads at weight 0.3, a
centre-crop test, 5 seeds per arm. The arms differ only at GoogLeNet's two grid reductions
between inception stages, after 3b (120 maps, 8x8 to 4x4 at this input; the paper's grids
are 35 and 17) and after 4e (208 maps, 4x4 to 2x2). Pooling only is GoogLeNet's 3x3/2 max
pool. The other two add on C maps a 1x1 conv to C/4 maps and a 3x3 conv to C/2 maps, whose
output joins the max-pooled C maps (C + C/2 maps on, where the paper's Fig. 10 doubles the
maps): in the parallel arm the 3x3 conv has stride 2 on the pooling's grid; in the
convolution-then-pooling arm it keeps the grid and the max pool then reduces it, the same
parameters at four times the 3x3 conv's cost. Counted at 64x64 by jaxcnn.tools.summary:
pooling only 377,478 parameters and 8.27M multiply-adds; parallel 477,508 and 9.28M;
convolution then pooling 477,508 and 10.64M.
"""
SCALE = """
Fashion-MNIST; GoogLeNet at width 0.25 on 64x64 crops, 4 epochs (configs/googlenet.py:small,
model_kwargs.reduction); multiply-adds and parameters counted at that size.
"""
SEEDS = (0, 1, 2, 3, 4)
ARMS = [
    Arm("pooling only (GoogLeNet)", "configs/googlenet.py:small",
        {"num_epochs": 4.0, "model_kwargs.reduction": "pool"},
        paper="representational bottleneck (Fig. 9 left)"),
    Arm("convolution then pooling", "configs/googlenet.py:small",
        {"num_epochs": 4.0, "model_kwargs.reduction": "conv_then_pool"},
        paper="no bottleneck, 3x the cost (Fig. 9 right)"),
    Arm("parallel (Fig. 10)", "configs/googlenet.py:small",
        {"num_epochs": 4.0, "model_kwargs.reduction": "parallel"},
        paper="no bottleneck, cheaply"),
]
COLUMNS = ("top1", "top5", "params", "macs")
