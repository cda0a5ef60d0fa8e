"""Model registry: ``MODELS`` maps a name to a flax module constructor.

Every model takes ``num_classes``, ``input_size``, ``width`` (a channel multiplier),
``dtype`` (the compute dtype) and ``ops`` (the kernels of its convs and max pools,
jaxcnn.models.ops), plus its family's paper ablation switches, and is called as
``model.apply(variables, x, train=...)`` on NHWC images.
"""

from jaxcnn.errors import UserError
from jaxcnn.models import alexnet
from jaxcnn.models import googlenet
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
    overrides["ops"] = ops.select(conv_impl)
  return MODELS[name](**overrides)
