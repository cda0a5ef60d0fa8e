"""Follow-up to relu_tanh.py: does tanh fall behind ReLU when its units start saturated?"""

from experiments.relu_tanh import sweep

TITLE = "ReLU vs tanh from saturating initial weights (follow-up to AlexNet Fig. 1)"
CLAIM = """
AlexNet (Sec. 3.1): saturating nonlinearities such as tanh are much slower to train with
gradient descent than ReLUs. In relu_tanh.py, from LeCun-normal weights (pre-activations of
about unit variance, where tanh is nearly linear), tanh reached 10% training error in
0.85 ± 0.14 of ReLU's steps (5 seeds), each at its best learning rate: no ReLU advantage. If
saturation is what slows tanh, starting with three times those weights (most tanh units
beyond |x| = 1 from the first step) opens the gap.
"""
SETUP = """
As relu_tanh.py (model alexnet_fig1 on Fashion-MNIST at 28x28, no regularisation, SGD with
momentum 0.9 at a constant rate, batch 128, steps to 10%, 15% and 25% training error over
50-step windows), with every weight drawn at 3 times the LeCun-normal standard deviation
(model_kwargs.init_scale=3) and the learning-rate sweep narrowed to the rates around both
activations' best in relu_tanh.py (0.02, 0.04, 0.08); each activation's best rate is the
one reaching 10% in the fewest steps (mean over seeds).
"""
SCALE = """
Fashion-MNIST, 60,000 training images; 6 epochs (2,808 steps of 128) per run,
configs/alexnet.py:fig1 with model_kwargs.activation, model_kwargs.init_scale and
optimizer.learning_rate.
"""
SEEDS = (0, 1, 2, 3, 4)
_RUN = {"num_epochs": 6.0, "log_every_steps": 50, "model_kwargs.init_scale": 3.0}
_RATES = (0.02, 0.04, 0.08)
ARMS = sweep(_RUN, _RATES, "much faster than tanh, each at its best rate")
COLUMNS = ("steps_to_10", "steps_to_15", "steps_to_25", "train_error", "top1")
SELECT = "steps_to_10"
RATIO = True
