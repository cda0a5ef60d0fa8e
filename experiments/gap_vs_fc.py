"""Global average pooling vs a fully connected head (GoogLeNet Sec. 5; NiN Sec. 3.2, 4.6),
where the network has few enough images to overfit."""

from experiments.study import Arm

TITLE = "Global average pooling vs a fully connected head"
CLAIM = """
GoogLeNet (Sec. 5): moving from fully connected layers to average pooling improved the
top-1 accuracy by about 0.6 points (a linear layer is kept after the pooling in both). NiN
(Sec. 3.2, 4.6): global average pooling is a structural regulariser that prevents
overfitting (CIFAR-10 without augmentation: 10.41% test error against 11.59% for an FC head
and 10.88% for an FC head with dropout).
"""
SETUP = """
The papers: GoogLeNet on 1.2 million ILSVRC images with its augmentation; NiN on CIFAR-10's
50,000 images without augmentation, where the regularisers have overfitting to act on.
Ours: GoogLeNet at width 0.25 on 64x64 inputs (Fashion-MNIST rescaled to 72, centre
crop), the first 5,000 training images, no augmentation (as NiN's comparison), 40 epochs
(1,560 steps of 128), so that the network can overfit. The heads differ only as the
papers' do: the FC arm flattens the last inception block's 2x2 maps into the classifier,
the GAP arm averages them first; both keep dropout 0.4 before the linear layer, as
GoogLeNet. At 64x64 the last maps are 2x2, so the FC head has only four times the GAP
head's classifier weights (GoogLeNet's 7x7 gave 49 times): the structural difference is
smaller than the papers'. The gap is the test error minus the error on the 5,000 training
images, both in evaluation mode at the end. Steps to 50% train err: the end of the first
39-step logging window whose training mini-batches averaged at most 50% error, i.e. how long
a run stayed near chance (90%).
"""
SCALE = """
Fashion-MNIST, training images 0-4,999, 10,000 test images; GoogLeNet at width 0.25 on
64x64, 40 epochs, cosine decay from lr 0.05 (configs/googlenet.py:small with train_split,
num_epochs and the augmentation overridden).
"""
SEEDS = (0, 1, 2, 3, 4)
_RUN = {"train_split": "train[:5000]", "num_epochs": 40.0, "eval_every_epochs": 10.0,
        "log_every_steps": 39, "data.train_crop": "none", "data.random_flip": False}
ARMS = [
    Arm("FC head", "configs/googlenet.py:small", {**_RUN, "model_kwargs.head": "fc"},
        paper="baseline"),
    Arm("global average pooling", "configs/googlenet.py:small",
        {**_RUN, "model_kwargs.head": "gap"},
        paper="+0.6 top-1 accuracy (GoogLeNet); -1.2 test error (NiN)"),
]
COLUMNS = ("top1", "train_error", "gap", "steps_to_50", "params")
