"""Deterministic, process-count-invariant batches over a random-access source.

The training stream is the concatenation of per-epoch permutations of the
training set, each drawn from (seed, epoch). Global batch k is positions
[k*B, (k+1)*B) of that stream, whatever the number of processes and devices;
process p gathers only its contiguous share [k*B + p*B/P, k*B + (p+1)*B/P). The
batch at a step therefore depends on nothing but (seed, step), which makes
resuming at step k exact and multi-host runs equal to single-host ones.
"""

import queue
import threading
from typing import Callable, Iterator

import numpy as np

from jaxcnn.data import augment
from jaxcnn.data.sources import ArraySource

Batch = dict[str, np.ndarray]


def epoch_permutation(seed: int, epoch: int, n: int) -> np.ndarray:
  return np.random.default_rng([seed, epoch]).permutation(n)


def local_share(global_batch: int, process_index: int, process_count: int) -> tuple[int, int]:
  """(offset, size) of this process's contiguous share of a global batch."""
  if global_batch % process_count:
    raise ValueError(f"Global batch {global_batch} is not divisible by the "
                     f"{process_count} processes.")
  size = global_batch // process_count
  return process_index * size, size


class TrainBatches:
  """Random-access view of the training stream: ``batches[k]`` is step k's local batch."""

  def __init__(self, source: ArraySource, global_batch: int, seed: int, *,
               process_index: int = 0, process_count: int = 1,
               preprocess: Callable[[Batch, np.random.Generator], Batch] | None = None):
    self.source = source
    self.global_batch = global_batch
    self.seed = seed
    self.offset, self.local_batch = local_share(global_batch, process_index, process_count)
    self.preprocess = preprocess
    self._perms: dict[int, np.ndarray] = {}

  def _perm(self, epoch: int) -> np.ndarray:
    if epoch not in self._perms:
      if len(self._perms) > 2:
        self._perms.pop(min(self._perms))
      self._perms[epoch] = epoch_permutation(self.seed, epoch, len(self.source))
    return self._perms[epoch]

  def indices(self, step: int) -> np.ndarray:
    """Source indices of this process's share of global batch ``step``."""
    n = len(self.source)
    positions = step * self.global_batch + self.offset + np.arange(self.local_batch)
    epochs, within = np.divmod(positions, n)
    out = np.empty(self.local_batch, np.int64)
    for epoch in np.unique(epochs):
      sel = epochs == epoch
      out[sel] = self._perm(int(epoch))[within[sel]]
    return out

  def __getitem__(self, step: int) -> Batch:
    batch = self.source[self.indices(step)]
    if self.preprocess is not None:
      # Augmentation randomness is a function of (seed, step, process share).
      rng = np.random.default_rng([self.seed, step, self.offset, 1])
      batch = self.preprocess(batch, rng)
    return batch

  def iterate(self, start_step: int, prefetch: int = 2) -> Iterator[Batch]:
    """Yields batches start_step, start_step + 1, ..., prepared in a background thread."""
    return _prefetch((self[k] for k in _count(start_step)), prefetch)


def _count(start):
  while True:
    yield start
    start += 1


def _prefetch(it: Iterator[Batch], size: int) -> Iterator[Batch]:
  q: queue.Queue = queue.Queue(maxsize=size)
  stop = threading.Event()
  sentinel = object()

  def producer():
    try:
      for item in it:
        while not stop.is_set():
          try:
            q.put(item, timeout=0.1)
            break
          except queue.Full:
            continue
        if stop.is_set():
          return
    except BaseException as e:  # Re-raised in the consumer.
      q.put(e)
    q.put(sentinel)

  thread = threading.Thread(target=producer, daemon=True)
  thread.start()
  try:
    while True:
      item = q.get()
      if item is sentinel:
        return
      if isinstance(item, BaseException):
        raise item
      yield item
  finally:
    stop.set()


def eval_batches(source: ArraySource, global_batch: int, *, process_index: int = 0,
                 process_count: int = 1,
                 preprocess: Callable[[Batch], Batch] | None = None) -> Iterator[Batch]:
  """Every example once, in order; the last batch is padded and ``mask`` marks real rows."""
  n = len(source)
  offset, size = local_share(global_batch, process_index, process_count)
  for k in range(num_eval_batches(n, global_batch)):
    positions = k * global_batch + offset + np.arange(size)
    mask = positions < n
    batch = source[np.where(mask, positions, 0)]
    if preprocess is not None:
      batch = preprocess(batch)
    batch["mask"] = mask.astype(np.float32)
    yield batch


def num_eval_batches(n: int, global_batch: int) -> int:
  return -(-n // global_batch)


def make_preprocess(data_config, train: bool):
  """Host-side preprocessing from the config's data section."""
  mean = np.asarray(data_config.mean, np.float32)
  std = np.asarray(data_config.std, np.float32)

  def normalize(batch):
    images = batch["image"].astype(np.float32) / 255.0
    if data_config.image_size and images.shape[1] != data_config.image_size:
      images = augment.pad_to(images, data_config.image_size)
    return {"image": (images - mean) / std, "label": batch["label"].astype(np.int32)}

  if not train:
    return normalize

  def train_preprocess(batch, rng):
    batch = normalize(batch)
    if data_config.random_crop_padding:
      batch["image"] = augment.random_crop(batch["image"], data_config.random_crop_padding, rng)
    if data_config.random_flip:
      batch["image"] = augment.random_flip(batch["image"], rng)
    return batch

  return train_preprocess
