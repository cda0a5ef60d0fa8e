"""The papers' transforms in TensorFlow, on one example, for the streamed pipeline (stream.py).

Each is ``augment``'s numpy transform with the same windows and the same filter: TF's
ScaleAndTranslate with the triangle kernel and antialiasing is ``augment.resize_matrix``'s
resampling (pixel centres at half-integers, the kernel widened by the scale when shrinking,
weights normalised over the pixels inside). A transform is two parts:

  draw     the random choices of one example (scale S, window, box, flip, colour alphas),
           stateless: a function of the image's size and the example's key alone;
  render   the decoded pixels those choices ask for, resampled, noised and normalised.

Only the pixels a window needs are decoded: a JPEG through tf.image.decode_and_crop_jpeg (the
source rows and columns of the window plus the filter's reach), a PNG whole and then cut. The
decoded pixels are PIL's (the same inverse DCT), so the two paths differ only in resampling.

Every output is a window of the image rescaled to (sh, sw) (no rescaling: sh, sw = h, w),
zero-padded where the window leaves it (``augment.pad_to``); "inception" then resizes its box
to the crop side, as ``augment.inception_crop`` does.
"""

import math

import tensorflow as tf

from jaxcnn.data.pipeline import Spec

# Marks the failures of a data check inside the graph (stream.py turns them into UserError).
CHECK = "jaxcnn data check: "
_PHILOX = "philox"


class Encoded:
  """A JPEG or PNG image not yet decoded: its size from the header, any window decoded alone."""

  def __init__(self, data: tf.Tensor, channels: int):
    self.data, self.channels = data, channels
    self.is_jpeg = tf.equal(tf.strings.substr(data, 0, 3), b"\xff\xd8\xff")
    # Read from the header here, outside any branch, so that every use shares it.
    self._shape = self._read_shape()

  def shape(self) -> tf.Tensor:
    """(height, width), int32."""
    return self._shape

  def _read_shape(self) -> tf.Tensor:
    def png():  # The IHDR chunk: width, then height, big-endian, at bytes 16-23.
      b = tf.cast(tf.io.decode_raw(tf.strings.substr(self.data, 16, 8), tf.uint8), tf.int32)
      sides = b[0::4] * 2 ** 24 + b[1::4] * 2 ** 16 + b[2::4] * 2 ** 8 + b[3::4]
      return tf.stack([sides[1], sides[0]])
    return tf.cond(self.is_jpeg, lambda: tf.image.extract_jpeg_shape(self.data)[:2], png)

  def window(self, y, x, h, w) -> tf.Tensor:
    """uint8 [h, w, channels]: rows y..y+h, columns x..x+w."""
    def jpeg():
      # One more pixel each side: libjpeg upsamples the colour of a crop's edge columns from
      # the crop alone; with the margin the window holds the whole image's decoded values.
      # INTEGER_ACCURATE is the inverse DCT that PIL (and so TFDS and predict) uses.
      full = self.shape()
      y0, x0 = tf.maximum(y - 1, 0), tf.maximum(x - 1, 0)
      y1, x1 = tf.minimum(y + h + 1, full[0]), tf.minimum(x + w + 1, full[1])
      out = tf.image.decode_and_crop_jpeg(self.data, tf.stack([y0, x0, y1 - y0, x1 - x0]),
                                          channels=self.channels,
                                          dct_method="INTEGER_ACCURATE")
      return out[y - y0:y - y0 + h, x - x0:x - x0 + w]

    def png():
      return tf.io.decode_png(self.data, channels=self.channels)[y:y + h, x:x + w]
    out = tf.cond(self.is_jpeg, jpeg, png)
    return tf.ensure_shape(out, [None, None, self.channels])


class Decoded:
  """An image already decoded (a TFDS Tensor feature)."""

  def __init__(self, pixels: tf.Tensor):
    self.pixels = pixels
    self.channels = pixels.shape[-1]

  def shape(self) -> tf.Tensor:
    return tf.shape(self.pixels)[:2]

  def window(self, y, x, h, w) -> tf.Tensor:
    return self.pixels[y:y + h, x:x + w]


def decoded(image):
  """``image`` decoded whole, once (a Decoded image stays as it is): for views that each read
  all of it (evaluation at several scales)."""
  if isinstance(image, Decoded):
    return image
  shape = image.shape()
  return Decoded(image.window(0, 0, shape[0], shape[1]))


def squares(pixels: tf.Tensor, side: int, count: int) -> tf.Tensor:
  """[count, side, side, C]: ``evaluate.square_offsets``'s squares of ``pixels`` [h, w, C] (an
  image whose shorter side is ``side``): along its longer side the first, central and last
  (count 3), or the central one (count 1)."""
  shape = tf.shape(pixels)
  h, w = shape[0], shape[1]
  along = tf.maximum(h, w) - side
  positions = [along // 2] if count == 1 else [0, along // 2, along]

  def cut(p):
    out = tf.cond(h <= w, lambda: pixels[:side, p:p + side], lambda: pixels[p:p + side, :side])
    return tf.ensure_shape(out, [side, side, pixels.shape[-1]])
  return tf.stack([cut(p) for p in positions])


def shorter_side_shape(h, w, size):
  """``augment.shorter_side_shape`` in the graph (float64, round half to even, as Python)."""
  h64, w64, s64 = (tf.cast(v, tf.float64) for v in (h, w, size))
  size = tf.cast(size, tf.int32)
  long_h = tf.maximum(size, tf.cast(tf.round(h64 * s64 / w64), tf.int32))
  long_w = tf.maximum(size, tf.cast(tf.round(w64 * s64 / h64), tf.int32))
  return tf.where(h <= w, size, long_h), tf.where(h <= w, long_w, size)


def _centred(n, size):
  """``augment.pad_to``'s offset of a ``size`` window in ``n`` (negative: padding before)."""
  return tf.where(n >= size, (n - size) // 2, -((size - n) // 2))


def _uniform_int(u, low, high):
  """An integer uniform in [low, high] (inclusive), from ``u`` uniform in [0, 1) (float64)."""
  low, high = tf.cast(low, tf.int32), tf.cast(high, tf.int32)
  n = tf.cast(high - low + 1, tf.float64)
  return tf.minimum(low + tf.cast(tf.floor(u * n), tf.int32), high)


def _key(key, data):
  """A new key from ``key`` and an integer; 64-bit throughout (fold_in keeps data's width, and
  32-bit keys would repeat within a long run)."""
  return tf.random.experimental.stateless_fold_in(tf.cast(key, tf.int64),
                                                  tf.cast(data, tf.int64), alg=_PHILOX)


def example_key(seed, step, position):
  """The key of the example at ``position`` of global batch ``step`` of a run of ``seed``."""
  key = tf.stack([tf.cast(seed, tf.int64), tf.constant(0, tf.int64)])
  return _key(_key(key, step), position)


def inception_box(h, w, key, area=(0.08, 1.0), ratio=(3 / 4, 4 / 3), attempts: int = 10):
  """``augment.inception_boxes`` for one image: (y, x, bh, bw), int32. Every number it draws
  comes from one call of the generator (each call is several graph ops per example)."""
  h64, w64 = tf.cast(h, tf.float64), tf.cast(w, tf.float64)
  u = tf.random.stateless_uniform([2 * attempts + 2], key, dtype=tf.float64, alg=_PHILOX)
  target = h64 * w64 * (area[0] + (area[1] - area[0]) * u[:attempts])
  log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
  aspect = tf.exp(log_ratio[0] + (log_ratio[1] - log_ratio[0]) * u[attempts:2 * attempts])
  bw = tf.cast(tf.round(tf.sqrt(target * aspect)), tf.int32)
  bh = tf.cast(tf.round(tf.sqrt(target / aspect)), tf.int32)
  fits = (bw > 0) & (bw <= w) & (bh > 0) & (bh <= h)
  first = tf.argmax(tf.cast(fits, tf.int32), output_type=tf.int32)
  dh, dw = bh[first], bw[first]
  # (Drawn whether or not a box fits, so kept in range when none does.)
  y = _uniform_int(u[2 * attempts], 0, tf.maximum(h - dh, 0))
  x = _uniform_int(u[2 * attempts + 1], 0, tf.maximum(w - dw, 0))
  # No draw fits: the largest centred box whose aspect ratio is within ``ratio``.
  image_aspect = w64 / h64
  fh = tf.where(image_aspect < ratio[0], tf.cast(tf.round(w64 / ratio[0]), tf.int32), h)
  fw = tf.where(image_aspect > ratio[1], tf.cast(tf.round(h64 * ratio[1]), tf.int32), w)
  fallback = tf.stack([(h - fh) // 2, (w - fw) // 2, fh, fw])
  return tf.where(tf.reduce_any(fits), tf.stack([y, x, dh, dw]), fallback)


def _check_fits(sh, sw, size, what):
  return tf.debugging.assert_greater_equal(
      tf.minimum(sh, sw), size, message=(
          f"{CHECK}the {what} needs images of at least {size}x{size} pixels (the "
          "data.image_size crop), but one is smaller. Raise data.resize (or data.scale_jitter) "
          "or lower data.image_size."))


def draw(spec: Spec, h, w, channels: int, key=None) -> dict:
  """The choices for an image of h x w: the size (sh, sw) it is rescaled to, the window
  (top, left, out_h, out_w) of the rescaled image, and in training the flip, the colour
  alphas (one per channel) and the pad-and-crop shift. Evaluation (``key`` None) draws
  nothing."""
  h, w = tf.cast(h, tf.int32), tf.cast(w, tf.int32)
  size = spec.size
  crop = spec.train_crop
  # The uniform draws of training, one call of the generator: scale, window top and left,
  # pad-and-crop shift (two), flip.
  u = (tf.random.stateless_uniform([6], key, dtype=tf.float64, alg=_PHILOX)
       if key is not None else None)
  if crop == "scale_jitter":
    s = _uniform_int(u[0], *spec.scale_jitter)
    sh, sw = shorter_side_shape(h, w, s)
  elif spec.resize:
    sh, sw = shorter_side_shape(h, w, spec.resize)
  else:
    sh, sw = h, w
  out = {"scaled": tf.stack([sh, sw])}
  if crop in ("random", "scale_jitter"):
    # The draws below read sh and sw only after the check, whose message is the clearer one.
    with tf.control_dependencies([_check_fits(sh, sw, size, {
        "random": "random crop", "scale_jitter": "scale jitter"}[crop])]):
      sh, sw = tf.identity(sh), tf.identity(sw)
    window = [_uniform_int(u[1], 0, sh - size), _uniform_int(u[2], 0, sw - size), size, size]
  elif crop == "inception":
    window = tf.unstack(inception_box(sh, sw, _key(key, 3)))
  elif spec.crop and size:
    window = [_centred(sh, size), _centred(sw, size), size, size]
  elif not spec.crop and spec.square:
    side = tf.minimum(sh, sw)
    window = [_centred(sh, side), _centred(sw, side), side, side]
  else:
    window = [0, 0, sh, sw]
  out["window"] = tf.stack([tf.cast(v, tf.int32) for v in window])
  if spec.train:
    if spec.pca_std:
      out["alpha"] = tf.random.stateless_normal([channels], _key(key, 4), stddev=spec.pca_std,
                                                dtype=tf.float64, alg=_PHILOX)
    if crop == "pad" and spec.padding:
      out["shift"] = tf.stack([_uniform_int(u[3], 0, 2 * spec.padding),
                               _uniform_int(u[4], 0, 2 * spec.padding)])
    if spec.flip:
      out["flip"] = u[5] < 0.5
  return out


def _source_span(t0, t1, scale, n):
  """The source pixels [a, b) whose weights reach the outputs [t0, t1) of resampling ``n``
  pixels by ``scale`` (float64): the outputs' sample points and the kernel's reach."""
  reach = tf.maximum(1.0 / scale, 1.0)
  first = (tf.cast(t0, tf.float64) + 0.5) / scale - 0.5 - reach
  last = (tf.cast(t1, tf.float64) - 0.5) / scale - 0.5 + reach
  a = tf.clip_by_value(tf.cast(tf.floor(first), tf.int32), 0, n - 1)
  b = tf.clip_by_value(tf.cast(tf.math.ceil(last), tf.int32) + 1, a + 1, n)
  return a, b


def _resample_rows(rows, out_n, scale, translation):
  """[n, m] -> float32 [out_n, m]: ``rows`` resampled along their first axis (each of the m
  columns alike)."""
  shape = tf.shape(rows)
  out = tf.raw_ops.ScaleAndTranslate(
      images=tf.reshape(rows, [1, shape[0], 1, shape[1]]), size=tf.stack([out_n, 1]),
      scale=tf.stack([scale, 1.0]), translation=tf.stack([translation, 0.0]),
      kernel_type="triangle", antialias=True)
  return tf.reshape(out, [out_n, shape[1]])


def resample_region(region, size, scale, translation) -> tf.Tensor:
  """[h, w, C] (uint8 or float) -> float32 [size[0], size[1], C]: ScaleAndTranslate with the
  triangle kernel and antialiasing (``scale``, ``translation``: float32 [2], (y, x)).

  The same op, called once per axis with the resampled axis outermost and everything else
  as the "channels" of a one-pixel-wide image: its pass over rows is a vectorised
  multiply-add of whole rows, where its pass over columns works pixel by pixel, so laid out
  this way both axes take the fast pass, and the result is bit for bit the one-call result
  (each output is the same weighted sum, in the same order), in 0.38-0.52 ms against
  0.89-1.33 ms for a 224x224x3 output (``python benchmarks/resample_ops.py``)."""
  shape = tf.shape(region)
  h, w, c = shape[0], shape[1], shape[2]
  # Rows first, as the one call does (the same intermediate sums, so the same result).
  rows = _resample_rows(tf.reshape(region, [h, w * c]), size[0], scale[0], translation[0])
  columns = tf.reshape(tf.transpose(tf.reshape(rows, [size[0], w, c]), [1, 0, 2]),
                       [w, size[0] * c])
  columns = _resample_rows(columns, size[1], scale[1], translation[1])  # [out_w, out_h * C]
  return tf.transpose(tf.reshape(columns, [size[1], size[0], region.shape[-1] or c]),
                      [1, 0, 2])


def rescaled_window(image, h, w, scaled, window, rescaled: bool = True) -> tf.Tensor:
  """[out_h, out_w, C] in [0, 255] (as decoded): the window (top, left, out_h, out_w) of the
  image rescaled to ``scaled`` (sh, sw), zero where the window leaves the image. float32,
  except when ``rescaled`` is False (the caller knows sh, sw = h, w): then the decoded uint8
  window, not cast (the cast is one more pass over it)."""
  sh, sw = scaled[0], scaled[1]
  top, left, oh, ow = window[0], window[1], window[2], window[3]
  t0, t1 = tf.clip_by_value(top, 0, sh), tf.clip_by_value(top + oh, 0, sh)
  l0, l1 = tf.clip_by_value(left, 0, sw), tf.clip_by_value(left + ow, 0, sw)

  def cut():
    return image.window(t0, l0, t1 - t0, l1 - l0)

  def resample():
    sy = tf.cast(sh, tf.float64) / tf.cast(h, tf.float64)
    sx = tf.cast(sw, tf.float64) / tf.cast(w, tf.float64)
    y0, y1 = _source_span(t0, t1, sy, h)
    x0, x1 = _source_span(l0, l1, sx, w)
    # From the decoded uint8 pixels: the resampler reads them as fast as float32, and a cast
    # first would be one more pass over the region.
    region = image.window(y0, x0, y1 - y0, x1 - x0)
    # Output t (0-based in the window) samples the region at (t + 0.5 - T) / s - 0.5, which
    # is the rescaled image's row t0 + t when T = y0 * s - t0.
    translation = tf.cast(tf.stack([tf.cast(y0, tf.float64) * sy - tf.cast(t0, tf.float64),
                                    tf.cast(x0, tf.float64) * sx - tf.cast(l0, tf.float64)]),
                          tf.float32)
    return resample_region(region, tf.stack([t1 - t0, l1 - l0]),
                           tf.cast(tf.stack([sy, sx]), tf.float32), translation)

  if not rescaled:
    pixels = cut()
  else:
    pixels = tf.cond((sh == h) & (sw == w), lambda: tf.cast(cut(), tf.float32), resample)
  return tf.pad(pixels, [[t0 - top, top + oh - t1], [l0 - left, left + ow - l1], [0, 0]])


def resize_square(pixels: tf.Tensor, size: int) -> tf.Tensor:
  """[h, w, C] (uint8 or float) -> float32 [size, size, C] (``augment.resize``)."""
  shape = tf.shape(pixels)
  scale = tf.cast(size / shape[:2], tf.float32)

  def antialiased():
    return resample_region(pixels, tf.constant([size, size]), scale, tf.zeros([2]))

  # Enlarging, the triangle kernel keeps its width and is bilinear interpolation at the
  # half-pixel centres, edges included (a sample before the first pixel takes the first
  # pixel's value either way), which TF's bilinear resize computes in half the time.
  def bilinear():
    return tf.image.resize(pixels, [size, size], method="bilinear", antialias=False)

  return tf.cond(tf.reduce_all(scale >= 1.0), bilinear, antialiased)


def _per_channel_affine(pixels, scale, shift):
  """pixels [h, w, C] * scale [C] + shift [C], as rows of w * C values times a row of the
  factors (broadcasting a [C] vector over [h, w, C] runs at a third of the speed)."""
  shape = tf.shape(pixels)
  scale, shift = (tf.broadcast_to(v, shape[2:]) for v in (scale, shift))  # One per channel.
  rows = tf.reshape(pixels, [shape[0], -1])
  rows = rows * tf.tile(scale, [shape[1]]) + tf.tile(shift, [shape[1]])
  return tf.reshape(rows, shape)


def render(spec: Spec, image, h, w, choices: dict, colour_pca=None) -> tf.Tensor:
  """The float32 image that ``choices`` (``draw``) make of ``image`` (Encoded or Decoded).

  Each pass over the pixels costs about as much as the resampling, so the scaling to [0, 1],
  the colour noise and the normalisation are one multiply and one add per value (the
  per-channel factors computed first), and the flip reverses in place of a strided copy."""
  # Without scale jitter or data.resize the image keeps its size (``draw``), known here.
  rescaled = spec.train_crop == "scale_jitter" or bool(spec.resize)
  pixels = rescaled_window(image, h, w, choices["scaled"], choices["window"], rescaled)
  if spec.train_crop == "inception":
    pixels = resize_square(pixels, spec.size)  # From uint8 where the window was only cut.
  pixels = tf.cast(pixels, tf.float32)
  # ((p / 255 + offset) - mean) / std = p * (1 / (255 std)) + (offset - mean) / std.
  offsets = tf.zeros([len(spec.mean)], tf.float32)
  if "alpha" in choices:
    eigvals, eigvecs = colour_pca
    offsets = tf.cast(tf.linalg.matvec(
        tf.constant(eigvecs, tf.float64),
        choices["alpha"] * tf.sqrt(tf.maximum(tf.constant(eigvals, tf.float64), 0.0))),
        tf.float32)
  std = tf.constant(spec.std, tf.float32)
  pixels = _per_channel_affine(pixels, 1.0 / (255.0 * std),
                               (offsets - tf.constant(spec.mean, tf.float32)) / std)
  if "shift" in choices:
    p = spec.padding
    padded = tf.pad(pixels, [[p, p], [p, p], [0, 0]])
    shape = tf.shape(pixels)
    dy, dx = choices["shift"][0], choices["shift"][1]
    pixels = padded[dy:dy + shape[0], dx:dx + shape[1]]
  if "flip" in choices:
    pixels = tf.cond(choices["flip"], lambda: tf.reverse(pixels, [1]), lambda: pixels)
  return pixels


def apply(spec: Spec, image, key=None, colour_pca=None) -> tf.Tensor:
  """``render`` of ``draw`` for ``image``: the preprocessed example."""
  shape = image.shape()
  h, w = shape[0], shape[1]
  return render(spec, image, h, w, draw(spec, h, w, image.channels, key), colour_pca)
