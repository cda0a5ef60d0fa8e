"""The streamed path's transforms (transforms_tf, TensorFlow) against today's numpy ones
(pipeline.make_preprocess over augment): with the windows, scales, boxes, flips and colour
alphas that transforms_tf.draw chose fed to the numpy code as its random draws, the two give
the same images within resampling tolerance, from PNG and from JPEG files."""

import io

import numpy as np
import PIL.Image
import pytest
import tensorflow as tf

from jaxcnn import config as config_lib
from jaxcnn import evaluate
from jaxcnn import models
from jaxcnn.data import augment
from jaxcnn.data import pipeline
from jaxcnn.data import transforms_tf
from tests.tolerance import assert_close

# Both resample with augment.resize_matrix's filter, but TF computes each output's sample
# point in float32 ((o + 0.5 - translation) / scale) where numpy uses float64: at coordinates
# up to 512 pixels a float32 position is off by up to 512 ulps of a pixel on each axis, and a
# value in [0, 1], a weighted mean of pixels at most 1 apart, moves by at most as many ulps.
RESAMPLING_ULPS = 2 * 512

# The papers' transforms (configs/alexnet.py, vgg16.py[:jitter], googlenet.py, resnet18.py,
# the CIFAR recipe), on [0, 1] pixels (mean 0, std 1: normalising is the same elementwise
# float32 arithmetic in both).
TRAIN = {
    "alexnet": {"resize": 256, "image_size": 227, "train_crop": "random", "pca_noise": 0.1},
    "vgg_fixed_s": {"resize": 256, "image_size": 224, "train_crop": "random"},
    "vgg_jitter": {"resize": 256, "image_size": 224, "train_crop": "scale_jitter",
                   "scale_jitter": (256, 512)},
    "resnet": {"resize": 256, "image_size": 224, "train_crop": "scale_jitter",
               "scale_jitter": (256, 480)},
    "googlenet": {"resize": 256, "image_size": 224, "train_crop": "inception"},
    "inception_unscaled": {"image_size": 96, "train_crop": "inception"},
    "cifar": {"image_size": 32, "train_crop": "pad", "random_crop_padding": 4},
}
EVAL = {  # (data overrides, make_preprocess keywords)
    "centre": ({"resize": 256, "image_size": 224}, {}),
    "ten_crop": ({"resize": 256, "image_size": 224}, {"crop": False, "square": True}),
    "dense_384": ({"resize": 256, "image_size": 224},
                  {"crop": False, "square": True, "resize": 384}),
    "pad_small": ({"image_size": 320}, {}),
}
COLOUR_PCA = (np.array([0.04, 0.006, 0.001]),
              np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))[0])
# (height, width): ImageNet-like sizes, one whose shorter side is already 256 (no rescaling),
# one tall.
SIZES = [(300, 400), (256, 341), (420, 310)]


def data_config(**overrides):
  data = config_lib.base_config().data
  data.update(random_flip=True, **overrides)
  return data


def image(h, w, seed):
  """Smooth colour fields plus noise (resampling has something to blur)."""
  rng = np.random.default_rng(seed)
  field = PIL.Image.fromarray(rng.integers(0, 256, (6, 6, 3), np.uint8)).resize(
      (w, h), PIL.Image.BILINEAR)
  return np.clip(np.asarray(field, np.int16) + rng.integers(-20, 21, (h, w, 3)), 0,
                 255).astype(np.uint8)


def encoded(pixels, fmt):
  """(the file's bytes, the pixels PIL decodes from it: what TFDS and predict read)."""
  buffer = io.BytesIO()
  PIL.Image.fromarray(pixels).save(buffer, format=fmt, quality=85)
  data = buffer.getvalue()
  return data, np.asarray(PIL.Image.open(io.BytesIO(data)).convert("RGB"))


class ScriptedRng:
  """Stands in for numpy's Generator: answers each draw of the numpy code with the value
  transforms_tf drew, after checking that the numpy code asks for the same range."""

  def __init__(self, answers):
    self.answers = list(answers)

  def _next(self, kind, *bounds):
    want_kind, want_bounds, value = self.answers.pop(0)
    assert (kind, bounds) == (want_kind, want_bounds)
    return value

  def integers(self, low, high, size=None):
    value = self._next("integers", int(low), int(high))
    return value if size is None else np.full(size, value)

  def normal(self, loc, scale, size):
    return self._next("normal", float(loc), float(scale)).reshape(size)

  def random(self, size):
    return np.full(size, self._next("random"))


def numpy_draws(spec, choices):
  """The numpy code's draws, in its order, answered with ``choices``."""
  c = {k: v.numpy() for k, v in choices.items()}
  sh, sw = c["scaled"]
  top, left = c["window"][:2]
  size = spec.size
  answers = []
  if spec.train_crop == "random":
    answers += [("integers", (0, sh - size + 1), top), ("integers", (0, sw - size + 1), left)]
  elif spec.train_crop == "scale_jitter":
    s = min(sh, sw)
    answers += [("integers", (spec.scale_jitter[0], spec.scale_jitter[1] + 1), s),
                ("integers", (0, sh - size + 1), top), ("integers", (0, sw - size + 1), left)]
  if "alpha" in c:
    answers.append(("normal", (0.0, spec.pca_std), c["alpha"]))
  if "shift" in c:
    p = spec.padding
    answers += [("integers", (0, 2 * p + 1), c["shift"][0]),
                ("integers", (0, 2 * p + 1), c["shift"][1])]
  answers.append(("random", (), 0.0 if c["flip"] else 0.9))
  return ScriptedRng(answers)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
@pytest.mark.parametrize("name", sorted(TRAIN))
def test_training_transforms_agree_with_numpy(name, fmt, monkeypatch):
  data = data_config(**TRAIN[name])
  prep = pipeline.make_preprocess(data, train=True, colour_pca=COLOUR_PCA)
  for i, (h, w) in enumerate(SIZES):
    if name in ("cifar", "inception_unscaled"):
      h, w = (40, 36) if name == "cifar" else (h // 2, w // 2)
    file, pixels = encoded(image(h, w, i), fmt)
    source = transforms_tf.Encoded(tf.constant(file), 3)
    np.testing.assert_array_equal(source.shape(), (h, w))
    key = transforms_tf.example_key(7, tf.constant(i, tf.int64), tf.constant(3, tf.int64))
    choices = transforms_tf.draw(prep.spec, h, w, 3, key)
    got = transforms_tf.render(prep.spec, source, h, w, choices, COLOUR_PCA).numpy()
    top, left, oh, ow = choices["window"].numpy()
    box = np.array([[top, left, oh, ow]])
    monkeypatch.setattr(augment, "inception_boxes", lambda *args, box=box: box)
    batch = {"image": pixels[None], "label": np.zeros(1, np.int32)}
    want = prep(batch, numpy_draws(prep.spec, choices))["image"][0]
    assert got.shape == want.shape == ((data.image_size,) * 2 + (3,))
    assert_close(got, want, rtol=0, ulps=RESAMPLING_ULPS)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
@pytest.mark.parametrize("name", sorted(EVAL))
def test_evaluation_views_agree_with_numpy(name, fmt):
  overrides, kwargs = EVAL[name]
  prep = pipeline.make_preprocess(data_config(**overrides), train=False, **kwargs)
  for i, (h, w) in enumerate(SIZES):
    file, pixels = encoded(image(h, w, i), fmt)
    got = transforms_tf.apply(prep.spec, transforms_tf.Encoded(tf.constant(file), 3)).numpy()
    want = prep({"image": pixels[None], "label": np.zeros(1, np.int32)})["image"][0]
    assert got.shape == want.shape
    assert_close(got, want, rtol=0, ulps=RESAMPLING_ULPS)


def test_a_jpeg_window_is_decoded_as_the_whole_image_is():
  file, pixels = encoded(image(300, 400, 0), "JPEG")
  source = transforms_tf.Encoded(tf.constant(file), 3)
  for y, x, h, w in ((0, 0, 300, 400), (17, 33, 101, 57), (299, 1, 1, 399), (5, 390, 200, 10)):
    np.testing.assert_array_equal(source.window(y, x, h, w), pixels[y:y + h, x:x + w])


def test_draws_cover_the_papers_ranges():
  spec = pipeline.make_preprocess(data_config(**TRAIN["vgg_jitter"]), train=True).spec
  inception = pipeline.make_preprocess(data_config(**TRAIN["googlenet"]), train=True).spec
  scales, tops, boxes, flips = [], [], [], []
  for i in range(300):
    key = transforms_tf.example_key(0, tf.constant(1, tf.int64), tf.constant(i, tf.int64))
    c = transforms_tf.draw(spec, 300, 400, 3, key)
    scales.append(int(c["scaled"][0]))
    tops.append(int(c["window"][0]) / (int(c["scaled"][0]) - 224))
    flips.append(bool(c["flip"]))
    drawn = transforms_tf.draw(inception, 300, 400, 3, key)
    # The box is drawn on the image as stored (data.resize is evaluation's).
    np.testing.assert_array_equal(drawn["scaled"], [300, 400])
    boxes.append(drawn["window"].numpy())
  assert min(scales) >= 256 and max(scales) <= 512 and len(set(scales)) > 150
  assert min(tops) >= 0 and max(tops) <= 1 and np.std(tops) > 0.2
  assert 0.35 < np.mean(flips) < 0.65
  y, x, h, w = np.array(boxes).T
  sh, sw = 300, 400
  assert (y >= 0).all() and (x >= 0).all() and (y + h <= sh).all() and (x + w <= sw).all()
  area, ratio = h * w / (sh * sw), w / h
  # As augment's test: rounding to pixels moves the area and ratio a little past the bounds.
  assert area.min() >= 0.08 * 0.9 and area.max() <= 1.0 and area.min() < 0.15
  assert ratio.min() >= 3 / 4 * 0.93 and ratio.max() <= 4 / 3 / 0.93


def test_inception_box_falls_back_to_a_centred_box_when_nothing_fits():
  # augment's case: in a 100x4 strip no box of 8% of the area and ratio in [3/4, 4/3] fits.
  for i in range(5):
    key = transforms_tf.example_key(0, tf.constant(0, tf.int64), tf.constant(i, tf.int64))
    np.testing.assert_array_equal(transforms_tf.inception_box(100, 4, key), [47, 0, 5, 4])


def test_keys_are_a_function_of_seed_step_and_position():
  key = transforms_tf.example_key
  one = key(1, tf.constant(5, tf.int64), tf.constant(9, tf.int64)).numpy()
  np.testing.assert_array_equal(one, key(1, tf.constant(5, tf.int64),
                                         tf.constant(9, tf.int64)).numpy())
  others = [key(2, 5, 9), key(1, 6, 9), key(1, 5, 10), key(1, 9, 5)]
  assert all((one != k.numpy()).any() for k in others)


@pytest.mark.parametrize("h, w, size", [(100, 150, 224), (37, 200, 224), (223, 120, 224),
                                        (5, 7, 96), (300, 250, 224), (150, 300, 224)])
def test_resize_square_is_the_triangle_kernel_enlarging_and_shrinking(h, w, size):
  # Enlarging on both axes takes TF's bilinear resize, otherwise the antialiased resampler.
  pixels = np.random.default_rng(h * w).integers(0, 256, (h, w, 3), dtype=np.uint8)
  got = transforms_tf.resize_square(tf.constant(pixels), size).numpy()
  want = augment.resize(pixels[None].astype(np.float32), size, size)[0]
  assert got.dtype == np.float32 and got.shape == (size, size, 3)
  assert_close(got / 255.0, want / 255.0, rtol=0, ulps=RESAMPLING_ULPS)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
@pytest.mark.parametrize("h, w, out_h, out_w, scale, translation", [
    (300, 280, 224, 224, (0.75, 0.8), (-3.25, 0.5)),   # Shrinking, translated.
    (172, 180, 224, 224, (1.3, 1.3), (0.4, -2.7)),     # Enlarging.
    (400, 120, 96, 150, (0.24, 1.25), (0.0, 0.0)),     # One axis each way.
    (9, 11, 9, 11, (1.0, 1.0), (0.0, 0.0)),            # Identity.
])
def test_resample_region_is_one_scale_and_translate_bit_for_bit(dtype, h, w, out_h, out_w,
                                                                scale, translation):
  # Two calls of the op, one per axis, laid out for its fast pass: the same sums in the same
  # order as one call over both axes.
  channels = 1 if h == 9 else 3
  region = np.random.default_rng(h).integers(0, 256, (h, w, channels)).astype(dtype)
  scale, translation = tf.constant(scale), tf.constant(translation)
  want = tf.raw_ops.ScaleAndTranslate(images=region[None], size=[out_h, out_w], scale=scale,
                                      translation=translation, kernel_type="triangle",
                                      antialias=True)[0].numpy()
  got = transforms_tf.resample_region(tf.constant(region), tf.constant([out_h, out_w]),
                                      scale, translation).numpy()
  assert got.dtype == np.float32 and got.shape == (out_h, out_w, channels)
  np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_multi_crop_squares_agree_with_numpy(fmt):
  # GoogLeNet's 144-crop input: per scale the three squares and the squares resized, from one
  # decoding of the image.
  config = config_lib.base_config()
  config.data = data_config(resize=256, image_size=224)
  config.update(model="googlenet", eval_protocol="multi_crop")
  config.multi_crop.update(scales=(256, 320), squares=3, crops=6)
  protocol = evaluate.make_protocol(config, models.from_config(config, 10, (224, 224, 3)))
  for i, (h, w) in enumerate(SIZES):
    file, pixels = encoded(image(h, w, i), fmt)
    got = protocol.preprocess.tf_example(transforms_tf.Encoded(tf.constant(file), 3))["image"]
    want = protocol.preprocess({"image": pixels[None], "label": np.zeros(1, np.int32)})["image"]
    assert [tuple(g.shape) for g in got] == [w_.shape[1:] for w_ in want] == [
        (3, 256, 256, 3), (3, 224, 224, 3), (3, 320, 320, 3), (3, 224, 224, 3)]
    for g, w_ in zip(got, want):
      assert_close(g.numpy(), w_[0], rtol=0, ulps=RESAMPLING_ULPS)
