"""Model registry: ``MODELS`` maps a name to a flax module constructor.

Every model takes ``num_classes``, ``input_size``, ``width`` (a channel multiplier)
and ``dtype`` (the compute dtype), plus its family's paper ablation switches, and
is called as ``model.apply(variables, x, train=...)`` on NHWC images.
"""

from jaxcnn.errors import UserError
from jaxcnn.models import alexnet
from jaxcnn.models import googlenet
from jaxcnn.models import lenet
from jaxcnn.models import nin
from jaxcnn.models import resnet
from jaxcnn.models import vgg

MODELS = {
    **lenet.VARIANTS,
    **alexnet.VARIANTS,
    **vgg.VARIANTS,
    **nin.VARIANTS,
    **googlenet.VARIANTS,
    **resnet.VARIANTS,
}


def create(name: str, **overrides):
  """Builds the named model; unknown names raise an error listing the valid ones."""
  if name not in MODELS:
    raise UserError(f"Unknown model {name!r}. Valid names: {', '.join(sorted(MODELS))}.")
  return MODELS[name](**overrides)
