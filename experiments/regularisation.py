"""Dropout and data augmentation on and off for the small AlexNet (Sec. 4.1-4.2)."""

from experiments.study import Arm

TITLE = "Dropout and data augmentation on and off (AlexNet)"
CLAIM = """
AlexNet (Sec. 4): without data augmentation the network suffers substantial overfitting
(Sec. 4.1); without dropout it exhibits substantial overfitting (Sec. 4.2), and dropout
roughly doubles the iterations needed to converge.
"""
SCALE = """
Fashion-MNIST; AlexNet at width 0.25, 10 epochs (configs/alexnet.py:small). Augmentation
is random 67x67 crops of the 76x76 rescaled images, flips and PCA colour noise; without it
the centre 67x67 crop is used. The gap is test error minus training-set error.
"""
NOTES = """
The six runs without augmentation ("no augmentation", "neither") shared the two cores with
benchmarks and tests: they took 5.5-7.6 min against 3.9-4.4 min for the other six, and the
study's total wall time includes that; the results are unaffected.
"""
SEEDS = (0, 1, 2)
_NO_AUG = {"data.train_crop": "none", "data.random_flip": False, "data.pca_noise": 0.0}
ARMS = [
    Arm("dropout + augmentation", "configs/alexnet.py:small", paper="the paper's setting"),
    Arm("no dropout", "configs/alexnet.py:small", {"model_kwargs.dropout": 0.0},
        paper="substantial overfitting"),
    Arm("no augmentation", "configs/alexnet.py:small", _NO_AUG,
        paper="substantial overfitting"),
    Arm("neither", "configs/alexnet.py:small", {**_NO_AUG, "model_kwargs.dropout": 0.0},
        paper="—"),
]
COLUMNS = ("top1", "train_error", "gap")
