"""Class probabilities of many images by an evaluation protocol (jaxcnn.evaluate), outside the
training loop's sharded step: an evaluation split (ensembles, the confusion matrix, and the
evaluation of images that keep their own shapes) or image files (predict).

Preprocessed images of one shape are batched; images that keep shapes of their own (dense
evaluation of images of varying size: ``Protocol.per_image``) are grouped by shape, and each
group is padded to a power-of-two size, so that a handful of compiled programs serve a split.
Each process computes its share on its own devices; the evaluation sums meet at the end.
"""

import math

import jax
from jax.experimental import multihost_utils
import numpy as np

from jaxcnn import evaluate
from jaxcnn.data import pipeline
from jaxcnn.data import sources
from jaxcnn.models import ops


def _shapes(batch) -> tuple:
  return tuple(a.shape[1:] for a in jax.tree.leaves(batch["image"]))


class Grouped:
  """Collects preprocessed batches ({"image": array or tuple, "label"}, any sizes and shapes)
  with their positions, runs the protocol on each shape group, and returns the probabilities
  in position order. At most ``batch_size`` images wait at a time."""

  def __init__(self, protocol: evaluate.Protocol, variables, batch_size: int, *,
               impl: str = "auto", devices=None):
    self.devices = list(devices or jax.local_devices()[:1])
    mesh = jax.sharding.Mesh(np.array(self.devices), ("data",))
    self.rows = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
    self.variables = jax.device_put(variables, jax.sharding.NamedSharding(
        mesh, jax.sharding.PartitionSpec()))
    self.forward = ops.jit(protocol.probabilities, impl=impl)
    d = len(self.devices)
    self.batch_size = -(-max(batch_size, 1) // d) * d
    self.groups: dict[tuple, list] = {}
    self.waiting = 0
    self.done: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

  def add(self, positions, batch) -> None:
    self.groups.setdefault(_shapes(batch), []).append((np.asarray(positions), batch))
    self.waiting += len(positions)
    if self.waiting >= self.batch_size:
      self.flush()

  def _size(self, n: int) -> int:
    """The padded size of a group of n: the device count times a power of two."""
    d = len(self.devices)
    return min(self.batch_size, d * 2 ** math.ceil(math.log2(-(-n // d))))

  def flush(self) -> None:
    for items in self.groups.values():
      positions = np.concatenate([p for p, _ in items])
      images = jax.tree.map(lambda *a: np.concatenate(a), *[b["image"] for _, b in items])
      labels = np.concatenate([b["label"] for _, b in items])
      for start in range(0, len(positions), self.batch_size):
        stop = min(start + self.batch_size, len(positions))
        rows = np.arange(start, start + self._size(stop - start))
        # Rows past the group repeat its last image (their results are dropped).
        index = np.minimum(rows, stop - 1)
        part = jax.tree.map(lambda a, index=index: a[index], images)
        probs = self.forward(self.variables, jax.device_put(part, self.rows))
        self.done.append((positions[start:stop], np.asarray(probs)[:stop - start],
                          labels[start:stop]))
    self.groups, self.waiting = {}, 0

  def result(self) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities [N, classes], labels [N]) of everything added, by position."""
    self.flush()
    if not self.done:
      return np.zeros((0, 0), np.float32), np.zeros((0,), np.int32)
    positions, probs, labels = (np.concatenate(x) for x in zip(*self.done))
    order = np.argsort(positions, kind="stable")
    return probs[order], labels[order]


def split_probabilities(protocol: evaluate.Protocol, variables, source: sources.Source,
                        batch_size: int, *, indices=None, workers: int = 0, impl: str = "auto",
                        devices=None) -> tuple[np.ndarray, np.ndarray]:
  """(probabilities [N, classes], labels [N]) of the examples ``indices`` (default: all) of an
  evaluation split, each preprocessed and scored by ``protocol``."""
  indices = np.arange(len(source)) if indices is None else np.asarray(indices)
  grouped = Grouped(protocol, variables, batch_size, impl=impl, devices=devices)
  if isinstance(source, sources.ArraySource):  # Images of one shape: a batch at a time.
    for start in range(0, len(indices), grouped.batch_size):
      chunk = indices[start:start + grouped.batch_size]
      grouped.add(start + np.arange(len(chunk)), protocol.preprocess(source[chunk]))
    return grouped.result()
  examples = pipeline.eval_examples(source, indices, protocol.preprocess, workers=workers)
  try:
    for position, example in enumerate(examples):
      grouped.add([position], example)
  finally:
    examples.close()
  return grouped.result()


def metric_sums(probabilities: np.ndarray, labels: np.ndarray) -> dict[str, float]:
  """evaluate.metric_sums of averaged probabilities, on the host."""
  p = np.asarray(probabilities, np.float64)
  loss = -np.log(np.maximum(p[np.arange(len(labels)), labels], np.finfo(np.float32).tiny))
  top = np.argsort(-p, axis=-1, kind="stable")[:, :min(5, p.shape[-1])]
  return {"loss": float(loss.sum()), "top1": float(np.sum(top[:, 0] == labels)),
          "top5": float(np.sum(np.any(top == labels[:, None], axis=-1))),
          "count": float(len(labels))}


def _local(tree):
  """A replicated global array's copy on this process's first device."""
  return jax.tree.map(lambda a: a if a.is_fully_addressable else a.addressable_data(0), tree)


def evaluate_per_image(exp, state, source, prefix: str, *, count: bool = True
                       ) -> dict[str, float]:
  """evaluate.over_split (``prefix`` + loss, top1, top5, count) for a ``per_image``
  protocol: each process scores its share of ``source`` on its own devices."""
  config, processes = exp.config, exp.process_count
  share = np.array_split(np.arange(len(source)), processes)[exp.process_index]
  probs, labels = split_probabilities(
      exp.eval_protocol, _local(evaluate.variables_of(state)), source,
      max(1, config.eval_batch_size // processes), indices=share,
      workers=config.data.workers, impl=config.conv_impl, devices=jax.local_devices())
  keys = ("loss", "top1", "top5", "count")
  sums = metric_sums(probs, labels) if len(labels) else dict.fromkeys(keys, 0.0)
  totals = np.array([sums[k] for k in keys])
  if processes > 1:
    totals = np.asarray(multihost_utils.process_allgather(totals)).reshape(-1, 4).sum(0)
  n = float(totals[3])
  result = {prefix + k: float(totals[i]) / n for i, k in enumerate(keys[:3])}
  return {**result, prefix + "count": n} if count else result
