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

Images of varying size (a streamed dataset such as imagenet2012) cannot share a batch whole:
there ten_crop and dense take the central square of each rescaled image (for ten_crop,
AlexNet's own 256x256 images).
"""

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from ml_collections import ConfigDict

from jaxcnn import steps
from jaxcnn.data import pipeline
from jaxcnn.errors import UserError
from jaxcnn.models import googlenet
from jaxcnn.models import nin
from jaxcnn.models import resnet

PROTOCOLS = ("center", "ten_crop", "dense")


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
  class probabilities ((variables, preprocessed images) -> [N, classes]) for prediction."""
  name: str
  preprocess: Callable
  step: Callable
  probabilities: Callable


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
        pipeline.make_preprocess(data, train=False, crop=False, resize=q, square=varying_size)
        for q in scales))

    def dense_probabilities_of(variables, images_per_scale):
      return dense_probabilities(lambda x: dense.apply(variables, x, train=False),
                                 images_per_scale)

    def dense_step(state, batch):
      probs = dense_probabilities_of(_variables(state), batch["image"])
      return metric_sums(_log(probs), batch["label"], batch["mask"])

    return Protocol("dense", preprocess, dense_step, dense_probabilities_of)

  raise UserError(f"eval_protocol={config.eval_protocol!r} must be one of "
                  f"{', '.join(PROTOCOLS)}.")
