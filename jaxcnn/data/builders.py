"""TFDS builders for datasets that arrive as local files rather than downloads.

Fashion-MNIST (Xiao et al., 2017) is published as four IDX files. Debian's
``dataset-fashion-mnist`` package installs them, recompressed, under
/usr/share/datasets/fashion-mnist; the recompression changes the .gz bytes, so
TFDS's own ``fashion_mnist`` builder rejects them on its checksums. The builder
here reads the same IDX payloads from a directory and yields the standard
60,000 / 10,000 split with the features of TFDS's ``fashion_mnist``, stored as
raw uint8 tensors so that reading needs neither TensorFlow nor PNG decoding.

``RandomImages`` makes encoded images of varying size, laid out as ImageNet's are, for the
tests and measurements of the streaming pipeline.
"""

import dataclasses
import gzip
import io
import os

import numpy as np
import PIL.Image
import tensorflow_datasets as tfds

FASHION_MNIST_DIRS = ("/usr/share/datasets/fashion-mnist",)
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def read_idx(path: str) -> np.ndarray:
  """Reads an IDX file (optionally gzipped) into an array of its declared shape."""
  opener = gzip.open if path.endswith(".gz") else open
  with opener(path, "rb") as f:
    data = f.read()
  if len(data) < 4 or data[0] != 0 or data[1] != 0:
    raise ValueError(f"{path} is not an IDX file (bad magic number).")
  if data[2] != 0x08:
    raise ValueError(f"{path}: only unsigned-byte IDX files are supported.")
  ndim = data[3]
  shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
  offset = 4 + 4 * ndim
  array = np.frombuffer(data, np.uint8, offset=offset)
  if array.size != int(np.prod(shape)):
    raise ValueError(f"{path}: header says {shape} but holds {array.size} bytes.")
  return array.reshape(shape)


def find_idx_file(directory: str, stem: str) -> str | None:
  for name in (stem, stem + ".gz"):
    path = os.path.join(directory, name)
    if os.path.exists(path):
      return path
  return None


def find_fashion_mnist_dir(candidates=None) -> str | None:
  """Returns the first directory holding all four Fashion-MNIST IDX files."""
  env = os.environ.get("FASHION_MNIST_DIR")
  # A directory the user names is the only one looked at: no silent fallback.
  for directory in [env] if env else list(candidates or FASHION_MNIST_DIRS):
    if all(find_idx_file(directory, stem) for images, labels in _FILES.values()
           for stem in (images, labels)):
      return directory
  return None


class FashionMnistIdx(tfds.core.GeneratorBasedBuilder):
  """Fashion-MNIST from a directory of IDX files (the manual_dir)."""

  VERSION = tfds.core.Version("1.0.0")
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      "Install the four Fashion-MNIST IDX files, e.g. `sudo apt-get install "
      "dataset-fashion-mnist` (Debian/Ubuntu), or set FASHION_MNIST_DIR to a "
      "directory holding train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], "
      "t10k-images-idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz].")

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description="Fashion-MNIST (Xiao et al., 2017) read from local IDX files.",
        features=tfds.features.FeaturesDict({
            "image": tfds.features.Tensor(shape=(28, 28, 1), dtype=np.uint8),
            "label": tfds.features.ClassLabel(names=FASHION_MNIST_CLASSES),
        }),
        supervised_keys=("image", "label"),
        disable_shuffling=True,  # Record i is image i of the IDX file.
        homepage="https://github.com/zalandoresearch/fashion-mnist",
    )

  def _split_generators(self, dl_manager):
    directory = str(dl_manager.manual_dir)
    return {split: self._generate_examples(directory, split) for split in _FILES}

  def _generate_examples(self, directory, split):
    images_stem, labels_stem = _FILES[split]
    images = read_idx(find_idx_file(directory, images_stem))
    labels = read_idx(find_idx_file(directory, labels_stem))
    n = len(labels)
    if images.shape != (n, 28, 28) or labels.shape != (n,):
      raise ValueError(
          f"Fashion-MNIST {split} files in {directory} hold images {images.shape} "
          f"and labels {labels.shape}; expected (N, 28, 28) and (N,).")
    for i in range(n):
      yield i, {"image": images[i, :, :, None], "label": int(labels[i])}


@dataclasses.dataclass
class RandomImagesConfig(tfds.core.BuilderConfig):
  """Sizes of a ``RandomImages`` dataset."""
  train: int = 40
  validation: int = 12
  height: tuple[int, int] = (20, 60)  # Inclusive ranges of the image sides.
  width: tuple[int, int] = (20, 60)
  encoding: str = "png"
  classes: int = 10


class RandomImages(tfds.core.GeneratorBasedBuilder):
  """RGB images of random sizes and smooth random content, with random labels: a dataset
  shaped like ImageNet's (varying sizes, encoded images) for testing and measuring the
  streaming input pipeline. Prepared from a fixed seed, it needs no download."""

  VERSION = tfds.core.Version("1.0.0")
  BUILDER_CONFIGS = [
      RandomImagesConfig(name="tiny", description="40 / 12 PNG images, sides 20-60."),
      # About the mean size of ILSVRC-2012's JPEGs (~400x350), for decode-rate measurements.
      RandomImagesConfig(name="jpeg400", description="512 / 64 JPEG images, ~400x350.",
                         train=512, validation=64, height=(300, 400), width=(350, 450),
                         encoding="jpeg"),
  ]

  def _info(self) -> tfds.core.DatasetInfo:
    c = self.builder_config
    return tfds.core.DatasetInfo(
        builder=self,
        description="Random images of random sizes (a stand-in for ImageNet's layout).",
        features=tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=(None, None, 3), encoding_format=c.encoding),
            "label": tfds.features.ClassLabel(num_classes=c.classes),
        }),
        supervised_keys=("image", "label"),
        disable_shuffling=True,  # Record i is the i-th image drawn.
    )

  def _split_generators(self, dl_manager):
    c = self.builder_config
    return {"train": self._generate_examples(c.train, 0),
            "validation": self._generate_examples(c.validation, 1)}

  def _generate_examples(self, n, seed):
    for i in range(n):
      image, label = random_image(self.builder_config, seed, i)
      buffer = io.BytesIO()
      PIL.Image.fromarray(image).save(buffer, format=self.builder_config.encoding, quality=90)
      yield i, {"image": buffer.getvalue(), "label": label}


def random_image(config: RandomImagesConfig, seed: int, index: int) -> tuple[np.ndarray, int]:
  """Image ``index`` of a ``RandomImages`` split (before encoding) and its label: an 8x8
  colour field upsampled to a random size, plus noise, so that JPEG sees natural-like
  content rather than pure noise."""
  rng = np.random.default_rng([seed, index])
  h = int(rng.integers(config.height[0], config.height[1] + 1))
  w = int(rng.integers(config.width[0], config.width[1] + 1))
  field = PIL.Image.fromarray(rng.integers(0, 256, (8, 8, 3), np.uint8)).resize(
      (w, h), PIL.Image.BILINEAR)
  image = np.asarray(field, np.int16) + rng.integers(-12, 13, (h, w, 3))
  return np.clip(image, 0, 255).astype(np.uint8), int(rng.integers(0, config.classes))
