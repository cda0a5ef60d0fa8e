"""Naive inception modules vs modules with 1x1 reductions (Szegedy et al., Sec. 4, Fig. 2)."""

from experiments.study import Arm

TITLE = "Naive vs 1x1-bottleneck inception modules"
CLAIM = """
GoogLeNet (Sec. 4, Fig. 2): 1x1 convolutions that reduce the channels before the 3x3 and 5x5
convolutions keep the computation in check (the paper's example: 112.9M multiplies for a
direct 5x5 from 480 maps at 14x14 to 48, 5.3M with a 1x1 reduction to 16 first), so that
the network can be made wider and deeper at a bounded cost.
"""
SCALE = """
Fashion-MNIST; GoogLeNet at width 0.25 on 64x64 crops, 4 epochs (configs/googlenet.py:small);
multiply-adds and parameters are counted at that size by jaxcnn.summary.
"""
NOTES = """
These six runs trained on one NVIDIA H200 (jax 0.11.2, flax 0.12.10; XLA's default float32
precision on the GPU, which may use TF32 in convolutions), lent for one session: on the
2-core CPU the naive arm trains at about 100 images/s, some 40 minutes a run. The wall times
are the GPU's (the first run of each arm includes its compile). The device's copy of the
repository reported HEAD 49ec44a; the tree that ran was 475ae7c's (the first commit whose
records name their device); the records name 475ae7c.
"""
SEEDS = (0, 1, 2)
ARMS = [
    Arm("naive", "configs/googlenet.py:small",
        {"num_epochs": 4.0, "model_kwargs.inception": "naive"}, paper="—"),
    Arm("1x1 bottleneck", "configs/googlenet.py:small",
        {"num_epochs": 4.0, "model_kwargs.inception": "bottleneck"},
        paper="far fewer multiply-adds"),
]
COLUMNS = ("top1", "top5", "params", "macs")
