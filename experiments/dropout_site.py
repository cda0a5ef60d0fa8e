"""Follow-up to regularisation.py and regularisation_long.py: dropout on fc6's and fc7's
outputs, as the paper places it, against the placement those studies ran (their inputs)."""

from experiments.study import Arm

TITLE = "Where the dropout falls: fc6's and fc7's outputs or their inputs (AlexNet, follow-up)"
CLAIM = """
AlexNet (Sec. 4.2): dropout sets "the output of each hidden neuron" to zero with probability
0.5, in "the first two fully-connected layers"; without it the network exhibits substantial
overfitting. In regularisation.py and regularisation_long.py dropout narrowed the train-test
gap but raised the test error (by 2.33 points at 180 epochs, t = -6.6), with the masks where
torchvision's AlexNet puts them: on the inputs of fc6 and fc7. That drops conv5's pooled
maps, which the paper's masks never touch: at our scale the 64 numbers (1x1 maps of 64
channels) that are all the classifier sees, half of them at each step. If that placement is
the cause, dropout on fc6's and fc7's outputs narrows the gap without the cost.
"""
SETUP = """
The paper: dropout 0.5 on the outputs of fc6 and fc7 (4,096 units each, fed by 6x6x256 =
9,216 conv5 features) of the 60-million-parameter AlexNet on 1.2 million ILSVRC images.
Ours, as regularisation.py: AlexNet at width 0.25 (fc6 and fc7 of 1,024 units, fed by 1x1x64
conv5 features) on the first 5,000 Fashion-MNIST training images for 60 epochs (2,340 steps
of 128), weight decay 5e-4 in every arm, cosine decay from lr 0.01; with augmentation random
67x67 crops of images rescaled to 76, flips and PCA noise 0.1, without it the centre crop.
Arms: with the augmentation, no dropout, dropout on fc6's and fc7's outputs (the paper's
placement, the model's default from this study's code version on) and on their inputs
(regularisation.py's "dropout + augmentation" arm, trained again at this code version);
without it, neither regulariser and the paper's placement alone. Each dropout arm is
compared with the arm without dropout of the same augmentation. The gap is the test error
minus the error on the 5,000 training images, both in evaluation mode at the end.
"""
SCALE = """
Fashion-MNIST, training images 0-4,999, 10,000 test images; AlexNet at width 0.25, 60 epochs
(configs/alexnet.py:small with train_split, num_epochs and model_kwargs.dropout_site
overridden).
"""
SEEDS = (0, 1, 2, 3, 4)
_RUN = {"train_split": "train[:5000]", "num_epochs": 60.0, "eval_every_epochs": 10.0,
        "log_every_steps": 39}
_NO_AUG = {"data.train_crop": "none", "data.random_flip": False, "data.pca_noise": 0.0}
ARMS = [
    Arm("no dropout", "configs/alexnet.py:small", {**_RUN, "model_kwargs.dropout": 0.0},
        paper="substantial overfitting"),
    Arm("dropout on fc6, fc7 outputs", "configs/alexnet.py:small",
        {**_RUN, "model_kwargs.dropout_site": "hidden"}, paper="the paper's placement"),
    Arm("dropout on fc6, fc7 inputs", "configs/alexnet.py:small",
        {**_RUN, "model_kwargs.dropout_site": "inputs"}, paper="—"),
    Arm("neither (no augmentation)", "configs/alexnet.py:small",
        {**_RUN, **_NO_AUG, "model_kwargs.dropout": 0.0}, paper="substantial overfitting",
        baseline="neither (no augmentation)"),
    Arm("outputs, no augmentation", "configs/alexnet.py:small",
        {**_RUN, **_NO_AUG, "model_kwargs.dropout_site": "hidden"},
        paper="less overfitting", baseline="neither (no augmentation)"),
]
COLUMNS = ("top1", "train_error", "gap")
