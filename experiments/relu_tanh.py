"""ReLU vs tanh: steps to reach 25% training error (AlexNet Sec. 3.1, Fig. 1)."""

from experiments.study import Arm

TITLE = "ReLU vs tanh: steps to 25% training error"
CLAIM = """
AlexNet (Sec. 3.1, Fig. 1): a four-layer convolutional network with ReLUs reaches 25%
training error on CIFAR-10 six times faster than the same network with tanh units.
"""
SCALE = """
Fashion-MNIST; AlexNet at width 0.25 on 67x67 crops, 3 epochs (configs/alexnet.py:small with
model_kwargs.activation); the training error is the mean over each 10-step logging window.
"""
SEEDS = (0, 1, 2)
_RUN = {"num_epochs": 3.0, "log_every_steps": 10}
ARMS = [
    Arm("tanh", "configs/alexnet.py:small", {**_RUN, "model_kwargs.activation": "tanh"},
        paper="baseline"),
    Arm("ReLU", "configs/alexnet.py:small", {**_RUN, "model_kwargs.activation": "relu"},
        baseline="tanh", paper="6x fewer steps to 25%"),
]
COLUMNS = ("steps_to_25", "top1")
NOTES = """
The six runs (2026-11-28, 2-core AMD EPYC) shared the cores with the test suite and other
jobs (load average about 3-7), so their wall time is longer than on a quiet machine.
"""
