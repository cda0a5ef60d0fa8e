"""Overlapping (3x3, stride 2) vs non-overlapping (2x2, stride 2) max-pooling (AlexNet Sec. 3.4)."""

from experiments.study import Arm

TITLE = "Overlapping vs non-overlapping pooling"
CLAIM = """
AlexNet (Sec. 3.4): overlapping pooling (z = 3, s = 2) lowers the top-1 and top-5 error rates
by 0.4 and 0.3 points compared with non-overlapping pooling (z = 2, s = 2), which gives
outputs of the same size; the authors observe that models with overlapping pooling are
slightly more difficult to overfit.
"""
SETUP = """
The paper: AlexNet on ILSVRC, random 224x224 crops (227 in effect) of 256x256 images with
flips and PCA colour noise, N(0, 0.01^2) weights with biases of 1 in five layers, batch 128,
SGD momentum 0.9, weight decay 5e-4, lr 0.01 divided by 10 when the validation error stopped
improving, about 90 epochs, ten-crop testing, a single run per setting. Ours: the same
network (two towers, LRN, dropout 0.5) at width 0.25 (24-64-96-96-64 maps, FC 1024) on
Fashion-MNIST (28x28 grey), random 67x67 crops of images rescaled to 76 with flips and PCA
noise 0.1, He initialisation with zero biases, the paper's batch, momentum and weight decay,
lr 0.01 with cosine decay, 10 epochs (4,680 steps), a centre-crop test, 5 seeds per arm. At
67x67 the three poolings take 15x15, 7x7 and 3x3 maps to 7x7, 3x3 and 1x1 in both arms
(the paper's 55, 27 and 13 to 27, 13 and 6); the 2x2 window leaves out each map's last row
and column, at the last pooling 5 of conv5's 9 positions. The paper reports the lesser
overfitting without a number; ours measures it as the train-test gap.
"""
SCALE = """
Fashion-MNIST; AlexNet at width 0.25 on 67x67 crops of images rescaled to 76, 10 epochs
(configs/alexnet.py:small). The train-test gap is the test error minus the error on the
60,000 training images, both measured in evaluation mode at the end.
"""
SEEDS = (0, 1, 2, 3, 4)
ARMS = [
    Arm("non-overlapping 2x2/2", "configs/alexnet.py:small", {"model_kwargs.pool_window": 2},
        paper="baseline"),
    Arm("overlapping 3x3/2", "configs/alexnet.py:small", {"model_kwargs.pool_window": 3},
        paper="-0.4 top-1, -0.3 top-5; overfits slightly less"),
]
COLUMNS = ("top1", "top5", "train_error", "gap")
