"""Datasets from folders of images: ``--config.dataset=image_folder:PATH``.

PATH holds one folder per split and, in each, one folder per class (TFDS's ImageFolder
layout, which ``tfds.folder_dataset.ImageFolder`` lists: the class names are the folder names,
sorted, and the order of each split's images is its fixed shuffle):

  PATH/train/cat/0001.jpg   PATH/train/dog/0002.png   PATH/test/cat/0003.jpg ...

Images are JPEG or PNG files of any size, read as RGB. Every image's header is read when the
dataset is loaded, so a broken folder stops the run before training, with one message: no such
folder, a split that is missing or holds no images, a class with images in some of the splits
used but not all (the class indices would not mean the same in each), or files that are not
JPEG or PNG images. Those are refused rather than skipped: a run then trains on what the folder
shows, and a stray or damaged file is found at once instead of changing the epoch silently.
Files whose names begin with "." (.DS_Store) are ignored.

A split of images of one size that fits ``sources.IN_MEMORY_LIMIT_BYTES`` decoded is decoded
once into memory (``sources.ArraySource``); any other is streamed from its files
(``FileSource``), as data.in_memory says.
"""

import concurrent.futures
import dataclasses
import os

import numpy as np
import PIL.Image

from jaxcnn.data import sources
from jaxcnn.errors import UserError

PREFIX = "image_folder:"
EXTENSIONS = (".jpg", ".jpeg", ".png")  # tfds.folder_dataset.ImageFolder's.
_FORMATS = ("JPEG", "PNG", "MPO")  # PIL's names; MPO is a camera's multi-picture JPEG.
CHANNELS = 3


def path_of(name: str) -> str | None:
  """The folder of an ``image_folder:PATH`` dataset name; None for any other name."""
  if not name.startswith(PREFIX):
    return None
  return os.path.abspath(os.path.expanduser(name[len(PREFIX):]))


class FileSource:
  """One split of an image folder, read file by file by the tf.data pipeline (``stream``)."""

  def __init__(self, paths, labels):
    self.paths = np.asarray(paths, dtype=object)
    self.labels = np.asarray(labels, np.int32)
    self.image_shape = (None, None, CHANNELS)

  def __len__(self) -> int:
    return len(self.labels)

  def fetch(self, indices) -> tuple[np.ndarray, np.ndarray]:
    """The paths and labels of ``indices``; the files are read in the graph."""
    indices = np.asarray(indices)
    return self.paths[indices], self.labels[indices]

  def tf_example(self, path, label):
    import tensorflow as tf
    from jaxcnn.data import transforms_tf
    return transforms_tf.Encoded(tf.io.read_file(path), CHANNELS), label


@dataclasses.dataclass(frozen=True)
class Listing:
  root: str
  class_names: tuple[str, ...]
  splits: dict  # split name -> (paths, class indices)


def _fail(message: str):
  raise sources.DataError(message)


def listing(root: str) -> Listing:
  """The folder's splits, class names and image paths, by tfds.folder_dataset.ImageFolder."""
  if not os.path.isdir(root):
    _fail(f"There is no folder {root} (from --config.dataset={PREFIX}{root}). An image "
          f"folder is laid out as PATH/<split>/<class>/<image>, e.g. {root}/train/cat/1.jpg, "
          "with JPEG or PNG images; point the dataset at such a folder.")
  import tensorflow_datasets as tfds
  try:
    builder = tfds.folder_dataset.ImageFolder(root)
  except Exception as e:  # TFDS and gfile raise many types; all mean "cannot list it".
    raise sources.DataError(f"The image folder {root} cannot be listed ({type(e).__name__}: "
                            f"{e}).") from e
  names = tuple(builder.info.features["label"].names)
  index = {c: i for i, c in enumerate(names)}
  splits = {}
  for split, examples in builder._split_examples.items():  # pylint: disable=protected-access
    splits[split] = ([e.image_path for e in examples],
                     np.array([index[e.label] for e in examples], np.int32))
  return Listing(root, names, splits)


def _split_names(split: str) -> str:
  return split.split("[", 1)[0]


def check(lst: Listing, splits) -> None:
  """The folder errors of the module docstring, for the splits used."""
  root = lst.root
  present = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
  for split in splits:
    name = _split_names(split)
    if name not in present:
      _fail(f"The image folder {root} has no split {name!r}: it holds "
            f"{', '.join(present) or 'no folders'}. Each split is a folder "
            f"{root}/<split>/<class>/<image>; name the splits used with "
            "--config.train_split and --config.eval_split.")
    if not len(lst.splits.get(name, ((), ()))[1]):
      _fail(f"{root}/{name} holds no images: each class there is a folder "
            f"{root}/{name}/<class>/ of JPEG or PNG files ({', '.join(EXTENSIONS)}), "
            "and none was found.")
  used = sorted({_split_names(s) for s in splits})
  having = {s: set(np.unique(lst.splits[s][1]).tolist()) for s in used}
  for c, class_name in enumerate(lst.class_names):
    with_images = [s for s in used if c in having[s]]
    if len(with_images) < len(used):
      missing = [s for s in used if s not in with_images]
      where = ", ".join(f"{root}/{s}" for s in with_images) or "another split's folder"
      _fail(f"The class {class_name!r} has images in {where} but none in "
            f"{', '.join(f'{root}/{s}/{class_name}' for s in missing)}. Every class needs "
            f"images in each split used ({', '.join(used)}) so that its index means the same "
            "in all of them: add its images, or remove the class's folders.")
  strays = []
  for s in used:
    split_dir = os.path.join(root, s)
    for class_name in os.listdir(split_dir):
      class_dir = os.path.join(split_dir, class_name)
      if os.path.isdir(class_dir):
        strays += [os.path.join(class_dir, f.name) for f in os.scandir(class_dir)
                   if f.is_file() and not f.name.startswith(".")
                   and not f.name.lower().endswith(EXTENSIONS)]
  _refuse(root, sorted(strays))


def _refuse(root: str, bad: list) -> None:
  if bad:
    _fail(f"{root} holds {len(bad)} file{'s' if len(bad) > 1 else ''} that "
          f"{'are' if len(bad) > 1 else 'is'} not a JPEG or PNG image: "
          f"{', '.join(bad[:3])}{', ...' if len(bad) > 3 else ''}. They are refused rather "
          "than skipped, so that a run trains on exactly what the folder shows: remove, "
          "convert or move them (names beginning with '.' are ignored).")


def _header(path: str):
  """(height, width) from the file's header, or None if it is not a JPEG or PNG image."""
  try:
    with PIL.Image.open(path) as image:
      return (image.size[1], image.size[0]) if image.format in _FORMATS else None
  except (OSError, ValueError, SyntaxError):  # PIL's errors for what it cannot read.
    return None


def headers(paths, threads: int = 16) -> list:
  with concurrent.futures.ThreadPoolExecutor(threads) as pool:
    return list(pool.map(_header, paths, chunksize=256))


def _select(lst: Listing, split: str):
  """(paths, labels) of a split name or a TFDS slice of it ('train[:80%]')."""
  name = _split_names(split)
  paths, labels = lst.splits[name]
  if name == split:
    return paths, labels
  import tensorflow_datasets as tfds
  try:
    info = tfds.core.SplitInfo(name=name, shard_lengths=[len(labels)], num_bytes=0)
    parts = tfds.core.ReadInstruction.from_spec(split).to_absolute({name: info})
  except (ValueError, AssertionError) as e:
    raise sources.DataError(f"Split {split!r} of the image folder {lst.root}: {e}") from e
  picked = np.concatenate([np.arange(len(labels))[p.from_:p.to] for p in parts])
  return [paths[i] for i in picked], labels[picked]


def decode(paths, workers: int = 0) -> np.ndarray:
  """[N, H, W, 3] uint8 of image files of one size, decoded in parallel by TensorFlow (the
  decoder of the streamed path)."""
  import tensorflow as tf
  from jaxcnn.data import stream
  from jaxcnn.data import transforms_tf

  def one(path):
    image = transforms_tf.Encoded(tf.io.read_file(path), CHANNELS)
    shape = image.shape()
    return image.window(0, 0, shape[0], shape[1])

  ds = tf.data.Dataset.from_tensor_slices(np.asarray(paths, dtype=object)).map(
      one, num_parallel_calls=workers or tf.data.AUTOTUNE, deterministic=True)
  try:
    return np.concatenate(list(ds.batch(1024).with_options(stream.options(workers))
                               .as_numpy_iterator()))
  except tf.errors.OpError:
    for path in paths:  # Names the damaged file.
      try:
        one(tf.constant(path))
      except tf.errors.OpError as e:
        raise sources.DataError(f"The image {path} cannot be decoded ({e.message.strip()}): "
                                "it is damaged; replace or remove it.") from None
    raise


def load(name: str, splits, in_memory: str = "auto") -> sources.Dataset:
  """The named splits (or TFDS slices of them) of an image folder, each decoded into memory
  or streamed (see the module docstring)."""
  lst = listing(path_of(name))
  check(lst, splits)
  out = {}
  for split in splits:
    paths, labels = _select(lst, split)
    shapes = headers(paths)
    _refuse(lst.root, [p for p, s in zip(paths, shapes) if s is None])
    if _in_memory(lst.root, split, shapes, in_memory):
      images = decode(paths)
      out[split] = sources.ArraySource(images, labels)
    else:
      out[split] = FileSource(paths, labels)
  return sources.Dataset(name=name, num_classes=len(lst.class_names),
                         class_names=lst.class_names, splits=out)


def _in_memory(root, split, shapes, in_memory: str) -> bool:
  choice = str(in_memory).lower()
  if choice not in sources.IN_MEMORY_CHOICES:
    raise UserError(f"data.in_memory={in_memory!r} must be one of "
                    f"{', '.join(sources.IN_MEMORY_CHOICES)}.")
  if choice == "false":
    return False
  sizes = set(shapes)
  if len(sizes) > 1:
    if choice == "true":
      raise UserError(f"data.in_memory=true, but the images of {root}/{split} vary in size "
                      f"(e.g. {' and '.join(f'{h}x{w}' for h, w in sorted(sizes)[:2])}), so "
                      "they cannot be held as one array. Set --config.data.in_memory=auto to "
                      "read them per batch.")
    return False
  h, w = sizes.pop()
  return choice == "true" or len(shapes) * h * w * CHANNELS <= sources.IN_MEMORY_LIMIT_BYTES


def metadata(name: str) -> sources.Metadata:
  """The classes of an image folder, from its listing (no image is read)."""
  lst = listing(path_of(name))
  return sources.Metadata(len(lst.class_names), lst.class_names, (None, None, CHANNELS))


def describe(name: str) -> str:
  """Checks every split of the folder as a run would and says what it holds."""
  lst = listing(path_of(name))
  check(lst, sorted(lst.splits))
  for split, (paths, _) in sorted(lst.splits.items()):
    _refuse(lst.root, [p for p, s in zip(paths, headers(paths)) if s is None])
  counts = ", ".join(f"{s} {len(labels):,}" for s, (_, labels) in sorted(lst.splits.items()))
  return (f"{PREFIX}{lst.root} is ready: {len(lst.class_names)} classes "
          f"({', '.join(lst.class_names[:5])}{', ...' if len(lst.class_names) > 5 else ''}); "
          f"{counts} images.")
