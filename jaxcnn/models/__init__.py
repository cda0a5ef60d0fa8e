"""Model registry: name -> flax module constructor."""

from jaxcnn.errors import UserError
from jaxcnn.models.lenet import LeNet5Modern

MODELS = {
    "lenet5_modern": LeNet5Modern,
}


def create(name: str, **overrides):
  """Builds the named model; unknown names raise an error listing the valid ones."""
  if name not in MODELS:
    raise UserError(f"Unknown model {name!r}. Valid names: {', '.join(sorted(MODELS))}.")
  return MODELS[name](**overrides)
