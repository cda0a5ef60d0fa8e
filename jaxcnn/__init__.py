"""jaxcnn: the classic image-classification CNNs in JAX/Flax."""


def load(workdir_or_checkpoint: str, step: int | None = None, *, ema: bool = False):
  """Restores a trained network: (model, variables, config), the variables' moving average
  with ``ema``; see jaxcnn.loading.load."""
  # Imported here so that `import jaxcnn` stays light (no jax, flax or TFDS).
  from jaxcnn import loading
  return loading.load(workdir_or_checkpoint, step, ema=ema)
