"""Evaluation protocols: centre crop, AlexNet's 10 crops, VGG's dense multi-scale evaluation.

Each protocol is a host preprocessing (``jaxcnn.data.pipeline``) and a pure step
``(state, batch) -> masked sums`` that the loop jit-compiles with the batch sharded along
'data', as ``steps.eval_step``. Multi-view protocols average softmax probabilities over the
views and score the average: the loss is the negative log of the averaged probability.

  center    one data.image_size crop from the middle of the (rescaled) image.
  ten_crop  AlexNet Sec. 4.1: the four corner crops and the centre crop of the rescaled image
            and their horizontal mirrors; the views are cut on the device, one at a time
            (lax.scan), so one compiled network serves all ten.
  dense     VGG Sec. 3.2: the whole image rescaled to each Q of eval_scales goes through the
            fully-convolutional form of the network; its class score map is averaged over space
            (inside the model), and the softmax averaged over scales and mirrors. Each scale is a
            separately compiled shape.

  multi_crop GoogLeNet Sec. 6: the shorter side rescaled to each of multi_crop.scales; 3 squares
            of that side along the longer one; from each its four corner and its centre
            data.image_size crops and the square resized to that size; and their mirrors:
            4 x 3 x 6 x 2 = 144 views. The squares travel to the device, which cuts the views.

Images of varying size (a streamed dataset such as imagenet2012) cannot share a batch whole:
ten_crop takes the central square of each rescaled image (AlexNet's own 256x256 images);
dense evaluates each image whole at its own shape (``Protocol.per_image``: jaxcnn.inference
groups images by shape, outside the sharded step).
"""

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from ml_collections import ConfigDict

from jaxcnn import sharding
from jaxcnn import steps
from jaxcnn.data import augment
from jaxcnn.data import pipeline
from jaxcnn.errors import UserError
from jaxcnn.models import googlenet
from jaxcnn.models import nin
from jaxcnn.models import resnet

PROTOCOLS = ("center", "ten_crop", "dense", "multi_crop")


def metric_sums(log_probs: jax.Array, labels: jax.Array, mask: jax.Array) -> dict:
  """steps.eval_step's masked sums, from (log) class probabilities."""
  loss = -jnp.take_along_axis(log_probs, labels[:, None], axis=-1)[:, 0]
  k = min(5, log_probs.shape[-1])
  _, top = jax.lax.top_k(log_probs, k)
  top1 = top[:, 0] == labels
  top5 = jnp.any(top == labels[:, None], axis=-1)
  return {"loss": jnp.sum(loss * mask), "top1": jnp.sum(top1 * mask),
          "top5": jnp.sum(top5 * mask), "count": jnp.sum(mask)}


def ten_crop_offsets(height: int, width: int, size: int) -> np.ndarray:
  """[10, 3] (top, left, mirrored) of the corner crops, the centre crop, then their mirrors."""
  if min(height, width) < size:
    raise UserError(f"10-crop evaluation cuts {size}x{size} crops (data.image_size) from "
                    f"{height}x{width} images; raise data.resize to at least {size}.")
  bottom, right = height - size, width - size
  views = [(0, 0), (0, right), (bottom, 0), (bottom, right), (bottom // 2, right // 2)]
  return np.array([(y, x, m) for m in (0, 1) for y, x in views], np.int32)


def crop_view(images: jax.Array, offset: jax.Array, size: int) -> jax.Array:
  """The ``size`` x ``size`` window at (offset[0], offset[1]), mirrored when offset[2] is 1."""
  n, _, _, c = images.shape
  view = jax.lax.dynamic_slice(images, (0, offset[0], offset[1], 0), (n, size, size, c))
  return jnp.where(offset[2] == 1, view[:, :, ::-1], view)


def _mean_softmax(apply: Callable, view: Callable, keys: jax.Array) -> jax.Array:
  """Mean over ``keys`` of softmax(apply(view(key))), one compiled network for all views."""
  shape = jax.eval_shape(lambda: apply(view(keys[0])))

  def add(total, key):
    return total + jax.nn.softmax(apply(view(key)).astype(jnp.float32)), None

  total, _ = jax.lax.scan(add, jnp.zeros(shape.shape, jnp.float32), keys)
  return total / len(keys)


def ten_crop_probabilities(apply: Callable, images: jax.Array, size: int) -> jax.Array:
  """Mean softmax of ``apply`` (images -> logits) over the 10 views of each image."""
  offsets = jnp.asarray(ten_crop_offsets(images.shape[1], images.shape[2], size))
  return _mean_softmax(apply, lambda offset: crop_view(images, offset, size), offsets)


def square_offsets(height: int, width: int, side: int, squares: int) -> list[tuple[int, int]]:
  """(top, left) of the ``side`` x ``side`` squares of a height x width image: along its longer
  side the first (left or top), the central and the last (right or bottom), or (squares=1)
  the central one."""
  along = max(height, width) - side
  positions = [along // 2] if squares == 1 else [0, along // 2, along]
  return [(0, p) if height <= width else (p, 0) for p in positions]


def square_crops(side: int, size: int, crops: int) -> list[tuple[int, int, bool]]:
  """(top, left, resized) of the views of one ``side`` square: the four corner crops and the
  centre crop of ``size`` (crops=1: the centre only), then (crops=6) the square resized."""
  far, mid = side - size, (side - size) // 2
  views = [(mid, mid, False)] if crops == 1 else \
      [(0, 0, False), (0, far, False), (far, 0, False), (far, far, False), (mid, mid, False)]
  return views + [(0, 0, True)] * (crops == 6)


def multi_crop_views(height: int, width: int, size: int, multi) -> list[tuple]:
  """GoogLeNet's views of a height x width image (``multi``: config.multi_crop), in the order
  they are averaged, as (scale, top, left, side, mirrored) boxes in the image rescaled to that
  scale; a box of side ``size`` is a crop, a larger one a square resized to ``size``."""
  out = []
  for scale in multi.scales:
    h, w = augment.shorter_side_shape(height, width, scale)
    for y, x in square_offsets(h, w, scale, multi.squares):
      for dy, dx, resized in square_crops(scale, size, multi.crops):
        for mirrored in (False, True)[:1 + bool(multi.mirrors)]:
          out.append((scale, y + dy, x + dx, scale if resized else size, mirrored))
  return out


def squares_of(images: np.ndarray, side: int, squares: int) -> np.ndarray:
  """[N, squares, side, side, C]: ``square_offsets`` cut from images of one shape."""
  offsets = square_offsets(images.shape[1], images.shape[2], side, squares)
  return np.stack([images[:, y:y + side, x:x + side] for y, x in offsets], axis=1)


def multi_crop_keys(side: int, size: int, multi) -> np.ndarray:
  """[V, 5] (square, top, left, resized, mirrored) of each view of one scale's squares."""
  return np.array([(i, y, x, resized, mirrored) for i in range(multi.squares)
                   for y, x, resized in square_crops(side, size, multi.crops)
                   for mirrored in (0, 1)[:1 + bool(multi.mirrors)]], np.int32)


def multi_crop_probabilities(apply: Callable, images_per_scale, keys_per_scale,
                             size: int) -> jax.Array:
  """Mean softmax of ``apply`` over the views of every scale: ``images_per_scale`` holds, per
  scale, (squares [N, S, side, side, C],) or (squares, the squares resized [N, S, size, size,
  C]); ``keys_per_scale`` their ``multi_crop_keys``."""
  total, count = 0.0, 0
  for arrays, keys in zip(images_per_scale, keys_per_scale):
    squares, resized = arrays[0], (arrays[1] if len(arrays) > 1 else None)
    n, _, _, _, c = squares.shape

    def view(key, squares=squares, resized=resized, n=n, c=c):
      square = jax.lax.dynamic_index_in_dim(squares, key[0], axis=1, keepdims=False)
      crop = jax.lax.dynamic_slice(square, (0, key[1], key[2], 0), (n, size, size, c))
      if resized is not None:
        whole = jax.lax.dynamic_index_in_dim(resized, key[0], axis=1, keepdims=False)
        crop = jnp.where(key[3] == 1, whole, crop)
      return jnp.where(key[4] == 1, crop[:, :, ::-1], crop)

    total = total + _mean_softmax(apply, view, jnp.asarray(keys)) * len(keys)
    count += len(keys)
  return total / count


def dense_probabilities(apply: Callable, images_per_scale) -> jax.Array:
  """Mean softmax of ``apply`` (images -> logits, any size) over scales and mirrors."""
  mirrors = jnp.arange(2)
  total = 0.0
  for images in images_per_scale:
    view = lambda m, x=images: jnp.where(m == 1, x[:, :, ::-1], x)
    total = total + _mean_softmax(apply, view, mirrors)
  return total / len(images_per_scale)


def dense_model(model):
  """The network in a form that takes any image at least its training size and averages its
  class scores over space, with the same parameters, or None if it has none.

  VGG's ``fully_convolutional`` form turns the FC layers into convs (Sec. 3.2). Networks
  ending in global average pooling and a linear classifier (ResNet, NiN, GoogLeNet with
  head="gap") already are that form: the mean of a linear map is the linear map of the mean.
  """
  if "fully_convolutional" in getattr(type(model), "__dataclass_fields__", {}):
    return model.clone(fully_convolutional=True)
  if isinstance(model, resnet.ResNet):
    return model
  if isinstance(model, (nin.NiN, googlenet.GoogLeNet)) and model.head == "gap":
    return model
  return None


def _variables(state):
  if state.batch_stats:
    return {"params": state.params, "batch_stats": state.batch_stats}
  return {"params": state.params}


def _log(probs):
  # Averaged probabilities may underflow to 0 where a single softmax's log would not.
  return jnp.log(jnp.maximum(probs, jnp.finfo(jnp.float32).tiny))


@dataclasses.dataclass(frozen=True)
class Protocol:
  """A protocol's host preprocessing (batch -> batch), pure step ((state, batch) -> sums) and
  class probabilities ((variables, preprocessed images) -> [N, classes]) for prediction.
  ``per_image``: preprocessed images keep shapes of their own and are evaluated grouped by
  shape (jaxcnn.inference), not in the loop's batches."""
  name: str
  preprocess: Callable
  step: Callable
  probabilities: Callable
  per_image: bool = False


def variables_of(state) -> dict:
  """A train state's variables, as model.apply takes them."""
  return _variables(state)


def rescales(config: ConfigDict) -> bool:
  """Whether the evaluation rescales images (so takes them at any size): data.resize, or the
  scales of dense and multi-crop evaluation."""
  return bool(config.data.resize) or config.eval_protocol in ("dense", "multi_crop")


def over_split(exp, state, source, prefix: str, *, count: bool = True) -> dict[str, float]:
  """Mean loss, top-1 and top-5 of ``exp``'s (a train.Experiment) protocol over every example
  of ``source``, named ``prefix + "top1"`` and so on, and the example count."""
  totals = None
  for batch in pipeline.eval_batches(
      source, exp.config.eval_batch_size, process_index=exp.process_index,
      process_count=exp.process_count, preprocess=exp.eval_protocol.preprocess,
      workers=exp.config.data.workers):
    out = exp.eval_step(state, sharding.to_global(batch, exp.mesh))
    totals = out if totals is None else jax.tree.map(jnp.add, totals, out)
  totals = jax.device_get(totals)
  n = float(totals["count"])
  result = {prefix + k: float(totals[k]) / n for k in ("loss", "top1", "top5")}
  return {**result, prefix + "count": n} if count else result


def make_protocol(config: ConfigDict, model, *, varying_size: bool = False) -> Protocol:
  """The evaluation protocol that ``config.eval_protocol`` names, for ``model``;
  ``varying_size`` for images of different sizes (see above)."""
  data = config.data
  if config.eval_protocol == "center":
    def center_probabilities(variables, images):
      return jax.nn.softmax(model.apply(variables, images, train=False).astype(jnp.float32))

    return Protocol("center", pipeline.make_preprocess(data, train=False), steps.eval_step,
                    center_probabilities)

  if config.eval_protocol == "ten_crop":
    size = data.image_size

    def probabilities(variables, images):
      return ten_crop_probabilities(lambda x: model.apply(variables, x, train=False), images,
                                    size)

    def ten_crop_step(state, batch):
      probs = probabilities(_variables(state), batch["image"])
      return metric_sums(_log(probs), batch["label"], batch["mask"])

    if varying_size and not data.resize:
      raise UserError("eval_protocol='ten_crop' on images of varying size needs data.resize "
                      "(the side of the square the crops are cut from, e.g. 256).")
    return Protocol("ten_crop", pipeline.make_preprocess(data, train=False, crop=False,
                                                         square=varying_size),
                    ten_crop_step, probabilities)

  if config.eval_protocol == "dense":
    dense = dense_model(model)
    if dense is None:
      raise UserError(
          f"eval_protocol='dense' needs a network with a fully-convolutional form; "
          f"{config.model} has none (VGG, ResNet, NiN and GoogLeNet with head='gap' have). Use "
          "--config.eval_protocol=center or ten_crop.")
    scales = tuple(config.eval_scales) or (data.resize or data.image_size,)
    if not all(scales):
      raise UserError("eval_protocol='dense' needs eval_scales (image sides), or data.resize "
                      "or data.image_size to take the scale from.")
    if "fully_convolutional" in getattr(type(model), "__dataclass_fields__", {}) and \
        data.image_size and min(scales) < data.image_size:
      raise UserError(f"eval_scales={scales} has scales below data.image_size="
                      f"{data.image_size}: the fully-convolutional network needs whole images "
                      "of at least its training crop.")
    preprocess = pipeline.MultiScale(tuple(
        pipeline.make_preprocess(data, train=False, crop=False, resize=q) for q in scales))

    def dense_probabilities_of(variables, images_per_scale):
      return dense_probabilities(lambda x: dense.apply(variables, x, train=False),
                                 images_per_scale)

    def dense_step(state, batch):
      probs = dense_probabilities_of(_variables(state), batch["image"])
      return metric_sums(_log(probs), batch["label"], batch["mask"])

    return Protocol("dense", preprocess, dense_step, dense_probabilities_of,
                    per_image=varying_size)

  if config.eval_protocol == "multi_crop":
    return _multi_crop(config, model)

  raise UserError(f"eval_protocol={config.eval_protocol!r} must be one of "
                  f"{', '.join(PROTOCOLS)}.")


@dataclasses.dataclass(frozen=True)
class MultiCropInput:
  """GoogLeNet's multi-crop input of each image: per scale, the ``square_offsets`` squares of
  the image rescaled to it and (``resized``) each square resized to the crop side; the crops
  and mirrors are cut on the device (``multi_crop_probabilities``). Called on a numpy batch,
  or (``tf_example``) on one streamed example."""
  scales: tuple
  parts: tuple  # pipeline.Preprocess per scale: the whole image rescaled and normalised.
  squares: int
  size: int
  resized: bool

  def __call__(self, batch):
    images = []
    for side, prep in zip(self.scales, self.parts):
      squares = squares_of(prep(batch)["image"], side, self.squares)
      images.append(squares)
      if self.resized:
        n, k = squares.shape[:2]
        flat = squares.reshape((n * k,) + squares.shape[2:])
        images.append(augment.resize(flat, self.size, self.size).reshape(
            (n, k, self.size, self.size, -1)))
    return {"image": tuple(images), "label": batch["label"].astype(np.int32)}

  def tf_example(self, image, key=None) -> dict:
    import tensorflow as tf
    from jaxcnn.data import transforms_tf
    image = transforms_tf.decoded(image)  # Every scale reads the whole image.
    images = []
    for side, prep in zip(self.scales, self.parts):
      squares = transforms_tf.squares(prep.tf_example(image)["image"], side, self.squares)
      images.append(squares)
      if self.resized:
        images.append(tf.stack([transforms_tf.resize_square(square, self.size)
                                for square in tf.unstack(squares)]))
    return {"image": tuple(images)}


def _multi_crop(config: ConfigDict, model) -> Protocol:
  data, multi, size = config.data, config.multi_crop, config.data.image_size
  scales = tuple(multi.scales)
  if not size or not scales or min(scales) < size or multi.squares not in (1, 3) or \
      multi.crops not in (1, 5, 6):
    raise UserError(f"eval_protocol='multi_crop' needs data.image_size > 0 (the crops' side, "
                    f"{size}), multi_crop.scales of at least that ({scales}), "
                    f"multi_crop.squares 1 or 3 ({multi.squares}) and multi_crop.crops 1, 5 or 6 "
                    f"({multi.crops}).")
  per_scale = tuple(pipeline.make_preprocess(data, train=False, crop=False, resize=s)
                    for s in scales)
  keys = [multi_crop_keys(s, size, multi) for s in scales]
  resized = multi.crops == 6
  preprocess = MultiCropInput(scales, per_scale, multi.squares, size, resized)

  def probabilities(variables, images):
    step = 2 if resized else 1
    per_scale_images = [images[i:i + step] for i in range(0, len(images), step)]
    return multi_crop_probabilities(lambda x: model.apply(variables, x, train=False),
                                    per_scale_images, keys, size)

  def multi_crop_step(state, batch):
    probs = probabilities(_variables(state), batch["image"])
    return metric_sums(_log(probs), batch["label"], batch["mask"])

  return Protocol("multi_crop", preprocess, multi_crop_step, probabilities)
