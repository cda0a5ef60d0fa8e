"""Deterministic, process-count-invariant batches over a random-access source.

The training stream is the concatenation of per-epoch permutations of the
training set, each drawn from (seed, epoch). Global batch k is positions
[k*B, (k+1)*B) of that stream, whatever the number of processes and devices;
process p gathers only its contiguous share [k*B + p*B/P, k*B + (p+1)*B/P). The
batch at a step therefore depends on nothing but (seed, step), which makes
resuming at step k exact and multi-host runs equal to single-host ones.

In-memory sources are gathered and preprocessed a batch at a time, in numpy. Streamed sources
(``sources.StreamSource``, ``folder.FileSource``: images decoded per example, possibly each of
its own size) go through tf.data (``stream``): each example is decoded and preprocessed in
TensorFlow (``transforms_tf``, the same transforms as ``augment``) in parallel over the cores,
example i of global batch k drawing its augmentation from (seed, k, i), so a process's share
is the same whichever process computes it (why tf.data rather than grain: ``stream``).
``make_preprocess`` returns both forms.
"""

import dataclasses
import os
import queue
import threading
from typing import Callable, Iterator

from absl import logging
from ml_collections import ConfigDict
import numpy as np

from jaxcnn import fileio
from jaxcnn.data import augment
from jaxcnn.data.sources import ArraySource, Source

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


def num_workers(workers: int = 0) -> int:
  """data.workers: 0 means one thread per CPU."""
  return workers or os.cpu_count() or 1


def _stream():
  from jaxcnn.data import stream  # TensorFlow, only where a split is streamed.
  return stream


class TrainBatches:
  """Random-access view of the training stream: ``batches[k]`` is step k's local batch."""

  def __init__(self, source: Source, global_batch: int, seed: int, *,
               process_index: int = 0, process_count: int = 1,
               preprocess: Callable[[Batch, np.random.Generator], Batch] | None = None,
               workers: int = 0):
    self.source = source
    self.global_batch = global_batch
    self.seed = seed
    self.offset, self.local_batch = local_share(global_batch, process_index, process_count)
    self.preprocess = preprocess
    self.workers = workers
    self._perms: dict[int, np.ndarray] = {}
    self._lock = threading.Lock()  # tf.data's threads ask for indices too.
    self._streamed = not isinstance(source, ArraySource)

  def _perm(self, epoch: int) -> np.ndarray:
    with self._lock:
      perm = self._perms.get(epoch)
      if perm is None:
        if len(self._perms) > 2:
          self._perms.pop(min(self._perms))
        perm = self._perms[epoch] = epoch_permutation(self.seed, epoch, len(self.source))
      return perm

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
    if self._streamed:
      batches = _stream().train_batches(self, step, step + 1, prefetch=0)
      try:
        return next(batches)
      finally:
        batches.close()
    batch = self.source[self.indices(step)]
    if self.preprocess is not None:
      # Augmentation randomness is a function of (seed, step, process share).
      rng = np.random.default_rng([self.seed, step, self.offset, 1])
      batch = self.preprocess(batch, rng)
    return batch

  def iterate(self, start_step: int, prefetch: int = 2) -> Iterator[Batch]:
    """Yields batches start_step, start_step + 1, ..., prepared ``prefetch`` ahead in
    background threads."""
    if self._streamed:
      return _stream().train_batches(self, start_step, prefetch=prefetch)
    return _prefetch((self[k] for k in _count(start_step)), prefetch)


def _count(start):
  while True:
    yield start
    start += 1


def _prefetch(it: Iterator[Batch], size: int) -> Iterator[Batch]:
  q: queue.Queue = queue.Queue(maxsize=size)
  stop = threading.Event()
  sentinel = object()

  def put(item) -> bool:
    while not stop.is_set():
      try:
        q.put(item, timeout=0.1)
        return True
      except queue.Full:
        continue
    return False

  def producer():
    try:
      for item in it:
        if not put(item):
          return
    except BaseException as e:  # Re-raised in the consumer.
      put(e)
      return
    put(sentinel)

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


def eval_batches(source: Source, global_batch: int, *, process_index: int = 0,
                 process_count: int = 1, preprocess: Callable[[Batch], Batch] | None = None,
                 workers: int = 0) -> Iterator[Batch]:
  """Every example once, in order; the last batch is padded and ``mask`` marks real rows.

  A streamed source is decoded by ``workers`` threads (0: one per core), batches ahead of the
  consumer.
  """
  n = len(source)
  offset, size = local_share(global_batch, process_index, process_count)
  groups = []
  for k in range(num_eval_batches(n, global_batch)):
    positions = k * global_batch + offset + np.arange(size)
    groups.append((np.where(positions < n, positions, 0), positions < n))
  if isinstance(source, ArraySource):
    batches = (source[indices] for indices, _ in groups)
    if preprocess is not None:
      batches = map(preprocess, batches)
  else:
    batches = _stream().index_batches(source, [indices for indices, _ in groups], preprocess,
                                      workers=workers)
  for batch, (_, mask) in zip(batches, groups):
    batch["mask"] = mask.astype(np.float32)
    yield batch


def eval_examples(source: Source, indices, preprocess, *, workers: int = 0
                  ) -> Iterator[Batch]:
  """The examples at ``indices`` of a streamed source, in order, each preprocessed (its
  ``tf_example`` form) and yielded as a batch of one at its own shape: evaluation protocols
  whose images keep their sizes (dense evaluation), decoded and preprocessed by tf.data over
  ``workers`` threads (0: one per core)."""
  return _stream().index_examples(source, indices, preprocess, workers=workers)


def num_eval_batches(n: int, global_batch: int) -> int:
  return -(-n // global_batch)


TRAIN_CROPS = ("none", "pad", "random", "scale_jitter", "inception")


def make_preprocess(data_config, train: bool, *, colour_pca=None, crop: bool = True,
                    resize: int | None = None, square: bool = False):
  """Host-side preprocessing from the config's data section.

  Pixels are scaled to [0, 1]; ``data.resize`` rescales the shorter side; a crop of
  ``data.image_size`` is cut (in training as ``data.train_crop`` says, in evaluation from
  the centre, padding when the image is smaller); PCA colour noise is added in training;
  the result is normalised by ``data.mean``/``data.std``; then come the CIFAR pad-and-crop
  (``train_crop="pad"`` with ``random_crop_padding``) and the random flip.

  Args:
    data_config: the config's ``data`` section.
    train: the training pipeline (``fn(batch, rng)``) or the evaluation one (``fn(batch)``).
    colour_pca: (eigenvalues, eigenvectors) of the training set's colour covariance, needed
      when training with ``data.pca_noise`` > 0 (``colour_pca_cached``).
    crop: False leaves evaluation images whole after rescaling (10-crop and dense evaluation
      crop on the device).
    resize: overrides ``data.resize`` (the scales of dense evaluation).
    square: with crop=False, keeps the central square of the rescaled image, as AlexNet's
      256x256 images: what lets images of different aspect ratios share a batch.
  """
  mean = np.asarray(data_config.mean, np.float32)
  std = np.asarray(data_config.std, np.float32)
  size = data_config.image_size
  resize = data_config.resize if resize is None else resize
  train_crop = data_config.train_crop if train else "none"
  # Scale jitter draws its own scale per image, and the scale and aspect-ratio crop its box
  # from the image as stored (as GoogLeNet's patches of the image; one resampling, not two):
  # data.resize is then evaluation's scale only (here and in the Spec transforms_tf reads).
  if train_crop in ("scale_jitter", "inception"):
    resize = 0
  pca_std = data_config.pca_noise if train else 0.0
  if pca_std and colour_pca is None:
    raise ValueError("data.pca_noise needs the training set's colour_pca statistics.")

  def scaled_and_cropped(images, rng):
    images = images.astype(np.float32) / 255.0
    if resize:
      images = augment.resize_shorter(images, resize)
    if train_crop == "random":
      return augment.random_window(images, size, rng)
    if train_crop == "scale_jitter":
      s_min, s_max = data_config.scale_jitter
      return augment.scale_jitter(images, size, s_min, s_max, rng)
    if train_crop == "inception":
      return augment.inception_crop(images, size, rng)
    if crop and size and images.shape[1:3] != (size, size):
      images = augment.pad_to(images, size)
    elif not crop and square:
      images = augment.pad_to(images, min(images.shape[1:3]))
    return images

  if not train:
    def eval_preprocess(batch):
      images = scaled_and_cropped(batch["image"], None)
      return {"image": (images - mean) / std, "label": batch["label"].astype(np.int32)}
    return Preprocess(eval_preprocess, _spec(data_config, False, crop, resize, square))

  def train_preprocess(batch, rng):
    images = scaled_and_cropped(batch["image"], rng)
    if pca_std:
      images = augment.pca_noise(images, *colour_pca, pca_std, rng)
    images = (images - mean) / std
    # Padding after normalisation pads with the mean, as the CIFAR recipe's zero padding of
    # mean-subtracted images does.
    if train_crop == "pad" and data_config.random_crop_padding:
      images = augment.random_crop(images, data_config.random_crop_padding, rng)
    if data_config.random_flip:
      images = augment.random_flip(images, rng)
    return {"image": images, "label": batch["label"].astype(np.int32)}

  return Preprocess(train_preprocess, _spec(data_config, True, crop, resize, square),
                    colour_pca)


@dataclasses.dataclass(frozen=True)
class Spec:
  """The static half of a preprocessing (``make_preprocess``'s arguments), for ``transforms_tf``."""
  train: bool
  size: int  # data.image_size; 0: none.
  resize: int  # Shorter side before cropping; 0: none (scale jitter, inception crops).
  train_crop: str  # "none" in evaluation.
  crop: bool  # Evaluation: cut the data.image_size centre (else the whole rescaled image).
  square: bool  # Evaluation without crop: the central square of the rescaled image.
  scale_jitter: tuple
  padding: int  # CIFAR's pad-and-crop (train_crop="pad").
  flip: bool
  pca_std: float
  mean: tuple
  std: tuple


def _spec(data_config, train: bool, crop: bool, resize: int, square: bool) -> Spec:
  mean = tuple(float(v) for v in data_config.mean)
  std = tuple(float(v) for v in data_config.std)
  return Spec(train=train, size=int(data_config.image_size), resize=int(resize),
              train_crop=data_config.train_crop if train else "none", crop=crop,
              square=square, scale_jitter=tuple(int(v) for v in data_config.scale_jitter),
              padding=int(data_config.random_crop_padding),
              flip=bool(data_config.random_flip) and train,
              pca_std=float(data_config.pca_noise) if train else 0.0, mean=mean, std=std)


@dataclasses.dataclass(frozen=True)
class Preprocess:
  """A preprocessing in its two forms: called on a numpy batch (in-memory sources: ``fn(batch,
  rng)`` in training, ``fn(batch)`` in evaluation), and ``tf_example`` on one example of a
  streamed source (``transforms_tf``: the same transform in TensorFlow)."""
  fn: Callable
  spec: Spec
  colour_pca: tuple | None = None

  def __call__(self, *args) -> Batch:
    return self.fn(*args)

  def tf_example(self, image, key=None) -> dict:
    from jaxcnn.data import transforms_tf
    return {"image": transforms_tf.apply(self.spec, image, key, self.colour_pca)}


@dataclasses.dataclass(frozen=True)
class MultiScale:
  """Several evaluation preprocessings of each image (dense evaluation's scales): ``image``
  is the tuple of their images."""
  parts: tuple

  def __call__(self, batch) -> Batch:
    views = [p(batch) for p in self.parts]
    return {"image": tuple(v["image"] for v in views), "label": views[0]["label"]}

  def tf_example(self, image, key=None) -> dict:
    if len(self.parts) > 1:  # Each part reads the whole image: decode it once.
      from jaxcnn.data import transforms_tf
      image = transforms_tf.decoded(image)
    return {"image": tuple(p.tf_example(image)["image"] for p in self.parts)}


class DecodeOnly:
  """Decodes each image whole and keeps only its label (and, streamed, its shape): the cost
  of reading and decoding alone (jaxcnn.tools.bench_input)."""

  def __call__(self, batch, rng=None) -> Batch:
    return {"label": batch["label"]}

  def tf_example(self, image, key=None) -> dict:
    import tensorflow as tf
    shape = image.shape()
    return {"shape": tf.shape(image.window(0, 0, shape[0], shape[1]))}


def colour_pca_cached(images: np.ndarray, cache_path: str | None):
  """``augment.colour_pca`` of a training split, read from ``cache_path`` (.npz) when there.

  The cache records the split's shape, so a different split under the same name is
  recomputed; an unwritable location only costs recomputing next time.
  """
  return _cached(cache_path, images.shape, lambda: augment.colour_pca(images))


def colour_pca_sampled(source: Source, data_config, cache_path: str | None, *,
                       sample: int = 10_000, seed: int = 0, workers: int = 0, chunk: int = 256):
  """``augment.colour_pca`` of a fixed, seeded sample of a (streamed) training split.

  The ``sample`` images are rescaled and cropped as for evaluation (so that images of any
  size count alike) and their pixels accumulated a chunk at a time: the split is never held
  in memory. Cached as ``colour_pca_cached``, keyed by the split's size and the sample's
  size, seed and view.
  """
  n = len(source)
  picked = np.sort(np.random.default_rng([seed, n]).choice(n, min(sample, n), replace=False))
  # The evaluation view without the normalisation: pixels on their 0-255 scale.
  view_config = ConfigDict(data_config.to_dict())
  view_config.mean, view_config.std = (0.0,), (1 / 255,)
  view = make_preprocess(view_config, train=False, crop=bool(data_config.image_size),
                         square=True)

  def compute():
    groups = [picked[start:start + chunk] for start in range(0, len(picked), chunk)]
    if isinstance(source, ArraySource):
      chunks = (view(source[g])["image"] for g in groups)
    else:
      chunks = (b["image"] for b in _stream().index_batches(source, groups, view,
                                                            workers=workers))
    return augment.colour_pca_of_chunks(chunks)

  key = (n, len(picked), seed, data_config.resize, data_config.image_size)
  return _cached(cache_path, key, compute)


def _cached(cache_path: str | None, key: tuple, compute: Callable):
  if cache_path and os.path.exists(cache_path):
    with np.load(cache_path) as f:
      if tuple(f["shape"]) == tuple(key):
        return f["eigvals"], f["eigvecs"]
  eigvals, eigvecs = compute()
  if cache_path:
    try:
      os.makedirs(os.path.dirname(cache_path), exist_ok=True)
      fileio.atomic_write(cache_path, lambda f: np.savez(
          f, eigvals=eigvals, eigvecs=eigvecs, shape=np.asarray(key)), mode="wb")
    except OSError as e:
      logging.warning("Could not cache the colour PCA in %s: %s", cache_path, e)
  return eigvals, eigvecs
