"""Follow-up to grid_reduction.py: pooling alone against the parallel module on grids four
times larger, to test whether its null result comes from grids too small for a bottleneck."""

from experiments.study import Arm

TITLE = "Grid reduction on larger grids: pooling alone vs the parallel module (follow-up)"
CLAIM = """
Rethinking the Inception Architecture (Sec. 5): reducing the grid by pooling before widening
introduces a representational bottleneck, which stride-2 convolutions beside the pooling avoid
cheaply. In grid_reduction.py, on 8x8 and 4x4 grids, pooling alone was no worse than either
way of avoiding it (19.19 % vs 19.51 % error, t = 0.4, 5 seeds). If grids too small for a 3x3
window to lose much were the cause, the parallel module gains on 16x16 and 8x8 grids.
"""
SETUP = """
As grid_reduction.py's pooling-only and parallel arms (the small GoogLeNet at width 0.25 on
Fashion-MNIST, scale and aspect-ratio crops, flips, batch 128, weight decay 5e-4, lr 0.05
with cosine decay, 4 epochs, auxiliary heads at 0.3, a centre-crop test, 5 seeds), with 128x128
crops (evaluation: rescaled to 144, the centre 128) in place of 64x64: the reductions after 3b
and 4e then act on 16x16 and 8x8 grids (the paper's: 35x35 and 17x17). Counted at 128x128 by
jaxcnn.tools.summary: pooling only 377,478 parameters and 33.08M multiply-adds, parallel
477,508 and 37.11M. Differences from grid_reduction.py besides the input: the code version
(this study's own; its training crops are drawn on the 28x28 images as stored, where
grid_reduction.py's version rescaled them to 72 first), so the two tables compare arms within
each, not across.
"""
SCALE = """
Fashion-MNIST; GoogLeNet at width 0.25 on 128x128 crops, 4 epochs (configs/googlenet.py:small
with data.image_size 128, data.resize 144, model_kwargs.reduction); multiply-adds and parameters
counted at that size.
"""
SEEDS = (0, 1, 2, 3, 4)
_RUN = {"num_epochs": 4.0, "data.image_size": 128, "data.resize": 144}
ARMS = [
    Arm("pooling only (GoogLeNet)", "configs/googlenet.py:small",
        {**_RUN, "model_kwargs.reduction": "pool"},
        paper="representational bottleneck (Fig. 9 left)"),
    Arm("parallel (Fig. 10)", "configs/googlenet.py:small",
        {**_RUN, "model_kwargs.reduction": "parallel"}, paper="no bottleneck, cheaply"),
]
COLUMNS = ("top1", "top5", "params", "macs")
