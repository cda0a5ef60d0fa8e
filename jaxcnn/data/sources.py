"""Random-access splits of datasets prepared through TFDS: in memory, or read per example.

A split that fits in memory with images of one shape (MNIST, Fashion-MNIST, CIFAR) is
decoded once into arrays (``ArraySource``); the step-k batch is then one vectorised gather.
Anything else (ImageNet's 1.28M JPEGs of varying size) stays in its array_record files and
is read and decoded only where a batch asks for it (``StreamSource``).

TFDS is imported where a dataset is looked up, not with this module: the array sources and
everything that trains on synthetic batches (the benchmarks) run without it.
"""

import dataclasses
import math
import os

from absl import logging
import numpy as np

from jaxcnn.errors import UserError


class DataError(UserError):
  """A dataset that cannot be found or prepared; the message says how to fix it."""


@dataclasses.dataclass(frozen=True)
class ArraySource:
  """One split held as numpy arrays; indexing with an index array gathers a batch."""

  images: np.ndarray  # [N, H, W, C] uint8
  labels: np.ndarray  # [N] int32

  def __len__(self) -> int:
    return len(self.labels)

  def __getitem__(self, indices) -> dict[str, np.ndarray]:
    return {"image": self.images[indices], "label": self.labels[indices]}

  @property
  def image_shape(self) -> tuple:
    return self.images.shape[1:]


class StreamSource:
  """One split of a prepared TFDS dataset, left in its array_record files: records are read
  only for the indices asked for, and decoded by the tf.data pipeline (``stream``), or here
  by ``read``.

  Reading is safe from several threads at once.
  """

  def __init__(self, builder, split: str):
    import tensorflow_datasets as tfds
    self._rows = builder.as_data_source(
        split=split, deserialize_method=tfds.decode.DeserializeMethod.RAW_BYTES)
    self._features = builder.info.features
    # (H, W, C) as stored; None for a side whose size varies from image to image.
    self.image_shape = tuple(builder.info.features["image"].shape)
    # A JPEG or PNG (tfds.features.Image), else raw pixels (tfds.features.Tensor).
    self.encoded = isinstance(builder.info.features["image"], tfds.features.Image)

  def __len__(self) -> int:
    return len(self._rows)

  def read(self, indices) -> list[tuple[np.ndarray, int]]:
    """(image [H, W, C] uint8, label) of each index, decoded now (by TFDS, in numpy)."""
    rows = self._rows.__getitems__([int(i) for i in indices])
    decoded = [self._features.deserialize_example_np(r) for r in rows]
    return [(np.asarray(r["image"]), int(r["label"])) for r in decoded]

  def fetch(self, indices) -> tuple[np.ndarray, np.ndarray]:
    """The serialized records of ``indices`` (their labels are inside: -1 here)."""
    records = self._rows.__getitems__([int(i) for i in indices])
    return np.array(records, dtype=object), np.full(len(records), -1, np.int32)

  def tf_example(self, record, label):
    """(image, label) of one record in the graph: the image still encoded (``transforms_tf``
    decodes only what it needs) or, for raw pixels, as stored."""
    del label
    import tensorflow as tf
    import tensorflow_datasets as tfds
    from jaxcnn.data import transforms_tf
    channels = self.image_shape[2] or 3
    if self.encoded:
      example = self._features.deserialize_example(
          record, decoders={"image": tfds.decode.SkipDecoding()})
      image = transforms_tf.Encoded(example["image"], channels)
    else:
      example = self._features.deserialize_example(record)
      image = transforms_tf.Decoded(tf.ensure_shape(example["image"], self.image_shape))
    return image, tf.cast(example["label"], tf.int32)


Source = ArraySource | StreamSource  # Or folder.FileSource, streamed as StreamSource is.


@dataclasses.dataclass(frozen=True)
class Dataset:
  name: str
  num_classes: int
  class_names: tuple[str, ...]
  splits: dict[str, Source]
  sizes: dict[str, int] = dataclasses.field(default_factory=dict)  # Whole splits' sizes.


def _tfds():
  """TFDS, with this project's local builders (builders.py: fashion_mnist_idx, random_images)
  registered, whatever was imported before: every dataset name is resolved through it."""
  import tensorflow_datasets as tfds
  from jaxcnn.data import builders  # noqa: F401  Defining the builders registers them.
  return tfds


def _fashion_mnist_builder(data_dir):
  # TFDS's own fashion_mnist, when someone with network access prepared it. (The
  # directory test avoids TFDS's warning about probing a folder that is absent.)
  tfds = _tfds()
  from jaxcnn.data import builders
  if os.path.isdir(os.path.join(data_dir or tfds.core.constants.DATA_DIR, "fashion_mnist")):
    official = tfds.builder("fashion_mnist", data_dir=data_dir)
    if official.is_prepared():
      return official
  builder = builders.FashionMnistIdx(data_dir=data_dir, file_format="array_record")
  if builder.is_prepared():  # The IDX files are needed only to prepare it.
    return builder
  idx_dir = builders.find_fashion_mnist_dir()
  if idx_dir is None:
    raise DataError(
        "Fashion-MNIST is not prepared and its IDX files were not found. "
        "Install them with `sudo apt-get install dataset-fashion-mnist` "
        "(Debian/Ubuntu; `make data` does this), or set FASHION_MNIST_DIR to a "
        "directory holding the four files train-images-idx3-ubyte[.gz], "
        "train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], "
        "t10k-labels-idx1-ubyte[.gz]; with network access `tfds build "
        "fashion_mnist` works too.")
  logging.info("Preparing fashion_mnist from the IDX files in %s", idx_dir)
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=idx_dir))
  return builder


@dataclasses.dataclass(frozen=True)
class Metadata:
  """What a model needs to know of its dataset: the classes and the stored image shape."""
  num_classes: int
  class_names: tuple[str, ...]
  image_shape: tuple  # (H, W, C) as stored; None for a side whose size varies.


def metadata(name: str, data_dir: str | None = None) -> Metadata:
  """A dataset's classes and image shape from its TFDS info, without reading or preparing it."""
  tfds = _tfds()
  from jaxcnn.data import builders
  from jaxcnn.data import folder
  if folder.path_of(name):
    return folder.metadata(name)
  if data_dir:
    data_dir = os.path.expanduser(data_dir)
  if name == "fashion_mnist":
    official = os.path.isdir(os.path.join(data_dir or tfds.core.constants.DATA_DIR,
                                          "fashion_mnist"))
    builder = (tfds.builder("fashion_mnist", data_dir=data_dir) if official
               else builders.FashionMnistIdx(data_dir=data_dir))
  else:
    try:
      builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError as e:
      raise DataError(f"Unknown dataset {name!r}: it is not in the TFDS catalogue.") from e
  label = builder.info.features["label"]
  return Metadata(label.num_classes, tuple(label.names),
                  tuple(builder.info.features["image"].shape))


def get_builder(name: str, data_dir: str | None = None):
  """Returns a prepared TFDS builder, preparing it when TFDS can."""
  tfds = _tfds()
  if name == "fashion_mnist":
    return _fashion_mnist_builder(data_dir)
  try:
    builder = tfds.builder(name, data_dir=data_dir)
  except tfds.core.registered.DatasetNotFoundError as e:
    raise DataError(f"Unknown dataset {name!r}: it is not in the TFDS catalogue. "
                    "See https://www.tensorflow.org/datasets/catalog.") from e
  manual = getattr(builder, "MANUAL_DOWNLOAD_INSTRUCTIONS", None)
  if not builder.is_prepared() and manual:
    # TFDS cannot fetch these (ImageNet needs a registered download): stop at once.
    steps = " ".join(manual.split())
    raise DataError(
        f"Dataset {name!r} is not prepared in {builder.data_dir} and needs a manual "
        f"download. 1) Download the files: {steps} 2) Put them in one directory DIR. "
        f"3) Run `tfds build {name} --manual_dir=DIR --file_format=array_record"
        + (f" --data_dir={data_dir}`" if data_dir else "`") + " (hours, and disk space "
        "for the prepared copy). 4) Start this run again"
        + (" with the same --config.data_dir." if data_dir else "."))
  if not builder.is_prepared():
    try:
      builder.download_and_prepare(file_format="array_record")
    except Exception as e:  # TFDS raises many types; all mean "not prepared".
      raise DataError(
          f"Dataset {name!r} is not prepared in {builder.data_dir} and TFDS could "
          f"not prepare it ({type(e).__name__}: {e}). Prepare it with `tfds build "
          f"{name} --file_format=array_record` (datasets with a manual download "
          "need --manual_dir) or set --config.data_dir to where it is.") from e
  return builder


def cache_path(name: str, split: str, data_dir: str | None, what: str) -> str:
  """Where statistics derived from a split (``what``, e.g. "colour_pca.npz") are kept: beside
  the TFDS data, under jaxcnn_cache/."""
  tfds = _tfds()
  root = os.path.expanduser(data_dir) if data_dir else tfds.core.constants.DATA_DIR
  key = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in f"{name}-{split}")
  return os.path.join(root, "jaxcnn_cache", f"{key}-{what}")


def _read_split(builder, split: str, chunk: int = 10_000) -> ArraySource:
  source = builder.as_data_source(split=split)
  images, labels = [], []
  for start in range(0, len(source), chunk):
    rows = source.__getitems__(list(range(start, min(start + chunk, len(source)))))
    images.append(np.stack([r["image"] for r in rows]))
    labels.append(np.array([r["label"] for r in rows], np.int32))
  return ArraySource(np.concatenate(images), np.concatenate(labels))


# Decoded size above which "auto" leaves a split on disk: the in-memory arrays are built
# (and, while stacking, held twice) in host memory next to everything else.
IN_MEMORY_LIMIT_BYTES = 4 << 30
IN_MEMORY_CHOICES = ("auto", "true", "false")


def keep_in_memory(builder, split: str, in_memory: str = "auto") -> bool:
  """Whether ``split`` is decoded into arrays (else streamed), as data.in_memory says.

  "auto" keeps a split in memory when its images share one shape and, decoded, take at most
  IN_MEMORY_LIMIT_BYTES; "true" insists (images of one shape only), "false" always streams.
  """
  choice = str(in_memory).lower()
  if choice not in IN_MEMORY_CHOICES:
    raise UserError(f"data.in_memory={in_memory!r} must be one of "
                    f"{', '.join(IN_MEMORY_CHOICES)}.")
  shape = tuple(builder.info.features["image"].shape)
  if choice == "false":
    return False
  if None in shape:
    if choice == "true":
      raise UserError(f"data.in_memory=true, but the images of {builder.name} vary in size "
                      f"(stored shape {shape}), so they cannot be held as one array. Set "
                      "--config.data.in_memory=auto to read them per batch.")
    return False
  decoded = builder.info.splits[split].num_examples * math.prod(shape)
  return choice == "true" or decoded <= IN_MEMORY_LIMIT_BYTES


def load(name: str, splits=("train", "test"), data_dir: str | None = None, *,
         in_memory: str = "auto") -> Dataset:
  """The named splits of a TFDS dataset, each in memory or streamed (``keep_in_memory``), or
  of an image folder (``image_folder:PATH``: ``folder.load``).

  Whole splits that fit in host memory (MNIST, Fashion-MNIST, CIFAR) are decoded once into
  arrays; the others are read and decoded per example when a batch needs them.
  """
  from jaxcnn.data import folder
  if folder.path_of(name):
    return folder.load(name, splits, in_memory)
  if data_dir:
    data_dir = os.path.expanduser(data_dir)
  builder = get_builder(name, data_dir)
  label = builder.info.features["label"]
  for split in splits:  # Slices such as "train[:10000]" or "train[:20%]" are splits too.
    try:
      builder.info.splits[split]
    except (KeyError, ValueError) as e:
      raise DataError(f"Dataset {name!r} has no split {split!r}; it has "
                      f"{sorted(builder.info.splits)}, which TFDS's slicing syntax can cut "
                      "(e.g. 'train[:10000]').") from e
  return Dataset(
      name=name,
      num_classes=label.num_classes,
      class_names=tuple(label.names),
      splits={s: _read_split(builder, s) if keep_in_memory(builder, s, in_memory)
              else StreamSource(builder, s) for s in splits},
      sizes={name: info.num_examples for name, info in builder.info.splits.items()},
  )
