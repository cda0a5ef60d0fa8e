"""Dropout and data augmentation on and off for the small AlexNet (Sec. 4.1-4.2), where the
network has few enough images to overfit."""

from experiments.study import Arm

TITLE = "Dropout and data augmentation on and off (AlexNet)"
CLAIM = """
AlexNet (Sec. 4): without data augmentation the network suffers substantial overfitting
(Sec. 4.1); without dropout it exhibits substantial overfitting (Sec. 4.2), and dropout
roughly doubles the iterations needed to converge.
"""
SETUP = """
The paper: 60 million parameters trained on 1.2 million ILSVRC images for about 90 epochs,
with random 224 crops, flips and PCA colour noise (Sec. 4.1) and dropout 0.5 in the first
two FC layers (Sec. 4.2); it reports that without either the network overfits, not a
table of the ablations. Ours: the same network at width 0.25 (1.27 million parameters) on
the first 5,000 Fashion-MNIST training images for 60 epochs (2,340 steps of 128), so that
the unregularised network can overfit, as the 1.2 million images could not stop a 60
million parameter network from doing; the same augmentation (random 67x67 crops of images
rescaled to 76, flips, PCA noise 0.1; without it, the centre crop) and dropout 0.5, its
masks on the inputs of fc6 and fc7 as torchvision's AlexNet places them (the model's order
at this code version; the paper's masks fall on fc6's and fc7's outputs: dropout_site.py
compares the two). Weight decay 5e-4 stays in every arm, as in the paper. The gap is the test error minus the error
on the 5,000 training images, both in evaluation mode at the end.
"""
SCALE = """
Fashion-MNIST, training images 0-4,999, 10,000 test images; AlexNet at width 0.25,
60 epochs, cosine decay from lr 0.01 (configs/alexnet.py:small with train_split and
num_epochs overridden).
"""
SEEDS = (0, 1, 2, 3, 4)
_RUN = {"train_split": "train[:5000]", "num_epochs": 60.0, "eval_every_epochs": 10.0,
        "log_every_steps": 39}
_NO_AUG = {"data.train_crop": "none", "data.random_flip": False, "data.pca_noise": 0.0}
ARMS = [
    Arm("dropout + augmentation", "configs/alexnet.py:small", _RUN,
        paper="the paper's setting"),
    Arm("no dropout", "configs/alexnet.py:small", {**_RUN, "model_kwargs.dropout": 0.0},
        paper="substantial overfitting"),
    Arm("no augmentation", "configs/alexnet.py:small", {**_RUN, **_NO_AUG},
        paper="substantial overfitting"),
    Arm("neither", "configs/alexnet.py:small", {**_RUN, **_NO_AUG, "model_kwargs.dropout": 0.0},
        paper="—"),
]
COLUMNS = ("top1", "train_error", "gap")
