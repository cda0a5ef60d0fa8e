"""Trained networks as (model, variables, config), from any checkpoint the trainer or
jaxcnn.tools.convert wrote, for prediction, inspection, export and fine-tuning.

A checkpoint stores the config that wrote it and its metadata (checkpoint.Metadata): the
class count, the input shape and the class names, which the config alone does not give (an
imported torchvision network has 1000 classes and RGB input whatever its config's dataset).
Checkpoints written before they carried metadata have them inferred from the saved parameter
shapes instead (``infer_from_parameters``).
"""

import dataclasses
import os

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
from ml_collections import ConfigDict

from jaxcnn import checkpoint
from jaxcnn import config as config_lib
from jaxcnn import models
from jaxcnn.data import sources
from jaxcnn.errors import UserError


@dataclasses.dataclass(frozen=True)
class Run:
  """A restored network with what is needed to feed it and name its outputs."""
  model: nn.Module
  variables: dict  # {"params": ..., "batch_stats": ...}, on one device.
  config: ConfigDict  # The config stored in the checkpoint.
  workdir: str
  step: int
  num_classes: int
  input_shape: tuple  # (H, W, C) the model takes: after the evaluation preprocessing.
  image_shape: tuple  # (H, W, C) uint8 images the evaluation preprocessing takes: the
  # dataset's, or for datasets of varying image sizes squares of data.resize (or the input).
  class_names: tuple[str, ...]
  varying_size: bool = False  # The dataset's images vary in size (or its info is unknown).


def load(workdir_or_checkpoint: str, step: int | None = None, *, ema: bool = False):
  """Restores a trained network: returns (model, variables, config).

  ``workdir_or_checkpoint`` is a workdir (its latest checkpoint, or ``step``) or one
  checkpoint directory, WORKDIR/checkpoints/STEP. ``model.apply(variables, images,
  train=False)`` gives the logits for images preprocessed as ``config.data`` says
  (jaxcnn.data.pipeline.make_preprocess(config.data, train=False)). With ``ema``, the
  variables are the moving average a run with config.ema_decay > 0 kept.
  """
  run = load_run(workdir_or_checkpoint, step, ema=ema)
  return run.model, run.variables, run.config


def locate(path: str, step: int | None = None):
  """(workdir, step, manager) for a workdir or a WORKDIR/checkpoints/STEP directory."""
  path = os.path.abspath(os.path.expanduser(str(path)))
  if not os.path.isdir(path):
    raise UserError(f"No such directory: {path}. Name a workdir (holding checkpoints/) or "
                    "one checkpoint, WORKDIR/checkpoints/STEP.")
  parent, name = os.path.split(path)
  if name.isdigit() and os.path.basename(parent) == "checkpoints":
    if step is not None and step != int(name):
      raise UserError(f"{path} is the checkpoint at step {name}, not step {step}; name the "
                      "workdir to choose another step.")
    workdir, step = os.path.dirname(parent), int(name)
  elif name == "checkpoints":
    workdir = parent
  else:
    workdir = path
  if not os.path.isdir(os.path.join(workdir, "checkpoints")):
    raise UserError(f"No checkpoint in {workdir}: it has no checkpoints/ folder. Name the "
                    "workdir of a trained (or converted) run.")
  # A large "keep": reading must never make the manager's policy delete anything.
  mngr = checkpoint.manager(workdir, keep=1 << 30, create=False)
  available = sorted(mngr.all_steps())
  if not available:
    raise UserError(f"No checkpoint in {os.path.join(workdir, 'checkpoints')}; train first "
                    "with python -m jaxcnn.main --mode=train.")
  if step is None:
    step = available[-1]
  elif step not in available:
    raise UserError(f"No checkpoint at step {step} in {workdir}; available steps: "
                    f"{available}.")
  return workdir, step, mngr


def stored_config(stored: dict) -> ConfigDict:
  """A checkpoint's config over today's defaults: a field added since it was written takes
  its default, which is what ran then."""
  config = config_lib.base_config()
  try:
    config.update(stored)
  except (TypeError, ValueError):  # A field whose type has changed since.
    return ConfigDict(stored)
  return config


def variable_shapes(config: ConfigDict, num_classes: int, input_shape: tuple) -> dict:
  """Shapes of the model's variables, by "params/layer/kernel" paths, without computing them."""
  model = models.from_config(config, num_classes, input_shape)
  rng = jax.random.PRNGKey(0)
  # Training-mode init, as the trainer's: it creates the layers only training has (aux heads).
  abstract = jax.eval_shape(
      lambda: model.init({"params": rng, "dropout": rng},
                         jnp.zeros((2,) + tuple(input_shape), jnp.float32), train=True))
  flat = flax.traverse_util.flatten_dict(flax.core.unfreeze(nn.unbox(abstract)), sep="/")
  return {k: tuple(v.shape) for k, v in flat.items()
          if k.startswith(("params/", "batch_stats/"))}


def changing_leaves(config: ConfigDict, size: int, *, classes: bool) -> dict[str, int]:
  """Leaves whose shape follows the class count (classes=True) or the input channels,
  each with the axis that follows it: the classifier head, or the first layer."""
  try:
    base = variable_shapes(config, 2, (size, size, 1))
    other = variable_shapes(config, 3, (size, size, 1)) if classes else \
        variable_shapes(config, 2, (size, size, 3))
  except ValueError as e:
    raise UserError(f"{config.model} cannot be built for {size}x{size} inputs ({e}); set "
                    "data.image_size in its config.") from e
  out = {}
  for k, shape in base.items():
    if k in other and other[k] != shape:
      out[k] = next(i for i, (a, b) in enumerate(zip(shape, other[k])) if a != b)
  return out


def _brief(e: Exception) -> str:
  text = " ".join(str(e).split())
  return f"{type(e).__name__}: {text[:300]}{'...' if len(text) > 300 else ''}"


def _read_off(saved: dict, leaves: dict[str, int]) -> int | None:
  values = {saved[k][axis] for k, axis in leaves.items()
            if k in saved and len(saved[k]) > axis}
  return values.pop() if len(values) == 1 else None


def infer_from_parameters(config: ConfigDict, saved: dict, dataset, workdir: str):
  """(num_classes, input_shape, class_names or None) of a checkpoint without metadata.

  Only the fallback for checkpoints written before they carried metadata. The leaves whose
  shapes change with ``num_classes`` are the classifier, those that change with the input
  channels the first layer (each found by building the model abstractly twice), and their
  saved shapes give the values. The input side is the config's data.image_size or
  data.resize, else the side of the dataset's images (``dataset``, its sources.Metadata or
  None); the class names are the dataset's when it has as many classes.
  """
  native = dataset.image_shape if dataset and None not in dataset.image_shape else None
  size = config.data.image_size or config.data.resize or (native[0] if native else 0)
  if not size:
    raise UserError(f"The config in {workdir} sets no data.image_size and the size of "
                    f"{config.dataset!r} images varies; the input size is unknown.")
  num_classes = _read_off(saved, changing_leaves(config, size, classes=True))
  if num_classes is None:  # A head without parameters (the paper's LeNet-5 RBF layer).
    if dataset is None:
      raise UserError(f"The class count of the {config.model} in {workdir} is set by its "
                      f"dataset, {config.dataset!r}, whose info cannot be read; set "
                      "data_dir to where the dataset is.")
    num_classes = dataset.num_classes
  channels = _read_off(saved, changing_leaves(config, size, classes=False))
  if channels is None:
    channels = native[2] if native else 3
  names = (dataset.class_names if dataset and len(dataset.class_names) == num_classes
           else None)
  return num_classes, (size, size, channels), names


def load_run(workdir_or_checkpoint: str, step: int | None = None, *,
             data_dir: str | None = None, ema: bool = False) -> Run:
  """Restores a checkpoint onto one device, with its class names and input shapes; with
  ``ema``, the moving average of the variables in place of the variables.

  The class count, input shape and class names are the checkpoint's metadata (without class
  names there: "class 0", "class 1", ...). The shape of the images to feed follows the
  dataset's TFDS info (nothing is read or prepared): its images, when the network takes
  their channels.
  """
  workdir, step, mngr = locate(workdir_or_checkpoint, step)
  try:
    config = stored_config(checkpoint.restore_config(mngr, step))
    saved = checkpoint.saved_variable_shapes(mngr, step, ema=ema)
    metadata = checkpoint.restore_metadata(mngr, step)
  except Exception as e:
    raise UserError(f"The checkpoint at step {step} in {workdir} cannot be read "
                    f"({_brief(e)}).") from e
  if ema and not saved:
    raise UserError(f"The checkpoint at step {step} in {workdir} holds no moving average of "
                    "its variables: its run had ema_decay=0. Load it without ema=True.")
  if config.model not in models.MODELS:
    raise UserError(f"The checkpoint at step {step} in {workdir} holds a {config.model!r}, "
                    "which this version of jaxcnn does not have.")
  try:
    dataset = sources.metadata(config.dataset, data_dir or config.data_dir)
  except Exception:  # Without the dataset's info the checkpoint alone decides.
    dataset = None
  if metadata is not None:
    num_classes, input_shape = metadata.num_classes, metadata.input_shape
    names = metadata.class_names
  else:  # Written before checkpoints carried metadata.
    num_classes, input_shape, names = infer_from_parameters(config, saved, dataset, workdir)
  wanted = variable_shapes(config, num_classes, input_shape)
  mismatch = checkpoint.describe(checkpoint.variables_mismatch(saved, wanted))
  if mismatch:
    raise UserError(f"The checkpoint at step {step} in {workdir} does not fit the "
                    f"{config.model} its config describes: {mismatch}.")

  device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
  abstract = {"params": {}, "batch_stats": {}}
  for k, shape in wanted.items():
    collection, *path = k.split("/")
    abstract[collection][tuple(path)] = jax.ShapeDtypeStruct(shape, jnp.float32,
                                                             sharding=device)
  abstract = {c: flax.traverse_util.unflatten_dict(v) for c, v in abstract.items()}
  try:
    variables = (checkpoint.restore_variables(mngr, step, {"ema": abstract})["ema"] if ema
                 else checkpoint.restore_variables(mngr, step, abstract))
  except Exception as e:
    raise UserError(f"The checkpoint at step {step} in {workdir} cannot be restored "
                    f"({_brief(e)}).") from e
  if not variables["batch_stats"]:
    variables = {"params": variables["params"]}

  channels = input_shape[2]
  native = dataset.image_shape if dataset and None not in dataset.image_shape else None
  if native and native[2] == channels:
    image_shape = native
  else:  # Images of varying size: square ones at the side the evaluation rescales to.
    side = config.data.resize or input_shape[0]
    image_shape = (side, side, channels)
  names = names or tuple(f"class {i}" for i in range(num_classes))
  return Run(model=models.from_config(config, num_classes, input_shape), variables=variables,
             config=config, workdir=workdir, step=step, num_classes=num_classes,
             input_shape=tuple(input_shape), image_shape=tuple(image_shape),
             class_names=tuple(names), varying_size=native is None)
