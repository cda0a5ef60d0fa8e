"""Factorised convolutions in GoogLeNet's inception modules at equal multiply-adds: a 5x5 as
two 3x3, and a 3x3 as a 1x3 and a 3x1 (Szegedy et al. 2016, "Rethinking the Inception
Architecture", Sec. 3)."""

from experiments.study import Arm

TITLE = "Factorised convolutions at equal cost: 5x5 vs two 3x3, 3x3 vs 1x3 + 3x1"
CLAIM = """
Rethinking the Inception Architecture (Sec. 3): a 5x5 convolution can be replaced by two
stacked 3x3 convolutions with the same receptive field at 28% less computation (Sec. 3.1),
and a 3x3 by a 1x3 followed by a 3x1 at 33% less (Sec. 3.2), without loss of expressiveness;
the savings can pay for wider filter banks. Asymmetric factorisation "does not work well on
early layers" but gives very good results on 12x12 to 20x20 grids.
"""
SETUP = """
The paper: Inception-v3's modules on ILSVRC, with the 5x5 convolutions of GoogLeNet replaced by
two 3x3 (Fig. 5) and, on the 17x17 grid, 7x7 convolutions by 1x7 and 7x1 (Fig. 6), the savings
spent on width; it gives no error for either factorisation inside the modules alone (Table 3's
"factorized 7x7" step is the stem's first convolution). Ours: GoogLeNet's modules with Table 1's
widths, factorised as model_kwargs.factorise: "3x3" makes each 5x5 conv two 3x3 convs;
"asymmetric" also makes every 3x3 conv (the 3x3 branch's and the two of the 5x5 branch) a 1x3
conv followed by a 3x1 (torchvision's order; the paper's Fig. 3 puts the 3x1 first); the inner
widths change by one factor per conv from the branch's 1x1 reduction to its output (16 -> 23 ->
32 in 3a's 5x5 branch). Each factorised arm's width multiplier is raised until its multiply-adds
at 64x64 (counted by jaxcnn.tools.summary) come closest to GoogLeNet's at width 0.25, as the
paper spends the savings on width: GoogLeNet (width 0.25) 8,272,896 multiply-adds and 377,478
parameters; two 3x3 (width 0.253) 8,271,824 and 377,613; 1x3 + 3x1 (width 0.273, the closest
from below: 0.275 gives 8,494,376) 8,192,572 and 365,615. The 1x3 + 3x1 arm is compared with the
two-3x3 arm (the 3x3 factorised, all else equal). Training as configs/googlenet.py:small: the
small GoogLeNet on Fashion-MNIST (28x28 grey) rescaled to 72, crops of 8-100% of the area with
aspect ratios 3/4 to 4/3 resized to 64x64, flips, batch 128, weight decay 5e-4, lr 0.05 with
cosine decay, 4 epochs (1,872 steps), auxiliary heads at weight 0.3, a centre-crop test, 5 seeds
per arm. At 64x64 the inception modules work on 8x8, 4x4 and 2x2 grids, below the 12x12 to 20x20
where the paper found the asymmetric factorisation to work well.
"""
SCALE = """
Fashion-MNIST; GoogLeNet at width 0.25 (the factorised arms at 0.253 and 0.273, equal
multiply-adds) on 64x64 crops, 4 epochs (configs/googlenet.py:small, model_kwargs.factorise).
"""
SEEDS = (0, 1, 2, 3, 4)
ARMS = [
    Arm("5x5 (GoogLeNet)", "configs/googlenet.py:small",
        {"num_epochs": 4.0, "model_kwargs.factorise": "none"}, paper="baseline"),
    Arm("two 3x3", "configs/googlenet.py:small",
        {"num_epochs": 4.0, "width": 0.253, "model_kwargs.factorise": "3x3"},
        paper="no loss at 28% less cost per 5x5"),
    Arm("1x3 + 3x1", "configs/googlenet.py:small",
        {"num_epochs": 4.0, "width": 0.273, "model_kwargs.factorise": "asymmetric"},
        baseline="two 3x3", paper="no loss at 33% less cost per 3x3, on 12-20 grids"),
]
COLUMNS = ("top1", "top5", "params", "macs")
