"""AlexNet's two-tower model parallelism (Sec. 3.2): same numbers as one device, and the
devices communicate only where the paper's network crosses GPUs."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from jaxcnn import config as config_lib
from jaxcnn import sharding
from jaxcnn import train
from tests.tolerance import assert_close, assert_trees_close

SIZE, BATCH = 67, 8  # The smallest input AlexNet's layers accept, so compiles stay short.
COLLECTIVE = re.compile(r"= (\(.*?\)|\S+) (all-gather|all-reduce|reduce-scatter|all-to-all|"
                        r"collective-permute)(?:-start)?\((.*)$")


def alexnet_config(data: int, model: int):
  c = config_lib.base_config()
  c.model, c.width, c.batch_size = "alexnet", 0.125, BATCH
  c.model_kwargs.towers = 2
  c.mesh.data, c.mesh.model = data, model
  return c


def experiment(data: int, model: int):
  return train.Experiment(alexnet_config(data, model), devices=jax.devices()[:data * model],
                          num_classes=10, input_shape=(SIZE, SIZE, 3))


@pytest.fixture(scope="module")
def batch():
  rng = np.random.default_rng(0)
  return {"image": rng.normal(size=(BATCH, SIZE, SIZE, 3)).astype(np.float32),
          "label": rng.integers(0, 10, BATCH).astype(np.int32)}


def test_towers_on_the_model_axis_match_one_device(batch):
  results = []
  for data, model in ((1, 1), (2, 2)):
    exp = experiment(data, model)
    state = exp.init_state()
    if model == 2:
      # Each device holds one tower's filters of a grouped layer, and half of every FC layer.
      kernel = state.params["conv2"]["kernel"]
      assert kernel.sharding.spec == P(None, None, None, "model")
      assert kernel.addressable_shards[0].data.shape == (5, 5, 6, 16)
      assert state.params["fc8"]["kernel"].sharding.spec == P("model", None)
    global_batch = sharding.to_global(batch, exp.mesh)
    logits = exp.model.apply({"params": state.params}, global_batch["image"], train=False)
    state, metrics = exp.train_step(state, global_batch)
    results.append(jax.device_get((logits, metrics, state.params)))
  (logits1, m1, p1), (logits4, m4, p4) = results
  assert_close(logits1, logits4, rtol=1e-5)  # forward
  assert_close(m1["loss"], m4["loss"], rtol=1e-6)
  assert_close(m1["grad_norm"], m4["grad_norm"], rtol=1e-5)  # backward
  assert_trees_close(p1, p4, rtol=1e-5)
  assert m1["grad_norm"] > 0


def group_size(line: str) -> int:
  """Devices per replica group of an HLO collective, in any of its three printed forms."""
  groups = re.search(r"replica_groups=(\S+)", line).group(1)
  if groups.startswith("{"):  # {{0,1},{2,3}}
    return len(groups.split("}")[0].strip("{").split(","))
  if groups.startswith("["):  # [2,2]<=[4]: 2 groups of 2
    return int(groups.split("]")[0].strip("[").split(",")[-1])
  # mesh['axis_0'=1,'axis_1'=2] {'axis_1'}: the product of the named axes' sizes
  sizes = dict(re.findall(r"'(\w+)'=(\d+)", groups))
  named = re.search(r"replica_groups=\S+ \{([^}]*)\}", line).group(1)
  return int(np.prod([int(sizes[a.strip(" '")]) for a in named.split(",")]))


def test_collectives_only_where_the_towers_cross():
  exp = experiment(1, 2)  # Every device pair is the two towers: every collective crosses.
  batch = jax.ShapeDtypeStruct((BATCH, SIZE, SIZE, 3), jnp.float32,
                               sharding=sharding.batch_sharding(exp.mesh))
  labels = jax.ShapeDtypeStruct((BATCH,), jnp.int32, sharding=sharding.batch_sharding(exp.mesh))
  hlo = exp.train_step.lower(exp.abstract_state, {"image": batch, "label": labels}) \
      .compile().as_text()
  crossing = set()
  for line in hlo.splitlines():
    match = COLLECTIVE.search(line)
    if not match or group_size(line) == 1:
      continue
    shapes = re.findall(r"\w+\[([\d,]*)\]", match.group(1))
    op_name = re.search(r'op_name="([^"]*)"', line)
    op_name = op_name.group(1) if op_name else ""
    layers = set(re.findall(r"AlexNet\)+/(conv\d|fc\d|lrn\d|reshape)", op_name))
    if not any(shapes):
      continue  # Scalars: the loss, norms and counts of the metrics.
    assert "AlexNet" in op_name, f"tensor collective outside the network: {line[:300]}"
    assert layers and layers <= {"conv3", "reshape", "fc6", "fc7", "fc8"}, \
        f"communication inside a tower: {line[:300]}"
    crossing |= layers
  # Forward: conv3, fc6 (after the flatten), fc7 and fc8 see both towers' maps; backward:
  # the gradients flowing back through those layers.
  assert crossing == {"conv3", "reshape", "fc6", "fc7", "fc8"}
