"""Streamed datasets: images of varying size read and decoded per batch (imagenet2012's case),
on RandomImages/tiny (40 train / 12 validation PNG images, sides 20-60)."""

import json
import os
import re
import shlex
import subprocess
import sys

import jax
import ml_collections
import numpy as np
import pytest

from jaxcnn.tools import bench_input
from jaxcnn import checkpoint
from jaxcnn import config as config_lib
from jaxcnn import evaluate
from jaxcnn import loading
from jaxcnn.tools import plots
from jaxcnn import train
from jaxcnn.data import augment
from jaxcnn.data import builders
from jaxcnn.data import pipeline
from jaxcnn.data import sources
from jaxcnn.errors import UserError
from tests.tolerance import assert_close, differ

ROOT = os.path.join(os.path.dirname(__file__), "..")
DATASET = "random_images/tiny"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = builders.RandomImages.BUILDER_CONFIGS[0]


@pytest.fixture(scope="module")
def stream_dir(tmp_path_factory):
  d = str(tmp_path_factory.mktemp("stream"))
  sources.get_builder(DATASET, d)  # Prepares it (array_record).
  return d


class CountingRows:
  """Stands in for a TFDS data source and counts the records it is asked to decode."""

  def __init__(self, rows):
    self.rows, self.decoded = rows, 0

  def __len__(self):
    return len(self.rows)

  def __getitems__(self, keys):
    self.decoded += len(keys)
    return self.rows.__getitems__(keys)


def stream_config(data_dir):
  """A two-block VGG on 24x24 crops of images rescaled to 32 (small compiles)."""
  c = config_lib.base_config()
  c.dataset, c.data_dir, c.eval_split = DATASET, data_dir, "validation"
  c.model = "vgg_a"
  c.model_kwargs = ml_collections.ConfigDict({"spec": (4, "M", 8, "M"), "hidden": 16})
  c.data.update(resize=32, image_size=24, train_crop="random", random_flip=True,
                pca_noise=0.1, workers=2)
  c.batch_size, c.eval_batch_size = 8, 8
  c.num_train_steps, c.log_every_steps, c.checkpoint_every_steps = 4, 2, 4
  c.eval_every_epochs = 100.0
  c.optimizer.learning_rate = 0.01
  return c


def test_varying_sizes_are_streamed_and_only_what_is_asked_is_decoded(stream_dir):
  ds = sources.load(DATASET, ("train", "validation", "train[:10]"), stream_dir)
  train_src = ds.splits["train"]
  assert isinstance(train_src, sources.StreamSource) and train_src.image_shape == (None, None, 3)
  assert [len(s) for s in ds.splits.values()] == [40, 12, 10]
  train_src._rows = CountingRows(train_src._rows)
  (image3, label3), (image7, label7) = train_src.read([3, 7])
  assert train_src._rows.decoded == 2
  want3, want_label3 = builders.random_image(TINY, 0, 3)  # PNG: lossless.
  np.testing.assert_array_equal(image3, want3)
  assert label3 == want_label3 and image7.shape == builders.random_image(TINY, 0, 7)[0].shape
  # One train batch of 8 decodes those 8 images and nothing else.
  prep = pipeline.make_preprocess(_data(stream_dir, pca_noise=0.0), train=True)
  batches = pipeline.TrainBatches(train_src, 8, seed=0, preprocess=prep, workers=2)
  assert batches[5]["image"].shape == (8, 24, 24, 3)
  assert train_src._rows.decoded == 2 + 8
  # A process reads its share alone.
  share = pipeline.TrainBatches(train_src, 8, seed=0, preprocess=prep, workers=2,
                                process_index=1, process_count=2)
  assert share[5]["image"].shape == (4, 24, 24, 3) and train_src._rows.decoded == 2 + 8 + 4
  with pytest.raises(UserError, match="vary in size"):
    sources.load(DATASET, ("validation",), stream_dir, in_memory="true")


def _data(data_dir, **overrides):
  data = stream_config(data_dir).data
  data.update(overrides)
  return data


def test_fashion_mnist_stays_in_memory_unless_too_big_or_asked(data_dir, monkeypatch):
  memory = sources.load("fashion_mnist", ("test",), data_dir).splits["test"]
  assert isinstance(memory, sources.ArraySource) and memory.image_shape == (28, 28, 1)
  streamed = sources.load("fashion_mnist", ("test",), data_dir,
                          in_memory="false").splits["test"]
  assert isinstance(streamed, sources.StreamSource)
  (image, label), = streamed.read([17])
  np.testing.assert_array_equal(image, memory.images[17])
  assert label == memory.labels[17]
  # Raw pixels (a Tensor feature) through tf.data, unpreprocessed, as they are in memory.
  first = next(pipeline.eval_batches(streamed, 8, workers=2))
  np.testing.assert_array_equal(first["image"], memory.images[:8])
  np.testing.assert_array_equal(first["label"], memory.labels[:8])
  # 300 x 784 bytes decoded = 235,200: above the limit, "auto" streams.
  monkeypatch.setattr(sources, "IN_MEMORY_LIMIT_BYTES", 235_199)
  assert isinstance(sources.load("fashion_mnist", ("test",), data_dir).splits["test"],
                    sources.StreamSource)
  with pytest.raises(UserError, match="in_memory='maybe'"):
    sources.load("fashion_mnist", ("test",), data_dir, in_memory="maybe")


@pytest.mark.parametrize("crop", pipeline.TRAIN_CROPS)
def test_streamed_train_batches_are_fixed_size_deterministic_and_process_invariant(
    stream_dir, crop):
  source = sources.load(DATASET, ("train",), stream_dir).splits["train"]
  data = _data(stream_dir, train_crop=crop, scale_jitter=(24, 40),
               random_crop_padding=3 if crop == "pad" else 0)
  colour_pca = pipeline.colour_pca_sampled(source, data, None, sample=16, workers=2)
  prep = pipeline.make_preprocess(data, train=True, colour_pca=colour_pca)
  make = lambda **kw: pipeline.TrainBatches(source, 16, seed=3, preprocess=prep, workers=2, **kw)
  one, again = make(), make()
  halves = [make(process_index=p, process_count=2) for p in range(2)]
  for step in (0, 2):  # Step 2 straddles the end of the first epoch (40 = 2.5 batches).
    batch = one[step]
    assert batch["image"].shape == (16, 24, 24, 3) and batch["image"].dtype == np.float32
    np.testing.assert_array_equal(batch["image"], again[step]["image"])
    joined = np.concatenate([h[step]["image"] for h in halves])
    # Each image is prepared on its own, by the same operations whichever process takes it.
    np.testing.assert_array_equal(joined, batch["image"])
    np.testing.assert_array_equal(np.concatenate([h[step]["label"] for h in halves]),
                                  batch["label"])
  assert differ(one[0]["image"], one[1]["image"])


def test_streamed_batches_do_not_depend_on_the_workers_and_resume_bitwise(stream_dir):
  source = sources.load(DATASET, ("train",), stream_dir).splits["train"]
  data = _data(stream_dir, train_crop="scale_jitter", scale_jitter=(24, 40))
  colour_pca = pipeline.colour_pca_sampled(source, data, None, sample=16, workers=2)
  prep = pipeline.make_preprocess(data, train=True, colour_pca=colour_pca)
  one = pipeline.TrainBatches(source, 8, seed=5, preprocess=prep, workers=1)
  # Another process (a run restarted at step 4) with three workers and prefetching.
  resumed = pipeline.TrainBatches(source, 8, seed=5, preprocess=prep, workers=3).iterate(4)
  for k in (4, 5, 6):  # Step 5 straddles the end of the first epoch (40 = 5 batches).
    batch = next(resumed)
    np.testing.assert_array_equal(batch["image"], one[k]["image"])
    np.testing.assert_array_equal(batch["label"], one[k]["label"])
  resumed.close()


@pytest.mark.parametrize("process_count", [1, 2])
def test_streamed_evaluation_visits_every_example_once_and_masks_padding(stream_dir,
                                                                         process_count):
  source = sources.load(DATASET, ("validation",), stream_dir).splits["validation"]
  labels = np.array([label for _, label in source.read(range(len(source)))])
  prep = pipeline.make_preprocess(_data(stream_dir), train=False)
  got, want = [], []
  for p in range(process_count):
    for k, batch in enumerate(pipeline.eval_batches(source, 8, process_index=p,
                                                    process_count=process_count,
                                                    preprocess=prep, workers=2)):
      size = 8 // process_count
      assert batch["image"].shape == (size, 24, 24, 3) and batch["mask"].shape == (size,)
      positions = k * 8 + p * size + np.arange(size)
      np.testing.assert_array_equal(batch["mask"], positions < 12)
      got.append(batch["label"][batch["mask"] == 1])
      want.append(labels[positions[positions < 12]])
  # 12 examples in two batches of 8: each once, in order, and the 4 padding rows masked.
  np.testing.assert_array_equal(np.concatenate(got), np.concatenate(want))
  assert sum(map(len, got)) == 12


def test_streamed_data_faults_are_user_errors(stream_dir):
  source = sources.load(DATASET, ("train",), stream_dir).splits["train"]
  # The tiny images' sides are 20-60: some are smaller than a 50x50 crop.
  data = _data(stream_dir, resize=0, image_size=50, pca_noise=0.0)
  batches = pipeline.TrainBatches(source, 8, seed=0, workers=2,
                                  preprocess=pipeline.make_preprocess(data, train=True))
  with pytest.raises(UserError, match=r"^The random crop needs images of at least 50x50 "
                                      r"pixels .* lower data.image_size\.$"):
    batches[0]
  data.update(image_size=0, train_crop="none")
  whole = pipeline.make_preprocess(data, train=False)
  with pytest.raises(UserError, match="images vary in size. Set data.image_size"):
    next(pipeline.eval_batches(source, 8, preprocess=whole))


def test_colour_pca_of_a_streamed_split_is_a_cached_sample(stream_dir, tmp_path):
  source = sources.load(DATASET, ("train",), stream_dir).splits["train"]
  data = _data(stream_dir)
  path = str(tmp_path / "colour_pca.npz")
  eigvals, eigvecs = pipeline.colour_pca_sampled(source, data, path, sample=10)
  assert eigvals.shape == (3,) and eigvecs.shape == (3, 3)
  assert eigvals[0] >= eigvals[1] >= eigvals[2] > 0
  np.testing.assert_allclose(eigvecs.T @ eigvecs, np.eye(3), atol=1e-12)
  # The same numbers by hand: the 10 sampled images, rescaled to 32, centre 24x24 crops.
  n = len(source)
  picked = np.sort(np.random.default_rng([0, n]).choice(n, 10, replace=False))
  images = []
  for i in picked:
    image = builders.random_image(TINY, 0, int(i))[0][None].astype(np.float32) / 255
    images.append(255 * np.asarray(pipeline.augment.pad_to(
        pipeline.augment.resize_shorter(image, 32), 24)))
  want = pipeline.augment.colour_pca(np.concatenate(images))
  # The pixels went through float32 resampling: float32's rounding at the largest eigenvalue.
  assert_close(eigvals, want[0], rtol=1e-5, dtype=np.float32)
  # Cached: a second call reads the file.
  source._rows = CountingRows(source._rows)
  again = pipeline.colour_pca_sampled(source, data, path, sample=10)
  assert source._rows.decoded == 0
  np.testing.assert_array_equal(again[0], eigvals)


def test_train_and_evaluate_on_a_streamed_dataset_with_every_eval_protocol(stream_dir,
                                                                          tmp_path):
  config = stream_config(stream_dir)
  config_lib.validate(config)
  uncropped = stream_config(stream_dir)
  uncropped.data.update(image_size=0, train_crop="none")
  with pytest.raises(UserError, match="vary in size"):
    train.Experiment(uncropped, train=False)
  result = train.train_and_evaluate(config, str(tmp_path / "run"))
  assert result["eval/count"] == 12 and np.isfinite(result["eval/loss"])
  assert 0 <= result["eval/top1"] <= result["eval/top5"] <= 1
  # The confusion matrix reads the streamed split by the same protocol.
  matrix = plots.confusion_matrix(loading.load_run(str(tmp_path / "run")), batch_size=8)
  # The same count of 12 (any two counts differ by 1/12).
  assert matrix.sum() == 12 and np.trace(matrix) / 12 == pytest.approx(result["eval/top1"],
                                                                        abs=1e-6)
  config.eval_protocol = "ten_crop"
  exp = train.Experiment(config, train=False)
  assert exp.input_shape == (24, 24, 3)
  batch = next(pipeline.eval_batches(exp.eval_source, 8, preprocess=exp.eval_protocol.preprocess,
                                     workers=2))
  # 10-crop views come from the central 32x32 square of each rescaled image.
  assert batch["image"].shape == (8, 32, 32, 3)
  out = exp.evaluate(exp.init_state())
  assert out["eval/count"] == 12 and np.isfinite(out["eval/loss"])


def test_dense_evaluation_takes_each_image_whole_at_its_own_shape(stream_dir):
  config = stream_config(stream_dir)
  config.model_kwargs.weight_init = "he"  # Logits far from uniform.
  # One scale (several are averaged in test_evaluate.py and test_predict.py).
  config.eval_protocol, config.eval_scales = "dense", (24,)
  exp = train.Experiment(config, train=False)
  assert exp.eval_protocol.per_image
  state = exp.init_state()
  result = exp.evaluate(state)
  assert result["eval/count"] == 12
  # By hand: each image rescaled (its aspect ratio kept) to each scale, the fully
  # convolutional network on it and on its mirror, softmax averaged.
  dense = evaluate.dense_model(exp.model)
  variables = jax.device_get(evaluate.variables_of(state))
  apply = lambda x: dense.apply(variables, x, train=False)
  data = config.data
  losses, hits, shapes = [], 0, set()
  for image, label in exp.eval_source.read(np.arange(12)):
    x = image[None].astype(np.float32) / 255
    views = [(augment.resize_shorter(x, q) - np.asarray(data.mean)) / np.asarray(data.std)
             for q in (24,)]
    shapes.add(views[0].shape)
    probs = np.asarray(evaluate.dense_probabilities(apply, views))[0]
    losses.append(-np.log(probs[label]))
    hits += int(np.argmax(probs) == label)
  assert any(h != w for _, h, w, _ in shapes) and len(shapes) > 4  # Not squares, not one size.
  assert_close(result["eval/loss"], np.mean(losses), rtol=1e-5)
  assert abs(result["eval/top1"] * 12 - hits) <= 1  # A near tie may fall either way.


def test_eval_examples_are_each_image_in_order_at_its_own_shape(stream_dir):
  source = sources.load(DATASET, ("validation",), stream_dir).splits["validation"]
  prep = pipeline.make_preprocess(_data(stream_dir), train=False, crop=False)  # Whole images.
  order = np.array([5, 0, 11, 3, 7, 2, 9, 1, 4, 10, 6, 8, 5])  # A repeat; not chunks' multiple.
  got = list(pipeline.eval_examples(source, order, prep, workers=2))
  assert len(got) == len(order)
  shapes = set()
  for (image, label), example in zip(source.read(order), got):
    assert example["label"].tolist() == [label]
    want = prep({"image": image[None], "label": np.array([label])})["image"]
    assert example["image"].shape == want.shape and min(want.shape[1:3]) == 32
    shapes.add(want.shape)
    assert_close(example["image"], want, rtol=0, ulps=2 * 512)  # As test_transforms_tf.py.
  assert len(shapes) > 3
  # An empty share (more processes than images) is an empty, closable stream.
  empty = pipeline.eval_examples(source, np.array([], np.int64), prep)
  assert list(empty) == []
  empty.close()


def test_multi_crop_evaluation_of_a_streamed_split_matches_its_numpy_form(stream_dir):
  config = stream_config(stream_dir)
  config.model_kwargs.weight_init = "he"  # Logits far from uniform.
  config.eval_protocol = "multi_crop"
  config.multi_crop.update(scales=(24, 28), squares=3, crops=6, mirrors=True)
  exp = train.Experiment(config, train=False)
  state = exp.init_state()
  result = exp.evaluate(state)  # Streamed: each example's squares cut by tf.data.
  assert result["eval/count"] == 12
  # The numpy form of the same protocol, one image at a time.
  variables = jax.device_get(evaluate.variables_of(state))
  protocol, losses = exp.eval_protocol, []
  for image, label in exp.eval_source.read(np.arange(12)):
    views = protocol.preprocess({"image": image[None], "label": np.array([label])})
    assert [v.shape[1] for v in views["image"]] == [3, 3, 3, 3]  # Squares, resized, x 2.
    probs = np.asarray(protocol.probabilities(variables, views["image"]))[0]
    losses.append(-np.log(probs[label]))
  assert_close(result["eval/loss"], np.mean(losses), rtol=1e-5)


def test_a_converted_checkpoint_evaluates_from_the_command_line_on_random_images(tmp_path):
  # Fresh processes, in which nothing has registered the local TFDS builders before the name
  # is looked up: preparing the dataset, then evaluating a checkpoint on it.
  run = lambda *args: subprocess.run([sys.executable, "-m", *args], check=False, cwd=REPO,
                                     capture_output=True, text=True, timeout=600)
  data_dir = str(tmp_path / "tfds")
  prepared = run("jaxcnn.data.prepare", f"--dataset={DATASET}", f"--data_dir={data_dir}")
  assert prepared.returncode == 0, prepared.stderr
  assert f"{DATASET} is ready in" in prepared.stdout
  # A step-0 checkpoint as jaxcnn.tools.convert writes one, of an RGB LeNet-5 on 28x28 crops.
  overrides = {"dataset": DATASET, "data_dir": data_dir, "eval_split": "validation",
               "eval_batch_size": 16, "data.resize": 32, "data.image_size": 28}
  config = config_lib.load_file("configs/lenet5.py:tiny", root=REPO)
  for field, value in overrides.items():
    section, _, name = field.rpartition(".")
    (config[section] if section else config)[name] = value
  exp = train.Experiment(config, train=False, num_classes=10, input_shape=(28, 28, 3),
                         devices=jax.devices()[:1])
  mngr = checkpoint.manager(str(tmp_path / "run"), keep=1)
  checkpoint.save(mngr, 0, exp.init_state(), config, metadata=exp.metadata())
  mngr.wait_until_finished()
  evaluated = run("jaxcnn.main", "--config=configs/lenet5.py:tiny", f"--workdir={tmp_path / 'run'}",
                  "--mode=eval", *[f"--config.{k}={v}" for k, v in overrides.items()])
  assert evaluated.returncode == 0, evaluated.stderr
  assert re.search(r"Checkpoint at step 0: top-1 [0-9.]+, .* on 12 validation images",
                   evaluated.stdout), evaluated.stdout


def test_bench_input_reports_the_streaming_rates(stream_dir, capsys):
  bench_input.main(["--config", "configs/resnet18.py", "configs/alexnet.py", "--dataset",
                    DATASET, "--data_dir", stream_dir, "--workers", "1", "2", "--batch", "8",
                    "--batches", "2", "--rounds", "1", "--json"])
  rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
  assert [(r["workers"], r["train_crop"], r["eval_protocol"], r["output"], r["batch"])
          for r in rows] == [
      (w, crop, "ten_crop", size, 8) for w in (1, 2)
      for crop, size in (("scale_jitter", "224x224x3"), ("random", "227x227x3"))]
  assert all(r[k] > 0 for r in rows for k in ("decode_img_s", "decode_preprocess_img_s",
                                              "eval_img_s", "cpu_cores"))
  assert all(r["cpu_cores"] <= os.cpu_count() + 0.5 for r in rows)  # CPU over wall time.
  # Decoding alone is measured once per worker count.
  assert rows[0]["decode_img_s"] == rows[1]["decode_img_s"]


def test_readme_bench_input_command_runs_in_a_fresh_process(tmp_path):
  """The README's command, from a new interpreter (nothing imported before it), on a tiny
  dataset it has to prepare itself."""
  with open(os.path.join(ROOT, "README.md")) as f:
    command = shlex.split(re.search(r"`(python -m jaxcnn\.tools\.bench_input[^`]*)`",
                                    f.read()).group(1))
  assert command[:3] == ["python", "-m", "jaxcnn.tools.bench_input"] and "--json" in command
  args = ["--dataset", DATASET, "--data_dir", str(tmp_path), "--config", "configs/vgg16.py",
          "--workers", "1", "--batch", "8", "--batches", "1", "--rounds", "1"]
  done = subprocess.run([sys.executable] + command[1:] + args, cwd=ROOT, capture_output=True,
                        text=True, timeout=600, check=False)
  assert done.returncode == 0, done.stderr[-2000:]
  row, = [json.loads(line) for line in done.stdout.splitlines()]
  assert row["output"] == "224x224x3" and row["eval_protocol"] == "dense"
