"""Model registry: ``MODELS`` maps a name to a flax module constructor.

Every model takes ``num_classes``, ``input_size``, ``width`` (a channel multiplier),
``dtype`` (the compute dtype) and ``ops`` (the kernels of its convs and max pools,
jaxcnn.models.ops), plus its family's paper ablation switches, and is called as
``model.apply(variables, x, train=...)`` on NHWC images.
"""

from jaxcnn.errors import UserError
from jaxcnn.models import alexnet
from jaxcnn.models import googlenet
from jaxcnn.models import inception_v3
from jaxcnn.models import lenet
from jaxcnn.models import nin
from jaxcnn.models import ops
from jaxcnn.models import resnet
from jaxcnn.models import vgg

MODELS = {
    **lenet.VARIANTS,
    **alexnet.VARIANTS,
    **vgg.VARIANTS,
    **nin.VARIANTS,
    **googlenet.VARIANTS,
    **inception_v3.VARIANTS,
    **resnet.VARIANTS,
}


def create(name: str, conv_impl: str | None = None, **overrides):
  """Builds the named model; unknown names raise an error listing the valid ones.

  ``conv_impl`` (config.conv_impl: "auto", "native" or "fast") chooses its kernels
  (jaxcnn.models.ops.select); None leaves the model's default, "auto".
  """
  if name not in MODELS:
    raise UserError(f"Unknown model {name!r}. Valid names: {', '.join(sorted(MODELS))}.")
  if conv_impl is not None:
    overrides["ops"] = ops.for_model(conv_impl)
  return MODELS[name](**overrides)


def input_channels(name: str) -> int:
  """Channels of a model's default input: 1 for LeNet-5 (digits), 3 (RGB) for the others."""
  return 1 if name.startswith("lenet") else 3


def config_kwargs(config, num_classes: int, input_shape: tuple) -> dict:
  """The arguments of ``create`` for the model ``config`` describes, with ``num_classes``
  outputs and (H, W, C) inputs: what ``from_config`` builds with, and checkpoints record."""
  return dict(num_classes=int(num_classes), input_size=int(input_shape[0]), width=config.width,
              dtype=config.dtype, conv_impl=config.conv_impl, **config.model_kwargs.to_dict())


def from_config(config, num_classes: int, input_shape: tuple):
  """The model of an experiment config (config.model, width, dtype, conv_impl, model_kwargs).

  The one place a config becomes a network, so that the trainer and everything that loads
  its checkpoints build the same one.
  """
  return create(config.model, **config_kwargs(config, num_classes, input_shape))
