"""Follow-up to gap_vs_fc.py: both heads at twice the training, to test whether the global
average pooling head's higher error comes from its slow start, not from the head."""

import dataclasses

from experiments import gap_vs_fc

TITLE = "Global average pooling vs a fully connected head at twice the training (follow-up)"
CLAIM = """
GoogLeNet (Sec. 5): average pooling instead of fully connected layers improved top-1 accuracy
by about 0.6 points. NiN (Sec. 3.2, 4.6): global average pooling is a structural regulariser
(CIFAR-10 without augmentation: 10.41% test error against 11.59% with an FC head). In
gap_vs_fc.py, at 40 epochs, the GAP head ended 1.46 points worse (t = 1.5), and the cause
looked like its start: three of its five seeds stayed at chance for 300-430 steps (the
training loss first below 3.0 at step 312-429, against 78-195 in every other run) and ended
with 10.6-14.7% training error, 18.1-20.5% test error; the two that started at once ended at
15.45 and 15.88%, below the FC head's mean (16.27%). If the slow start is the cause, twice
the training lets every seed converge and the GAP head's deficit goes.
"""
SETUP = """
As gap_vs_fc.py (GoogLeNet at width 0.25 on 64x64, the first 5,000 training images, no
augmentation, dropout 0.4 before the linear layer, cosine decay from lr 0.05, batch 128, the
same five seeds), with 80 epochs (3,120 steps) instead of 40. A stalled start of 400 steps is
then an eighth of the run, and the FC head has twice the time to overfit, the regime in which
NiN describes global average pooling as a regulariser.
"""
SCALE = """
Fashion-MNIST, training images 0-4,999, 10,000 test images; GoogLeNet at width 0.25 on
64x64, 80 epochs (configs/googlenet.py:small with train_split, num_epochs and the
augmentation overridden).
"""
SEEDS = gap_vs_fc.SEEDS
_LONGER = {"num_epochs": 80.0, "eval_every_epochs": 20.0}
ARMS = [dataclasses.replace(arm, overrides={**arm.overrides, **_LONGER}) for arm in gap_vs_fc.ARMS]
COLUMNS = gap_vs_fc.COLUMNS
