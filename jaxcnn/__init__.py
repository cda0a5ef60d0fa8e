"""jaxcnn: the classic image-classification CNNs in JAX/Flax."""


def load(workdir_or_checkpoint: str, step: int | None = None):
  """Restores a trained network: (model, variables, config); see jaxcnn.loading.load."""
  # Imported here so that `import jaxcnn` stays light (no jax, flax or TFDS).
  from jaxcnn import loading
  return loading.load(workdir_or_checkpoint, step)
