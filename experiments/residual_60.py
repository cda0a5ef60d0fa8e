"""Follow-up to residual_long.py: the residual nets at twice its training, to test whether
ResNet-110 not ending below ResNet-56 comes from nets not yet converged."""

import dataclasses

from experiments import residual

TITLE = "ResNet-20, -56 and -110 at 60 epochs (follow-up)"
CLAIM = """
ResNet (Sec. 4.2, Fig. 6 right): deeper residual nets reach lower training error (ResNet-110
below ResNet-56 below ResNet-20). In residual_long.py, at 30 epochs on one GPU (5 seeds),
ResNet-56 ended below ResNet-20 (5.36 against 6.37 % training error, t = -3.3), ResNet-110 not
below ResNet-56 (5.62 %, t = +0.6), and its check arm, ResNet-20 at 60 epochs, ended 2.87
points below ResNet-20 at 30: the nets were still fitting. If that is the cause, at 60
epochs ResNet-110 ends below ResNet-56.
"""
SETUP = """
As residual_long.py's residual arms (CIFAR form at half width on Fashion-MNIST padded to
32x32, the first 10,000 training images, pad-and-crop and flips, batch 128, momentum 0.9,
weight decay 1e-4, a one-epoch linear warm-up to lr 0.1 then cosine decay), with 60 epochs
(4,680 steps) for every arm. ResNet-20 at 60 epochs is residual_long.py's check arm with the
same config: on the same device kind and code version its records are shared, not retrained.
ResNet-110 is compared with ResNet-56, the comparison the claim is about. The paper trained
64,000 steps on 45,000 images (about 180 epochs). Sized for a lent GPU: on the 2-core CPU a
60-epoch ResNet-110 run would take several hours.
"""
SCALE = """
Fashion-MNIST padded to 32x32, the first 10,000 training images, 60 epochs, width 0.5
(configs/resnet20.py, resnet56.py, resnet110.py:small with num_epochs, width and the warm-up
overridden). The train error is measured on those 10,000 images in evaluation mode at the end.
"""
SEEDS = (0, 1, 2, 3, 4)
_LONGER = {"num_epochs": 60.0, "eval_every_epochs": 10.0}
_BASELINES = {"ResNet-20": "", "ResNet-56": "ResNet-20", "ResNet-110": "ResNet-56"}
_PAPER = {"ResNet-20": "test 8.75 (CIFAR-10)",
          "ResNet-56": "training error below ResNet-20 (test 6.97, CIFAR-10)",
          "ResNet-110": "training error below ResNet-56 (test 6.43, CIFAR-10)"}
ARMS = [dataclasses.replace(arm, overrides={**arm.overrides, **_LONGER},
                            baseline=_BASELINES[arm.name], paper=_PAPER[arm.name])
        for arm in residual.ARMS if arm.name in _BASELINES]
COLUMNS = residual.COLUMNS
DELTA = "train_error"  # Fig. 6 is about training error.
