"""Batched host-side augmentations on float NHWC arrays.

Resizing is separable bilinear interpolation written as two small matrix products per
image (``resize_matrix``): with per-image sizes and crop windows (scale jitter, inception
crops) two numpy matrix products per image are far cheaper than dispatching jax.image.resize on the
host, and it computes the same values (antialiased when shrinking; the tests hold them equal).
Large images (ImageNet's) use only each matrix's band of nonzero weights (``resize_band``).
"""

import functools

import numpy as np

from jaxcnn.errors import UserError


@functools.lru_cache(maxsize=1024)
def resize_matrix(in_size: int, out_size: int) -> np.ndarray:
  """[out_size, in_size] weights of 1-D linear resampling, as jax.image.resize("linear").

  Pixel centres are at half-integers; shrinking widens the triangle kernel by the scale
  factor (antialiasing), and each output's weights are normalised over the pixels inside.
  """
  inv_scale = in_size / out_size
  kernel_scale = max(inv_scale, 1.0)
  sample = (np.arange(out_size) + 0.5) * inv_scale - 0.5
  dist = np.abs(sample[:, None] - np.arange(in_size)[None, :]) / kernel_scale
  weights = np.maximum(0.0, 1.0 - dist)
  weights = (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)
  weights.setflags(write=False)  # Shared through the cache.
  return weights


@functools.lru_cache(maxsize=4096)
def resize_band(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray]:
  """(columns [out_size, K], weights [out_size, K]) of the nonzero entries of each row of
  ``resize_matrix``, computed without the dense matrix: the triangle kernel's support around
  each sample point (zero weights pad the rows near the edges)."""
  inv_scale = in_size / out_size
  kernel_scale = max(inv_scale, 1.0)
  sample = (np.arange(out_size) + 0.5) * inv_scale - 0.5
  # The first pixel closer than kernel_scale to the sample point, and enough after it.
  first = np.maximum(np.floor(sample - kernel_scale).astype(np.int64) + 1, 0)
  spans = first[:, None] + np.arange(int(np.ceil(2 * kernel_scale)) + 1)
  inside = spans < in_size
  weights = np.maximum(0.0, 1.0 - np.abs(sample[:, None] - spans) / kernel_scale) * inside
  band = (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)
  spans = np.where(inside, spans, 0)
  spans.setflags(write=False)
  band.setflags(write=False)
  return spans, band


def resize(images: np.ndarray, height: int, width: int) -> np.ndarray:
  """Bilinearly resizes a batch [N, H, W, C] to [N, height, width, C]."""
  if images.shape[1:3] == (height, width):
    return images
  return _resample(images, (images.shape[1], height, 0, height),
                   (images.shape[2], width, 0, width))


# Images above this many pixels are resampled through the band of each resampling matrix:
# a dense product spends nearly all its work on zero weights once the side is in the hundreds
# (ImageNet-sized images; benchmarks/RESULTS.md has the measurement), while for small images
# (MNIST, CIFAR) the dense product is the faster, and it is what those pipelines have always
# computed.
BANDED_MIN_PIXELS = 128 * 128


def _resample(images: np.ndarray, rows: tuple, cols: tuple) -> np.ndarray:
  """rows @ image @ cols^T per image and channel, for ``rows`` and ``cols`` given as
  (in_size, out_size, start, stop): rows start:stop of resize_matrix(in_size, out_size)."""
  n, h, w, c = images.shape
  if h * w >= BANDED_MIN_PIXELS:
    return _banded(_banded(images, *_band_rows(*rows), axis=1), *_band_rows(*cols), axis=2)
  rows = resize_matrix(*rows[:2])[rows[2]:rows[3]]
  cols = resize_matrix(*cols[:2])[cols[2]:cols[3]]
  y = np.matmul(rows, images.reshape(n, h, w * c)).reshape(n * len(rows), w, c)
  return np.matmul(cols, y).reshape(n, len(rows), len(cols), c)


def _band_rows(in_size: int, out_size: int, start: int, stop: int):
  spans, band = resize_band(in_size, out_size)
  return spans[start:stop], band[start:stop]


def _banded(images: np.ndarray, spans: np.ndarray, band: np.ndarray, axis: int) -> np.ndarray:
  """The resampling whose nonzero weights are ``band`` at ``spans`` ([out, K]) along
  ``axis``: K weighted gathers instead of a product with a mostly-zero matrix."""
  shape = [1] * images.ndim
  shape[axis] = len(spans)
  out = 0.0
  for k in range(spans.shape[1]):
    out = out + band[:, k].reshape(shape) * np.take(images, spans[:, k], axis=axis)
  return out.astype(np.float32)


def shorter_side_shape(height: int, width: int, size: int) -> tuple[int, int]:
  """(H, W) scaled so that the shorter side is ``size``, keeping the aspect ratio."""
  if height <= width:
    return size, max(size, int(round(width * size / height)))
  return max(size, int(round(height * size / width))), size


def resize_shorter(images: np.ndarray, size: int) -> np.ndarray:
  """Rescales a batch so that the shorter image side is ``size`` (the papers' "rescaled to S")."""
  return resize(images, *shorter_side_shape(images.shape[1], images.shape[2], size))


def pad_to(images: np.ndarray, size: int) -> np.ndarray:
  """Zero-pads (or centre-crops) each spatial side to ``size``."""
  for axis in (1, 2):
    n = images.shape[axis]
    if n > size:
      images = np.take(images, np.arange((n - size) // 2, (n - size) // 2 + size), axis=axis)
    elif n < size:
      pads = [(0, 0)] * 4
      pads[axis] = ((size - n) // 2, size - n - (size - n) // 2)
      images = np.pad(images, pads)
  return images


def _gather_windows(images: np.ndarray, dy: np.ndarray, dx: np.ndarray, h: int, w: int):
  rows = dy[:, None] + np.arange(h)[None, :]
  cols = dx[:, None] + np.arange(w)[None, :]
  return images[np.arange(len(images))[:, None, None], rows[:, :, None], cols[:, None, :]]


def random_crop(images: np.ndarray, padding: int, rng: np.random.Generator) -> np.ndarray:
  """Pads by ``padding`` on each side and crops back at a random offset per image."""
  n, h, w, _ = images.shape
  padded = np.pad(images, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
  dy = rng.integers(0, 2 * padding + 1, n)
  dx = rng.integers(0, 2 * padding + 1, n)
  return _gather_windows(padded, dy, dx, h, w)


def _check_fits(height: int, width: int, size: int, what: str) -> None:
  if min(height, width) < size:
    raise UserError(f"The {what} needs images of at least {size}x{size} pixels (the "
                    f"data.image_size crop), but they are {height}x{width}. Raise data.resize "
                    "(or data.scale_jitter) or lower data.image_size.")


def random_window(images: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
  """A ``size`` x ``size`` window at a uniformly random position in each image (AlexNet 4.1)."""
  n, h, w, _ = images.shape
  _check_fits(h, w, size, "random crop")
  return _gather_windows(images, rng.integers(0, h - size + 1, n),
                         rng.integers(0, w - size + 1, n), size, size)


def scale_jitter(images: np.ndarray, size: int, s_min: int, s_max: int,
                 rng: np.random.Generator) -> np.ndarray:
  """VGG Sec. 3.1: each image rescaled so its shorter side is S ~ U{s_min..s_max}, then a
  random ``size`` x ``size`` crop. Only the crop's rows and columns are interpolated."""
  n, h, w, c = images.shape
  _check_fits(s_min, s_min, size, "scale jitter")
  scales = rng.integers(s_min, s_max + 1, n)
  out = np.empty((n, size, size, c), np.float32)
  for i, s in enumerate(scales):
    sh, sw = shorter_side_shape(h, w, int(s))
    y, x = rng.integers(0, sh - size + 1), rng.integers(0, sw - size + 1)
    out[i] = _resample(images[i:i + 1], (h, sh, y, y + size), (w, sw, x, x + size))[0]
  return out


def inception_boxes(n: int, height: int, width: int, rng: np.random.Generator,
                    area=(0.08, 1.0), ratio=(3 / 4, 4 / 3), attempts: int = 10) -> np.ndarray:
  """[n, 4] crop boxes (y, x, h, w) covering a uniform fraction of the area in ``area``,
  with width/height log-uniform in ``ratio`` (GoogLeNet Sec. 6 as commonly read).

  A draw that does not fit is redrawn; after ``attempts`` misses the box is the largest
  centred one whose aspect ratio is within ``ratio``.
  """
  boxes = np.empty((n, 4), np.int64)
  log_ratio = np.log(ratio)
  for i in range(n):
    for _ in range(attempts):
      target = height * width * rng.uniform(*area)
      aspect = np.exp(rng.uniform(*log_ratio))
      w = int(round(np.sqrt(target * aspect)))
      h = int(round(np.sqrt(target / aspect)))
      if 0 < w <= width and 0 < h <= height:
        boxes[i] = rng.integers(0, height - h + 1), rng.integers(0, width - w + 1), h, w
        break
    else:
      aspect = width / height
      if aspect < ratio[0]:
        w, h = width, int(round(width / ratio[0]))
      elif aspect > ratio[1]:
        h, w = height, int(round(height * ratio[1]))
      else:
        h, w = height, width
      boxes[i] = (height - h) // 2, (width - w) // 2, h, w
  return boxes


def inception_crop(images: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
  """A random scale and aspect-ratio crop of each image (``inception_boxes``), resized to
  ``size`` x ``size``."""
  n, height, width, c = images.shape
  out = np.empty((n, size, size, c), np.float32)
  for i, (y, x, h, w) in enumerate(inception_boxes(n, height, width, rng)):
    out[i] = _resample(images[i:i + 1, y:y + h, x:x + w], (int(h), size, 0, size),
                       (int(w), size, 0, size))[0]
  return out


def random_flip(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
  flip = rng.random(images.shape[0]) < 0.5
  return np.where(flip[:, None, None, None], images[:, :, ::-1], images)


def colour_pca(images: np.ndarray, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
  """(eigenvalues [C], eigenvectors [C, C] as columns) of the covariance of the pixel
  values of uint8 images [N, H, W, C] scaled to [0, 1], largest eigenvalue first.

  Sums are accumulated in float64 over chunks, so that a whole training split fits.
  """
  return colour_pca_of_chunks(images[start:start + chunk]
                              for start in range(0, len(images), chunk))


def colour_pca_of_chunks(chunks) -> tuple[np.ndarray, np.ndarray]:
  """``colour_pca`` of the images of all ``chunks`` together, each [n, H, W, C] with pixel
  values on the 0-255 scale (uint8 or float); the chunks may differ in H and W."""
  total, outer, count = 0.0, 0.0, 0
  for images in chunks:
    pixels = images.reshape(-1, images.shape[-1]).astype(np.float64) / 255.0
    total = total + pixels.sum(0)
    outer = outer + pixels.T @ pixels
    count += len(pixels)
  mean = total / count
  cov = (outer - count * np.outer(mean, mean)) / (count - 1)
  eigvals, eigvecs = np.linalg.eigh(cov)
  order = np.argsort(eigvals)[::-1]
  return eigvals[order], eigvecs[:, order]


def pca_offsets(n: int, eigvals: np.ndarray, eigvecs: np.ndarray, std: float,
                rng: np.random.Generator) -> np.ndarray:
  """[n, C] colour offsets sum_i alpha_i lambda_i p_i, alpha_i ~ N(0, std^2) per image
  (AlexNet Sec. 4.1), with p_i the eigenvectors of ``colour_pca``.

  lambda_i is taken as the standard deviation along p_i (the square root of the covariance
  eigenvalue), as the widely used reimplementations do: read literally as the eigenvalue,
  the offset would depend on the pixel scale (0-1 or 0-255) and, on a 0-1 scale, be a few
  grey levels at std 0.1.
  """
  alpha = rng.normal(0.0, std, (n, len(eigvals)))
  return (alpha * np.sqrt(np.maximum(eigvals, 0.0))) @ eigvecs.T


def pca_noise(images: np.ndarray, eigvals: np.ndarray, eigvecs: np.ndarray, std: float,
              rng: np.random.Generator) -> np.ndarray:
  """Adds one ``pca_offsets`` colour offset to every pixel of each image."""
  offsets = pca_offsets(len(images), eigvals, eigvecs, std, rng).astype(np.float32)
  return images + offsets[:, None, None, :]
