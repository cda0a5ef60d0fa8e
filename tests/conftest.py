"""Shared fixtures. Tests see 8 virtual CPU devices and a tiny synthetic Fashion-MNIST."""

import gzip
import os
import struct

# Must precede the first jax import anywhere in the test process (trainer processes the
# tests start inherit it). The tests' inputs are tiny, so compiling takes most of their time:
# LLVM's optimisation level 0 compiles the deep networks about a third faster (ResNet-101's
# two training steps: benchmarks/RESULTS.md, "The test suite"). No test measures speed.
# The 8 devices' collectives meet in one process, and XLA ends it when one device's thread
# has not joined an all-reduce within 40 s, which two cores shared with other work can take
# (a resume test failed so under load): 10 minutes here.
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                           " --xla_force_host_platform_device_count=8"
                           " --xla_backend_optimization_level=0"
                           " --xla_cpu_collective_call_terminate_timeout_seconds=600"
                           " --xla_cpu_collective_call_warn_stuck_timeout_seconds=120").strip()

import shutil
import tempfile

import numpy as np
import pytest

N_TRAIN, N_TEST = 1024, 300
_CACHE_VAR = "JAXCNN_TEST_XLA_CACHE"


def pytest_configure(config):
  """One persistent XLA compilation cache for the test processes of a session (both xdist
  workers): many tests compile the same steps (tiny LeNet-5 runs, seeds of one arm). Not
  size-bounded: JAX would then rescan the whole cache under a lock at every write. Its
  writes are not atomic, but its entries are compressed, so one read while it is written
  fails to decompress and JAX compiles instead (with a warning). The trainer processes the
  tests start do not use it."""
  if os.environ.get(_CACHE_VAR) is None:
    os.environ[_CACHE_VAR] = tempfile.mkdtemp(prefix="jaxcnn-xla-cache-")
    config.stash[_CACHE_OWNER] = os.environ[_CACHE_VAR]
  import jax  # After XLA_FLAGS above.
  jax.config.update("jax_compilation_cache_dir", os.environ[_CACHE_VAR])
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)


_CACHE_OWNER = pytest.StashKey[str]()


def pytest_unconfigure(config):
  if _CACHE_OWNER in config.stash:
    shutil.rmtree(config.stash[_CACHE_OWNER], ignore_errors=True)
    os.environ.pop(_CACHE_VAR, None)


# Left out of `make test-fast` (marked slow): the tests that took over about 8 s in a
# two-worker run of the suite (trainer processes, the deepest networks' compiles, whole
# training runs) and the PyTorch parity tests. A node id is slow if it starts with one of these.
SLOW = (
    "tests/test_configs.py::test_small_variant_trains_two_steps",
    "tests/models/test_registry.py::test_forward_and_backward_with_finite_gradients",
    "tests/models/test_conv.py::test_training_gradients_match_native",
    "tests/models/test_conv.py::test_values_and_gradients_match_lax",
    "tests/models/test_conv.py::test_cpu_train_step_uses_xla_convolutions",
    "tests/models/test_googlenet.py::test_forward_at_minimum_input",
    "tests/models/test_googlenet.py::test_naive_and_fc_head_run",
    "tests/models/test_inception.py::test_googlenet_grid_reduction_switch",
    "tests/models/test_inception.py::test_small_googlenet_variants_train",
    "tests/models/test_inception_v3.py::test_forward_and_backward_at_minimum_train_input",
    "tests/models/test_inception_v3.py::test_the_small_variant_takes_sgd_steps_that_reach_every_layer",
    "tests/models/test_inception_v3.py::test_sgd_step_at_299_with_the_auxiliary_head_traces",
    "tests/models/test_alexnet.py::test_non_overlapping_pooling_trains_on_odd_map_sizes",
    "tests/models/test_alexnet.py::test_figure_1_net",
    "tests/models/test_resnet.py::test_forward_at_32x32",
    "tests/models/test_resnet.py::test_init_kaiming",
    "tests/models/test_lenet.py::test_output_is_minus_the_distance",
    "tests/models/test_nin.py::test_feature_maps_follow_the_released_model",
    "tests/test_experiments.py::test_runner_trains_every_arm_and_seed_once",
    "tests/test_stream.py::test_train_and_evaluate_on_a_streamed_dataset",
    "tests/test_stream.py::test_streamed_train_batches_are_fixed_size",
    "tests/test_stream.py::test_streamed_batches_do_not_depend_on_the_workers",
    "tests/test_stream.py::test_bench_input_reports", "tests/test_stream.py::test_readme_bench",
    "tests/test_folder.py::test_train_evaluate_and_predict",
    "tests/test_folder.py::test_a_folder_of_varying_sizes",
    "tests/test_train.py::test_one_and_eight_devices_take_the_same_step",
    "tests/test_train.py::test_checkpoint_round_trips_the_whole_state",
    "tests/test_train.py::test_second_step_does_not_recompile",
    "tests/test_train.py::test_an_asynchronous_save_writes_the_state_it_was_given",
    "tests/test_evaluate.py::test_every_train_crop_trains",
    "tests/test_evaluate.py::test_dense_evaluation_of_a_small_vgg",
    "tests/test_data.py::test_real_fashion_mnist",
    "tests/test_finetune.py", "tests/test_metadata.py", "tests/test_model_parallel.py",
    "tests/test_main.py", "tests/test_distributed.py", "tests/test_reliability.py",
    "tests/test_workdir_faults.py", "tests/test_mixed_precision.py", "tests/test_export.py",
    "tests/test_predict.py", "tests/test_loading.py", "tests/test_convert.py",
    "tests/test_bench.py", "tests/test_ensemble.py",
    "tests/test_stream.py::test_dense_evaluation_takes_each_image_whole",
    "tests/test_stream.py::test_a_converted_checkpoint_evaluates_from_the_command_line",
    "tests/test_multi_crop.py::test_multi_crop_evaluation_of_a_small_vgg",
    "tests/test_procedures.py",
    "tests/test_steps.py::test_accumulated_micro_batches_take_the_whole_batch_step",
    "tests/test_steps.py::test_batchnorm_statistics_are_per_micro_batch",
    "tests/test_steps.py::test_moving_average_follows_the_parameters",
    "tests/test_steps.py::test_float16_overflow_skips_the_step_and_lowers_the_scale",
    "tests/test_export_onnx.py", "tests/test_tensorboard.py",
    "tests/models/test_list.py::test_every_registered_model_is_listed_with_its_count",
)


def pytest_collection_modifyitems(config, items):
  for item in items:
    if item.nodeid.startswith(SLOW) or "torchvision" in item.nodeid:
      item.add_marker(pytest.mark.slow)


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
