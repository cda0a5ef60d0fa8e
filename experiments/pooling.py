"""Overlapping (3x3, stride 2) vs non-overlapping (2x2, stride 2) max-pooling (AlexNet Sec. 3.4)."""

from experiments.study import Arm

TITLE = "Overlapping vs non-overlapping pooling"
CLAIM = """
AlexNet (Sec. 3.4): overlapping pooling (z = 3, s = 2) lowers the top-1 and top-5 error rates
by 0.4 and 0.3 points compared with non-overlapping pooling (z = 2, s = 2), which gives
outputs of the same size; the authors observe that models with overlapping pooling are
slightly more difficult to overfit.
"""
SCALE = """
Fashion-MNIST; AlexNet at width 0.25 on 67x67 crops of images rescaled to 76, 10 epochs
(configs/alexnet.py:small). The train-test gap is the test error minus the error on the
60,000 training images, both measured in evaluation mode at the end.
"""
SEEDS = (0, 1, 2)
ARMS = [
    Arm("non-overlapping 2x2/2", "configs/alexnet.py:small", {"model_kwargs.pool_window": 2},
        paper="baseline"),
    Arm("overlapping 3x3/2", "configs/alexnet.py:small", {"model_kwargs.pool_window": 3},
        paper="-0.4 top-1, -0.3 top-5; overfits slightly less"),
]
COLUMNS = ("top1", "top5", "train_error", "gap")
