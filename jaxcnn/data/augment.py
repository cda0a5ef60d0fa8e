"""Batched host-side augmentations on float NHWC arrays."""

import numpy as np


def pad_to(images: np.ndarray, size: int) -> np.ndarray:
  """Zero-pads (or centre-crops) square images to ``size`` x ``size``."""
  h = images.shape[1]
  if h > size:
    start = (h - size) // 2
    return images[:, start:start + size, start:start + size]
  before = (size - h) // 2
  after = size - h - before
  return np.pad(images, ((0, 0), (before, after), (before, after), (0, 0)))


def random_crop(images: np.ndarray, padding: int, rng: np.random.Generator) -> np.ndarray:
  """Pads by ``padding`` on each side and crops back at a random offset per image."""
  n, h, w, _ = images.shape
  padded = np.pad(images, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
  dy = rng.integers(0, 2 * padding + 1, n)
  dx = rng.integers(0, 2 * padding + 1, n)
  rows = dy[:, None] + np.arange(h)[None, :]
  cols = dx[:, None] + np.arange(w)[None, :]
  return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]


def random_flip(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
  flip = rng.random(images.shape[0]) < 0.5
  return np.where(flip[:, None, None, None], images[:, :, ::-1], images)
