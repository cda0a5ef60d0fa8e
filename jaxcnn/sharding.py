"""Device mesh and shardings: data parallel over 'data', model parallel over 'model'."""

import collections
import contextlib

import flax.linen as nn
import jax
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


# Logical axis names the models annotate, and the mesh axes they map to: the batch over
# 'data', AlexNet's tower-split channels over 'model'.
LOGICAL_RULES = (("batch", "data"), ("tower", "model"))


@contextlib.contextmanager
def annotations(mesh: Mesh):
  """Within it, models' logical sharding annotations apply to ``mesh`` (also under jit)."""
  with jax.sharding.use_abstract_mesh(mesh.abstract_mesh), nn.logical_axis_rules(LOGICAL_RULES):
    yield


def traced_in(mesh: Mesh, fn):
  """``fn`` tracing its body inside ``annotations(mesh)``, for jax.jit."""
  def wrapped(*args, **kwargs):
    with annotations(mesh):
      return fn(*args, **kwargs)
  return wrapped


def tree_shardings(boxed_tree, mesh: Mesh):
  """NamedShardings for a tree whose leaves may carry flax logical partitioning."""
  specs = nn.get_partition_spec(boxed_tree)
  return nn.logical_to_mesh_sharding(specs, mesh, LOGICAL_RULES)


def uses_model_axis(shardings) -> bool:
  return any("model" in jax.tree.leaves(tuple(s.spec)) for s in jax.tree.leaves(shardings))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def batch_sharding(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P("data"))


def to_global(local_batch: dict, mesh: Mesh) -> dict:
  """Assembles each process's share of every array of a batch (a pytree) into global arrays
  sharded along 'data'."""
  sharding = batch_sharding(mesh)
  return jax.tree.map(lambda v: jax.make_array_from_process_local_data(sharding, v), local_batch)


def on_device(local_batches, mesh: Mesh, ahead: int = 2):
  """Yields ``to_global`` of each batch, with the transfers of the next ``ahead`` batches
  already issued (they run while the current step computes)."""
  issued = collections.deque()
  try:
    for batch in local_batches:
      issued.append(to_global(batch, mesh))
      if len(issued) > ahead:
        yield issued.popleft()
    yield from issued
  finally:  # Stops the host pipeline's thread when training stops early.
    if hasattr(local_batches, "close"):
      local_batches.close()
