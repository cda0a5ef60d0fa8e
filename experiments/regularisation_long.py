"""Follow-up to regularisation.py: dropout's cost at three times the training, to test
whether it comes from the dropout network not having converged."""

from experiments.study import Arm

TITLE = "Dropout at three times the training (AlexNet, follow-up)"
CLAIM = """
AlexNet (Sec. 4.2): dropout roughly doubles the number of iterations required to converge;
without it the network exhibits substantial overfitting. In regularisation.py, at 60 epochs,
the arms with dropout ended below the others' test accuracy with their training error still
above 10%: not yet converged. If that is the cause, three times the epochs closes the gap.
"""
SETUP = """
As regularisation.py (AlexNet at width 0.25, the first 5,000 Fashion-MNIST training images,
random crops, flips and PCA noise, weight decay 5e-4, cosine decay from lr 0.01, batch 128),
with 180 epochs (7,020 steps) instead of 60, and two arms: dropout 0.5 in fc6 and fc7 (the
paper's setting, its masks on their inputs as in regularisation.py; dropout_site.py puts them
on the outputs, as the paper does) and no dropout, both with the augmentation. 3 seeds.
"""
SCALE = """
Fashion-MNIST, training images 0-4,999, 10,000 test images; AlexNet at width 0.25,
180 epochs (configs/alexnet.py:small with train_split and num_epochs overridden).
"""
SEEDS = (0, 1, 2)
_RUN = {"train_split": "train[:5000]", "num_epochs": 180.0, "eval_every_epochs": 30.0,
        "log_every_steps": 117}
ARMS = [
    Arm("dropout + augmentation", "configs/alexnet.py:small", _RUN,
        paper="the paper's setting: converges in twice the iterations"),
    Arm("no dropout", "configs/alexnet.py:small", {**_RUN, "model_kwargs.dropout": 0.0},
        paper="substantial overfitting"),
]
COLUMNS = ("top1", "train_error", "gap")
