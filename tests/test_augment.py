import jax
import numpy as np
import pytest

from jaxcnn import config as config_lib
from jaxcnn.data import augment
from jaxcnn.data import pipeline
from jaxcnn.errors import UserError
from tests.tolerance import assert_close, close


def coordinates(n, h, w):
  """[n, h, w, 2] float images whose channels are each pixel's row and column."""
  rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
  return np.broadcast_to(np.stack([rows, cols], -1), (n, h, w, 2)).astype(np.float32)


@pytest.mark.parametrize("shape", [(40, 30), (13, 9), (56, 7)])
def test_resize_matches_jax_image_resize(shape):
  x = np.random.default_rng(0).random((2, 28, 20, 3)).astype(np.float32)
  expected = jax.image.resize(x, (2, *shape, 3), "linear")
  assert_close(augment.resize(x, *shape), expected)


def test_resize_shorter_keeps_the_aspect_ratio():
  x = np.zeros((1, 20, 30, 1), np.float32)
  assert augment.resize_shorter(x, 40).shape == (1, 40, 60, 1)
  assert augment.resize_shorter(x.transpose(0, 2, 1, 3), 10).shape == (1, 15, 10, 1)


def test_random_window_cuts_whole_windows_at_every_position():
  images = coordinates(2000, 12, 12)
  crops = augment.random_window(images, 9, np.random.default_rng(0))
  assert crops.shape == (2000, 9, 9, 2)
  top, left = crops[:, 0, 0, 0], crops[:, 0, 0, 1]
  window = coordinates(1, 9, 9)[0]
  np.testing.assert_array_equal(crops - np.stack([top, left], -1)[:, None, None], window[None]
                                .repeat(2000, 0))
  # Offsets 0..3 in each direction, all of them drawn, about equally often.
  counts = np.bincount((top * 4 + left).astype(int), minlength=16)
  assert counts.shape == (16,) and counts.min() > 2000 / 16 * 0.7


def test_random_window_larger_than_the_image_is_a_user_error():
  with pytest.raises(UserError, match="data.image_size"):
    augment.random_window(np.zeros((1, 8, 8, 1), np.float32), 9, np.random.default_rng(0))


def test_scale_jitter_draws_s_within_the_range():
  # Linear interpolation keeps a ramp linear: the column step inside a crop is 8 / S.
  images = coordinates(300, 8, 8)
  crops = augment.scale_jitter(images, 10, 12, 20, np.random.default_rng(0))
  assert crops.shape == (300, 10, 10, 2)
  steps = np.median(np.diff(crops[..., 1], axis=2), axis=(1, 2))
  s = 8 / steps
  np.testing.assert_allclose(s, np.round(s), atol=1e-3)
  assert s.min() >= 12 - 1e-3 and s.max() <= 20 + 1e-3
  assert set(np.round(s).astype(int)) == set(range(12, 21))  # Every S drawn.
  # Rows scale alike: the image is rescaled isotropically.
  assert_close(np.median(np.diff(crops[..., 0], axis=1), axis=(1, 2)), steps, rtol=1e-4)


def test_scale_jitter_crop_is_a_window_of_the_rescaled_image():
  x = np.random.default_rng(1).random((1, 8, 8, 1)).astype(np.float32)
  crop = augment.scale_jitter(x, 6, 10, 10, np.random.default_rng(0))[0]
  full = augment.resize(x, 10, 10)[0]
  matches = [(y, c) for y in range(5) for c in range(5)
             if close(full[y:y + 6, c:c + 6], crop)]
  assert len(matches) == 1


def test_inception_boxes_respect_area_and_aspect_bounds():
  boxes = augment.inception_boxes(5000, 64, 48, np.random.default_rng(0))
  y, x, h, w = boxes.T
  assert (y >= 0).all() and (x >= 0).all() and (y + h <= 64).all() and (x + w <= 48).all()
  area = h * w / (64 * 48)
  # Rounding the sides to pixels moves the area and the ratio a little past the bounds.
  assert area.min() >= 0.08 * 0.9 and area.max() <= 1.0
  ratio = w / h
  assert ratio.min() >= 3 / 4 * 0.93 and ratio.max() <= 4 / 3 / 0.93
  assert area.min() < 0.1 and area.max() > 0.6  # The range is used, not just its middle.
  assert np.mean(area) == pytest.approx(0.5, abs=0.06)  # Uniform in area (tall fits less).


def test_inception_boxes_fall_back_to_a_centred_box_when_nothing_fits():
  # A 100x4 strip: no box with aspect ratio in [3/4, 4/3] and 8% of the area fits.
  boxes = augment.inception_boxes(20, 100, 4, np.random.default_rng(0))
  np.testing.assert_array_equal(boxes, [[47, 0, 5, 4]] * 20)


def test_inception_crop_resizes_its_box():
  images = np.random.default_rng(2).random((8, 20, 16, 3)).astype(np.float32)
  out = augment.inception_crop(images, 12, np.random.default_rng(5))
  assert out.shape == (8, 12, 12, 3)
  boxes = augment.inception_boxes(8, 20, 16, np.random.default_rng(5))
  for image, crop, (y, x, h, w) in zip(images, out, boxes):
    expected = augment.resize(image[None, y:y + h, x:x + w], 12, 12)[0]
    assert_close(crop, expected)


def correlated_images(n=200, size=6, seed=0):
  rng = np.random.default_rng(seed)
  base = rng.normal(0, 1, (n, size, size, 1))
  mix = np.array([[40.0, 30.0, 20.0]]) * base + rng.normal(0, [10.0, 15.0, 5.0],
                                                           (n, size, size, 3))
  return np.clip(128 + mix, 0, 255).astype(np.uint8)


def test_colour_pca_is_the_eigen_decomposition_of_the_pixel_covariance():
  images = correlated_images()
  eigvals, eigvecs = augment.colour_pca(images, chunk=37)  # Chunks of uneven size.
  cov = np.cov(images.reshape(-1, 3).T / 255.0)
  expected_vals, expected_vecs = np.linalg.eigh(cov)
  assert_close(eigvals, expected_vals[::-1], rtol=1e-9)
  assert eigvals[0] > eigvals[1] > eigvals[2] > 0
  # Eigenvectors up to sign, and together they rebuild the covariance.
  # Float64 values of order 1 (and the covariance's of order 0.01): these absolute tolerances are
  # far above any LAPACK's rounding, and eigenvectors carry eps * (largest eigenvalue / gap).
  np.testing.assert_allclose(np.abs(eigvecs.T @ expected_vecs[:, ::-1]), np.eye(3), atol=1e-8)
  np.testing.assert_allclose(eigvecs @ np.diag(eigvals) @ eigvecs.T, cov, atol=1e-12)


def test_pca_offsets_have_the_papers_covariance():
  eigvals, eigvecs = augment.colour_pca(correlated_images())
  offsets = augment.pca_offsets(200_000, eigvals, eigvecs, 0.1, np.random.default_rng(0))
  # Offsets along p_i with standard deviation 0.1 * sqrt(lambda_i): 0.1^2 times the pixels'
  # own colour covariance.
  expected = 0.1 ** 2 * eigvecs @ np.diag(eigvals) @ eigvecs.T
  np.testing.assert_allclose(np.cov(offsets.T), expected, rtol=0.02, atol=1e-3 * expected.max())
  np.testing.assert_allclose(offsets.mean(0), 0, atol=3 * 0.1 * np.sqrt(eigvals[0] / 2e5))


def test_pca_noise_adds_one_offset_per_image_and_degenerates_to_intensity_noise_in_grey():
  images = correlated_images()[..., :1]
  eigvals, eigvecs = augment.colour_pca(images)
  assert eigvals.shape == (1,) and abs(eigvecs[0, 0]) == 1.0
  assert_close(eigvals[0], np.var(images / 255.0, ddof=1), rtol=1e-9)
  x = np.zeros((4000, 3, 3, 1), np.float32)
  noisy = augment.pca_noise(x, eigvals, eigvecs, 0.1, np.random.default_rng(0))
  assert (noisy == noisy[:, :1, :1]).all()  # One offset over each whole image.
  assert np.std(noisy[:, 0, 0, 0]) == pytest.approx(0.1 * np.sqrt(eigvals[0]), rel=0.05)


def test_colour_pca_is_cached_and_reused(tmp_path, monkeypatch):
  images = correlated_images(50)
  path = str(tmp_path / "cache" / "colour_pca.npz")
  first = pipeline.colour_pca_cached(images, path)
  monkeypatch.setattr(augment, "colour_pca", lambda *a: pytest.fail("recomputed"))
  second = pipeline.colour_pca_cached(images, path)
  np.testing.assert_array_equal(first[0], second[0])
  np.testing.assert_array_equal(first[1], second[1])
  # Another split under the same name (other shape) is not served the stale statistics.
  monkeypatch.setattr(augment, "colour_pca", lambda *a: ("new", "new"))
  assert pipeline.colour_pca_cached(images[:10], path) == ("new", "new")


def data_config(**overrides):
  data = config_lib.base_config().data
  for k, v in overrides.items():
    data[k] = v
  return data


def uint8_batch(n=6, h=28, w=28, c=1, seed=0):
  rng = np.random.default_rng(seed)
  return {"image": rng.integers(0, 256, (n, h, w, c), dtype=np.uint8),
          "label": np.arange(n, dtype=np.uint8)}


def test_pad_crop_is_the_cifar_recipe():
  data = data_config(random_crop_padding=4, random_flip=True, mean=(0.5,), std=(0.25,))
  batch = uint8_batch()
  out = pipeline.make_preprocess(data, train=True)(batch, np.random.default_rng(3))
  # Normalise, pad with the mean (0 after normalising), crop, flip: in that order, one rng.
  rng = np.random.default_rng(3)
  expected = (batch["image"].astype(np.float32) / 255.0 - 0.5) / 0.25
  expected = augment.random_flip(augment.random_crop(expected, 4, rng), rng)
  # The same elementwise float32 operations in the same order, then crops and flips: exact.
  np.testing.assert_array_equal(out["image"], expected)
  # "none" switches the crop off whatever the padding.
  data.train_crop = "none"
  out = pipeline.make_preprocess(data, train=True)(batch, np.random.default_rng(3))
  plain = (batch["image"].astype(np.float32) / 255.0 - 0.5) / 0.25
  assert all(np.array_equal(o, p) or np.array_equal(o, p[:, ::-1]) for o, p in
             zip(out["image"], plain))


@pytest.mark.parametrize("train_crop", ["random", "scale_jitter", "inception"])
def test_train_crops_give_image_size(train_crop):
  data = data_config(train_crop=train_crop, image_size=24, resize=32, scale_jitter=(24, 40),
                     random_flip=True, pca_noise=0.1)
  prep = pipeline.make_preprocess(data, train=True, colour_pca=(np.array([0.1]),
                                                                np.array([[1.0]])))
  out = prep(uint8_batch(), np.random.default_rng(0))
  assert out["image"].shape == (6, 24, 24, 1) and out["image"].dtype == np.float32


def test_eval_rescales_then_takes_the_centre():
  data = data_config(image_size=32, resize=40)
  batch = uint8_batch()
  out = pipeline.make_preprocess(data, train=False)(batch)["image"]
  full = augment.resize(batch["image"].astype(np.float32) / 255.0, 40, 40)
  assert_close(out, full[:, 4:36, 4:36])
  whole = pipeline.make_preprocess(data, train=False, crop=False, resize=48)(batch)["image"]
  assert whole.shape == (6, 48, 48, 1)


def test_pca_noise_needs_the_statistics():
  with pytest.raises(ValueError, match="colour_pca"):
    pipeline.make_preprocess(data_config(pca_noise=0.1), train=True)


@pytest.mark.parametrize("overrides, message", [
    ({"data.train_crop": "corner"}, "data.train_crop"),
    ({"data.train_crop": "random"}, "needs data.image_size"),
    ({"data.train_crop": "random", "data.image_size": 24, "data.random_crop_padding": 4},
     "random_crop_padding"),
    ({"data.train_crop": "scale_jitter", "data.image_size": 224,
      "data.scale_jitter": (128, 512)}, "S_min"),
    ({"data.pca_noise": -0.1}, "pca_noise"),
    ({"eval_protocol": "five_crop"}, "eval_protocol"),
    ({"eval_protocol": "ten_crop"}, "ten_crop"),
    ({"eval_scales": (256, 0)}, "eval_scales"),
])
def test_invalid_protocol_fields_are_user_errors(overrides, message):
  c = config_lib.base_config()
  for k, v in overrides.items():
    section, _, name = k.rpartition(".")
    (c[section] if section else c)[name] = v
  with pytest.raises(UserError, match=message):
    config_lib.validate(c)


def test_large_images_are_resampled_through_the_band_with_the_dense_values():
  images = np.random.default_rng(0).random((2, 130, 140, 3), np.float32)
  assert 130 * 140 >= augment.BANDED_MIN_PIXELS
  for h, w in ((64, 71), (300, 77), (130, 141)):  # Shrinking, both ways, nearly the same.
    rows, cols = augment.resize_matrix(130, h), augment.resize_matrix(140, w)
    dense = np.matmul(cols, np.matmul(rows, images.reshape(2, 130, 420)).reshape(2 * h, 140, 3))
    assert_close(augment.resize(images, h, w), dense.reshape(2, h, w, 3))


@pytest.mark.parametrize("in_size,out_size", [(350, 256), (400, 293), (130, 300), (77, 77),
                                              (1000, 3)])
def test_resize_band_holds_the_nonzero_entries_of_the_resize_matrix(in_size, out_size):
  spans, band = augment.resize_band(in_size, out_size)
  dense = np.zeros((out_size, in_size), np.float32)
  np.add.at(dense, (np.arange(out_size)[:, None], spans), band)
  # Float64 weights normalised over other spans, each rounded to float32: an ulp apart at most.
  assert_close(dense, augment.resize_matrix(in_size, out_size), rtol=0, ulps=1)
