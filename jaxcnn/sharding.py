"""Device mesh and shardings: data parallel over ('data', 'model')."""

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P

from jaxcnn.errors import UserError


def make_mesh(data: int = -1, model: int = 1, devices=None) -> Mesh:
  """A ('data', 'model') mesh over all devices (or ``devices``); -1 takes what is left."""
  devices = jax.devices() if devices is None else list(devices)
  n = len(devices)
  if model < 1 or n % model:
    raise UserError(f"mesh.model={model} must be a positive divisor of the {n} devices.")
  if data == -1:
    data = n // model
  if data * model != n:
    raise UserError(f"mesh {data}x{model} does not match the {n} devices "
                     f"(set --config.mesh.data=-1 to use them all).")
  # Auto axes: the jit shardings given here and XLA's propagation place everything else.
  return jax.make_mesh((data, model), ("data", "model"),
                       axis_types=(AxisType.Auto, AxisType.Auto), devices=devices)


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def batch_sharding(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P("data"))


def to_global(local_batch: dict[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
  """Assembles each process's share into global arrays sharded along 'data'."""
  sharding = batch_sharding(mesh)
  return {k: jax.make_array_from_process_local_data(sharding, v) for k, v in local_batch.items()}
