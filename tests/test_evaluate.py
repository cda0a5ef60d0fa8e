import functools
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from jaxcnn import config as config_lib
from jaxcnn import evaluate
from jaxcnn import models
from jaxcnn import sharding
from jaxcnn import steps
from jaxcnn import train
from jaxcnn.data import pipeline
from jaxcnn.data import sources
from jaxcnn.errors import UserError
from jaxcnn.models import vgg
from tests.models.variables import random_variables
from tests.tolerance import assert_close, differ


def coordinates(n, h, w):
  rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
  return np.broadcast_to(np.stack([rows, cols], -1), (n, h, w, 2)).astype(np.float32)


def numpy_ten_crops(images, size):
  """The four corners, the centre, then their mirrors, cut by hand."""
  h, w = images.shape[1:3]
  corners = [(0, 0), (0, w - size), (h - size, 0), (h - size, w - size),
             ((h - size) // 2, (w - size) // 2)]
  crops = [images[:, y:y + size, x:x + size] for y, x in corners]
  return crops + [c[:, :, ::-1] for c in crops]


def test_ten_crops_are_the_corners_the_centre_and_their_mirrors():
  images = coordinates(2, 11, 13)
  offsets = evaluate.ten_crop_offsets(11, 13, 8)
  np.testing.assert_array_equal(offsets, [[0, 0, 0], [0, 5, 0], [3, 0, 0], [3, 5, 0], [1, 2, 0],
                                          [0, 0, 1], [0, 5, 1], [3, 0, 1], [3, 5, 1], [1, 2, 1]])
  for offset, expected in zip(offsets, numpy_ten_crops(images, 8)):
    np.testing.assert_array_equal(evaluate.crop_view(jnp.asarray(images), offset, 8), expected)


def test_ten_crop_averages_the_softmax_of_the_ten_views():
  rng = np.random.default_rng(0)
  images = rng.random((3, 10, 10, 2)).astype(np.float32)
  weights = rng.normal(0, 3, (8 * 8 * 2, 5)).astype(np.float32)
  fake_model = lambda x: x.reshape(len(x), -1) @ weights  # Sees where each pixel is.
  probs = jax.jit(functools.partial(evaluate.ten_crop_probabilities, fake_model, size=8))(images)
  expected = np.mean([jax.nn.softmax(fake_model(c)) for c in numpy_ten_crops(images, 8)], axis=0)
  assert_close(probs, expected, rtol=1e-5)
  assert_close(probs.sum(-1), 1.0, rtol=1e-5)
  # Not the softmax of averaged logits, nor one view: the averaging is of probabilities.
  assert np.abs(probs - jax.nn.softmax(fake_model(images[:, 1:9, 1:9]))).max() > 1e-3


def test_ten_crop_larger_than_the_image_is_a_user_error():
  with pytest.raises(UserError, match="data.resize"):
    evaluate.ten_crop_offsets(24, 24, 28)


def test_metric_sums_match_the_eval_step_on_one_view():
  rng = np.random.default_rng(0)
  logits = jnp.asarray(rng.normal(0, 2, (6, 7)), jnp.float32)
  labels = jnp.asarray([0, 1, 2, 3, 4, 5])
  mask = jnp.asarray([1, 1, 1, 1, 0, 0], jnp.float32)

  class State:
    params, batch_stats = {}, {}
    apply_fn = staticmethod(lambda variables, x, train: logits)

  expected = steps.eval_step(State, {"image": None, "label": labels, "mask": mask})
  got = evaluate.metric_sums(jax.nn.log_softmax(logits), labels, mask)
  for k in expected:
    assert_close(got[k], expected[k], rtol=1e-6)


def small_vgg(**kwargs):
  # Two 2x2 pools: fc6 reads the 2x2 map of an 8x8 crop.
  return vgg.VGG(spec=(4, "M", 8, "M"), num_classes=5, input_size=8, hidden=16, **kwargs)


def test_dense_is_the_fc_net_at_its_size_and_averages_scales_and_mirrors():
  fc_net = small_vgg()
  rng = np.random.default_rng(0)
  images = rng.normal(0, 1, (4, 8, 8, 3)).astype(np.float32)
  variables = random_variables(fc_net, images)
  dense = evaluate.dense_model(fc_net)
  assert dense.fully_convolutional and not fc_net.fully_convolutional
  apply = jax.jit(lambda x: dense.apply(variables, x, train=False))
  fc_logits = jax.jit(lambda x: fc_net.apply(variables, x, train=False))
  # At Q = the training size the score map is 1x1: the FC net's (centre-crop) logits exactly.
  assert_close(apply(images), fc_logits(images), rtol=1e-5)
  fc = lambda x: jax.nn.softmax(fc_logits(x))
  assert_close(evaluate.dense_probabilities(apply, (images,)),
               (fc(images) + fc(images[:, :, ::-1])) / 2, rtol=1e-5)
  # At 16x16 the score map is 3x3 (tests/models/test_vgg.py holds its average to the FC head
  # on each window); scales and mirrors are averaged as probabilities.
  big = rng.normal(0, 1, (4, 16, 16, 3)).astype(np.float32)
  sm = lambda x: jax.nn.softmax(apply(x))
  assert_close(
      evaluate.dense_probabilities(apply, (images, big)),
      (sm(images) + sm(images[:, :, ::-1]) + sm(big) + sm(big[:, :, ::-1])) / 4, rtol=1e-5)
  assert np.abs(sm(big) - sm(images)).max() > 1e-3


def test_dense_needs_a_fully_convolutional_form():
  c = config_lib.base_config()
  c.eval_protocol = "dense"
  with pytest.raises(UserError, match="center or ten_crop"):
    evaluate.make_protocol(c, models.create("lenet5_modern", num_classes=10))
  assert evaluate.dense_model(models.create("resnet20", num_classes=10)) is not None
  assert evaluate.dense_model(models.create("nin", num_classes=10)) is not None
  assert evaluate.dense_model(models.create("nin_fc", num_classes=10)) is None


def test_every_train_crop_trains_and_center_and_ten_crop_evaluate(config):
  # 28x28 images rescaled to 32, 28x28 crops; PCA noise on (the split's statistics cached).
  config.data.update(image_size=28, resize=32, random_flip=True, scale_jitter=(28, 36),
                     pca_noise=0.1)
  config.eval_protocol = "ten_crop"
  exp = train.Experiment(config)
  assert exp.input_shape == (28, 28, 1)
  state = exp.init_state()
  # One compiled step serves every crop (all give 28x28); train_batches reads config.data.
  for step, crop in enumerate(pipeline.TRAIN_CROPS):
    config.data.update(train_crop=crop, random_crop_padding=2 if crop == "pad" else 0)
    config_lib.validate(config)
    batch = exp.train_batches()[step]
    assert batch["image"].shape == (32, 28, 28, 1)
    state, metrics = exp.train_step(state, sharding.to_global(batch, exp.mesh))
    assert np.isfinite(float(metrics["loss"])), crop
  assert os.path.exists(sources.cache_path(config.dataset, config.train_split, config.data_dir,
                                           "colour_pca.npz"))
  ten = exp.evaluate(state)
  assert ten["eval/count"] == 300 and 0 <= ten["eval/top1"] <= ten["eval/top5"] <= 1
  config.eval_protocol = "center"
  exp.eval_protocol = evaluate.make_protocol(config, exp.model)
  exp.eval_step = jax.jit(sharding.traced_in(exp.mesh, exp.eval_protocol.step))
  centre = exp.evaluate(state)
  assert centre["eval/count"] == 300 and np.isfinite(centre["eval/loss"])
  # Ten views of each image score otherwise than its centre view alone.
  assert differ(centre["eval/loss"], ten["eval/loss"], rel=1e-3), (centre, ten)


def test_dense_evaluation_of_a_small_vgg_on_the_synthetic_data(config):
  # A two-block VGG (fc6 a 7x7 window of the 28x28 input's 7x7 map) keeps compiling cheap.
  config.model = "vgg_a"
  config.model_kwargs = ml_collections.ConfigDict({"spec": (4, "M", 8, "M"), "hidden": 16})
  config.eval_protocol = "dense"
  config.eval_scales = (28, 36)
  config_lib.validate(config)
  exp = train.Experiment(config, train=False)
  assert exp.input_shape == (28, 28, 1)
  batch = next(pipeline.eval_batches(exp.eval_source, 8, preprocess=exp.eval_protocol.preprocess))
  assert [im.shape for im in batch["image"]] == [(8, 28, 28, 1), (8, 36, 36, 1)]
  result = exp.evaluate(exp.init_state())
  assert result["eval/count"] == 300 and np.isfinite(result["eval/loss"])
  assert 0 <= result["eval/top1"] <= result["eval/top5"] <= 1
