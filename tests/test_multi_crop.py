"""GoogLeNet's multi-crop evaluation (Sec. 6): 4 scales x 3 squares x 6 crops x 2 mirrors."""

import jax
import ml_collections
import numpy as np
import pytest

from jaxcnn import config as config_lib
from jaxcnn import evaluate
from jaxcnn import inference
from jaxcnn import train
from jaxcnn.data import augment
from jaxcnn.errors import UserError
from tests.tolerance import assert_close, differ


def multi(**overrides):
  m = config_lib.base_config().multi_crop
  m.update(overrides)
  return m


def test_the_144_views_of_a_landscape_and_a_portrait_image():
  views = evaluate.multi_crop_views(480, 640, 224, multi())
  assert len(views) == 144 == len(set(views))
  assert sorted({v[0] for v in views}) == [256, 288, 320, 352]
  # At S = 256 the image is 256x341: squares at x = 0, 42, 85; in each, 224 crops at the
  # corners (0 and 32) and the centre (16), and the whole square (to be resized).
  at_256 = [v for v in views if v[0] == 256]
  expected = [(256, y, x0 + x, side, m) for x0 in (0, 42, 85)
              for y, x, side in ((0, 0, 224), (0, 32, 224), (32, 0, 224), (32, 32, 224),
                                 (16, 16, 224), (0, 0, 256))
              for m in (False, True)]
  assert at_256 == expected
  # At S = 352: 352x469, squares at x = 0, 58, 117, crops at 0, 128 and 64.
  assert [v[1:3] for v in views if v[0] == 352 and not v[4]][:6] == \
      [(0, 0), (0, 128), (128, 0), (128, 128), (64, 64), (0, 0)]
  assert sorted({v[2] for v in views if v[0] == 352 and v[3] == 352}) == [0, 58, 117]
  # A portrait image: the squares run top, centre, bottom.
  portrait = evaluate.multi_crop_views(640, 480, 224, multi())
  assert [(v[1], v[2]) for v in portrait if v[0] == 256 and v[3] == 256 and not v[4]] == \
      [(0, 0), (42, 0), (85, 0)]
  # Fewer views: 1 square, the centre crop, no mirrors.
  assert evaluate.multi_crop_views(480, 640, 224, multi(squares=1, crops=1, mirrors=False)) \
      == [(256, 16, 58, 224, False), (288, 32, 80, 224, False), (320, 48, 101, 224, False),
          (352, 64, 122, 224, False)]


class PositionModel:
  """A linear model of every pixel: its logits change with any pixel of the view it sees."""

  def __init__(self, size, channels, classes, seed=0):
    rng = np.random.default_rng(seed)
    self.weights = rng.normal(0, 2, (size * size * channels, classes)).astype(np.float32)

  def apply(self, variables, x, train):
    return x.reshape(len(x), -1) @ variables["w"]


def test_the_protocol_averages_the_softmax_of_exactly_those_views():
  size = 4
  config = config_lib.base_config()
  config.data.image_size = size
  config.eval_protocol = "multi_crop"
  config.multi_crop.scales = (7, 9)  # 7 rescales the 7x10 images to themselves.
  config_lib.validate(config)
  model = PositionModel(size, 2, 5)
  protocol = evaluate.make_protocol(config, model)
  rng = np.random.default_rng(1)
  images = rng.integers(0, 256, (3, 7, 10, 2), np.uint8)
  batch = protocol.preprocess({"image": images, "label": np.zeros(3, np.int32)})
  variables = {"w": model.weights}
  got = jax.jit(protocol.probabilities)(variables, batch["image"])

  views = evaluate.multi_crop_views(7, 10, size, config.multi_crop)
  assert len(views) == 2 * 3 * 6 * 2
  softmax = lambda x: np.asarray(jax.nn.softmax(x @ model.weights))
  expected = 0.0
  for scale, y, x, side, mirrored in views:
    rescaled = augment.resize_shorter(images.astype(np.float32) / 255, scale)
    view = rescaled[:, y:y + side, x:x + side]
    if side != size:
      view = augment.resize(view, size, size)
    view = view[:, :, ::-1] if mirrored else view
    expected = expected + softmax(view.reshape(3, -1)) / len(views)
  assert_close(got, expected, rtol=1e-5)
  assert_close(np.sum(got, -1), 1.0)
  # Not the centre crop alone.
  centre = augment.pad_to(images.astype(np.float32) / 255, size)
  assert differ(got, softmax(centre.reshape(3, -1)))


def test_bad_multi_crop_settings_are_refused():
  config = config_lib.base_config()
  config.eval_protocol = "multi_crop"
  config.data.image_size = 224
  config.multi_crop.update(scales=(200, 256), squares=2, crops=4)
  with pytest.raises(UserError, match=r"multi_crop.scales=\(200, 256\) must be image sides of "
                     r"at least data.image_size=224.*squares=2 must be 1 or 3.*crops=4"):
    config_lib.validate(config)
  with pytest.raises(UserError, match="multi_crop.scales of at least that"):
    evaluate.make_protocol(config, PositionModel(4, 1, 2))


def test_multi_crop_evaluation_of_a_small_vgg_in_the_training_loop(config):
  # Fashion-MNIST's 28x28 images at scales 28 and 32, 24x24 crops: 2 x 3 x 6 x 2 = 72 views.
  config.model = "vgg_a"
  config.model_kwargs = ml_collections.ConfigDict({"spec": (4, "M", 8, "M"), "hidden": 16,
                                                   "weight_init": "he"})
  config.data.image_size = 24
  config.eval_protocol = "multi_crop"
  config.multi_crop.scales = (28, 32)
  config_lib.validate(config)
  exp = train.Experiment(config, train=False)
  assert exp.input_shape == (24, 24, 1)
  state = exp.init_state()
  result = exp.evaluate(state)  # The sharded step, over the 8 devices.
  assert result["eval/count"] == 300
  # The same numbers from the protocol's probabilities on the host's side.
  probs, labels = inference.split_probabilities(
      exp.eval_protocol, jax.device_get(evaluate.variables_of(state)), exp.eval_source, 128)
  sums = inference.metric_sums(probs, labels)
  assert_close(result["eval/loss"], sums["loss"] / 300, rtol=1e-5)
  # Counts of one image apart at most: a near tie may fall either way between the two sums.
  assert abs(result["eval/top1"] * 300 - sums["top1"]) <= 1
