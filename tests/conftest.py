"""Shared fixtures. Tests see 8 virtual CPU devices and a tiny synthetic Fashion-MNIST."""

import gzip
import os
import shutil
import struct
import tempfile

# Must precede the first jax import anywhere in the test process.
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                           " --xla_force_host_platform_device_count=8").strip()
# One compilation cache for the whole run, its pytest-xdist workers (which inherit this
# environment) and the trainer processes tests start: many tests compile the same small steps,
# and a cache hit skips XLA's compile. It is made afresh for each run and removed at its end.
_XLA_CACHE = None
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
  _XLA_CACHE = tempfile.mkdtemp(prefix="jaxcnn-tests-xla-")
  os.environ["JAX_COMPILATION_CACHE_DIR"] = _XLA_CACHE
  os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
  os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "-1"

import numpy as np
import pytest

N_TRAIN, N_TEST = 1024, 300


def pytest_sessionfinish(session, exitstatus):
  if _XLA_CACHE:
    shutil.rmtree(_XLA_CACHE, ignore_errors=True)


def write_idx(path, array):
  header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
  header += b"".join(struct.pack(">I", d) for d in array.shape)
  with gzip.open(path, "wb") as f:
    f.write(header + array.astype(np.uint8).tobytes())


def synthetic_split(n, seed):
  """Images whose class is a bright 7x7 square at one of 10 places, plus noise."""
  rng = np.random.default_rng(seed)
  labels = rng.integers(0, 10, n)
  images = rng.integers(0, 60, (n, 28, 28))
  for i, c in enumerate(labels):
    r, col = 2 + 12 * (c // 5), 2 + 5 * (c % 5)
    images[i, r:r + 7, col:col + 7] += 180
  return images.astype(np.uint8), labels.astype(np.uint8)


@pytest.fixture(scope="session")
def fashion_dir(tmp_path_factory):
  """A directory of IDX files shaped like Fashion-MNIST's, with 1024 / 300 examples."""
  d = tmp_path_factory.mktemp("idx")
  for prefix, n, seed in (("train", N_TRAIN, 0), ("t10k", N_TEST, 1)):
    images, labels = synthetic_split(n, seed)
    write_idx(d / f"{prefix}-images-idx3-ubyte.gz", images)
    write_idx(d / f"{prefix}-labels-idx1-ubyte.gz", labels)
  return str(d)


@pytest.fixture(scope="session")
def data_dir(fashion_dir, tmp_path_factory):
  """A TFDS data_dir whose fashion_mnist is the synthetic set (prepared once)."""
  os.environ["FASHION_MNIST_DIR"] = fashion_dir
  d = str(tmp_path_factory.mktemp("tfds"))
  from jaxcnn.data import sources
  sources.get_builder("fashion_mnist", d)
  return d


@pytest.fixture
def config(data_dir):
  """The tiny LeNet-5 config on the synthetic data."""
  return tiny_config(data_dir)


def tiny_config(data_dir):
  """The tiny LeNet-5 config on the synthetic data, 12 steps."""
  from jaxcnn import config as config_lib
  c = config_lib.load_file("configs/lenet5.py:tiny",
                           root=os.path.join(os.path.dirname(__file__), ".."))
  c.data_dir = data_dir
  c.batch_size = 32
  c.eval_batch_size = 128
  c.num_train_steps = 12
  c.log_every_steps = 4
  c.checkpoint_every_steps = 4
  c.eval_every_epochs = 100.0  # Evaluate only at the end.
  return c


@pytest.fixture
def no_inference(monkeypatch):
  """Makes loading fail if it infers a class count or input shape from parameter shapes,
  its fallback for checkpoints without metadata: for tests that it reads the metadata."""
  from jaxcnn import loading

  def fail(*args, **kwargs):
    raise AssertionError("inferred from the parameter shapes, not read from the metadata")
  monkeypatch.setattr(loading, "infer_from_parameters", fail)
  monkeypatch.setattr(loading, "changing_leaves", fail)


@pytest.fixture(scope="session")
def trained_run(data_dir, tmp_path_factory):
  """(workdir, final eval metrics) of the tiny LeNet-5 trained for 24 steps, shared by the
  tests that load, predict with, plot and export a trained network."""
  from jaxcnn import train
  c = tiny_config(data_dir)
  c.num_train_steps = 24
  c.eval_every_epochs = 0.5  # Two evaluations (every 16 steps and at the end) for the curves.
  workdir = str(tmp_path_factory.mktemp("trained"))
  return workdir, train.train_and_evaluate(c, workdir)
