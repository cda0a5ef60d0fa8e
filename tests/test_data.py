import os

import numpy as np
import pytest

from jaxcnn.data import builders
from jaxcnn.data import sources
from tests.conftest import N_TEST, N_TRAIN, synthetic_split

REAL_DIR = "/usr/share/datasets/fashion-mnist"


def test_idx_builder_yields_the_files_exactly(data_dir):
  ds = sources.load("fashion_mnist", ("train", "test"), data_dir)
  assert ds.num_classes == 10 and ds.class_names[9] == "Ankle boot"
  for split, n, seed in (("train", N_TRAIN, 0), ("test", N_TEST, 1)):
    images, labels = synthetic_split(n, seed)
    src = ds.splits[split]
    assert len(src) == n
    np.testing.assert_array_equal(src.images[..., 0], images)
    np.testing.assert_array_equal(src.labels, labels)


def test_a_slice_of_a_split_is_a_split(data_dir):
  ds = sources.load("fashion_mnist", ("train[:100]", "train[-24:]"), data_dir)
  images, labels = synthetic_split(N_TRAIN, 0)
  np.testing.assert_array_equal(ds.splits["train[:100]"].labels, labels[:100])
  np.testing.assert_array_equal(ds.splits["train[-24:]"].images[..., 0], images[-24:])
  with pytest.raises(sources.DataError, match=r"no split 'validation'.*\['test', 'train'\]"):
    sources.load("fashion_mnist", ("validation",), data_dir)


def test_missing_idx_files_give_instructions(tmp_path, monkeypatch):
  monkeypatch.setenv("FASHION_MNIST_DIR", str(tmp_path))
  monkeypatch.setattr(builders, "FASHION_MNIST_DIRS", ())
  with pytest.raises(sources.DataError, match="apt-get install dataset-fashion-mnist"):
    sources.load("fashion_mnist", data_dir=str(tmp_path / "tfds"))


def test_a_prepared_dataset_needs_no_idx_files(data_dir, tmp_path, monkeypatch):
  monkeypatch.setenv("FASHION_MNIST_DIR", str(tmp_path))  # Empty: no IDX files here.
  monkeypatch.setattr(builders, "FASHION_MNIST_DIRS", ())
  ds = sources.load("fashion_mnist", ("test",), data_dir)
  np.testing.assert_array_equal(ds.splits["test"].labels, synthetic_split(N_TEST, 1)[1])


def test_unknown_dataset_is_a_clear_error(tmp_path):
  with pytest.raises(sources.DataError, match="not in the TFDS catalogue"):
    sources.get_builder("no_such_dataset_xyz", str(tmp_path))


def test_read_idx_rejects_a_truncated_file(tmp_path):
  path = tmp_path / "bad-idx3-ubyte"
  path.write_bytes(bytes([0, 0, 8, 3]) + (10).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2 + b"x")
  with pytest.raises(ValueError, match="header says"):
    builders.read_idx(str(path))


_REQUIRE = os.environ.get("JAXCNN_REQUIRE_REAL_DATA") == "1"


@pytest.mark.skipif(not _REQUIRE and not os.path.exists(
    os.path.join(REAL_DIR, "train-images-idx3-ubyte.gz")),
                    reason="Fashion-MNIST IDX files not installed (make data)")
def test_real_fashion_mnist_has_the_standard_split(monkeypatch):
  monkeypatch.delenv("FASHION_MNIST_DIR", raising=False)
  # TFDS's default data_dir, where `make data` prepares it.
  ds = sources.load("fashion_mnist", ("train", "test"), None)
  train, test = ds.splits["train"], ds.splits["test"]
  assert (len(train), len(test)) == (60_000, 10_000)
  assert train.images.shape == (60_000, 28, 28, 1) and train.images.dtype == np.uint8
  # Fashion-MNIST is balanced: 6,000 training and 1,000 test images per class.
  assert np.bincount(train.labels).tolist() == [6000] * 10
  assert np.bincount(test.labels).tolist() == [1000] * 10
  raw = builders.read_idx(os.path.join(REAL_DIR, "t10k-images-idx3-ubyte.gz"))
  np.testing.assert_array_equal(test.images[..., 0], raw)
