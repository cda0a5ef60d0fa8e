"""Global average pooling vs a fully connected head (GoogLeNet Sec. 5; NiN Sec. 3.2)."""

from experiments.study import Arm

TITLE = "Global average pooling vs a fully connected head"
CLAIM = """
GoogLeNet (Sec. 5): moving from fully connected layers to average pooling improved the
top-1 accuracy by about 0.6 points (a linear layer is kept after the pooling in both). NiN
(Sec. 3.2) proposes global average pooling as a structural regulariser.
"""
SCALE = """
Fashion-MNIST; GoogLeNet at width 0.25 on 64x64 crops, 4 epochs (configs/googlenet.py:small);
the FC arm flattens the last inception block's maps into the classifier.
"""
NOTES = """
The run "FC head", seed 1 was paused (SIGSTOP) for about 10 minutes while CPU benchmarks
ran: its recorded wall time, 882 s, includes the pause (the other five runs took 283-312 s),
and so does the study's total. Its result is unaffected.
"""
SEEDS = (0, 1, 2)
ARMS = [
    Arm("FC head", "configs/googlenet.py:small", {"num_epochs": 4.0, "model_kwargs.head": "fc"},
        paper="baseline"),
    Arm("global average pooling", "configs/googlenet.py:small",
        {"num_epochs": 4.0, "model_kwargs.head": "gap"}, paper="+0.6 top-1 accuracy"),
]
COLUMNS = ("top1", "top5", "train_error", "params")
