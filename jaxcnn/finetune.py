"""Starting a run from another run's (or an imported) checkpoint: config.init_from.

Every parameter and BatchNorm statistic is copied, except where the two networks'
shapes legitimately differ:
  - the classifier head (the layers whose shapes follow the class count) is left as
    freshly initialised when the class counts differ;
  - a first-layer kernel trained on RGB is summed over its input channels for grayscale
    input, which gives the response it had to the same image in gray (R = G = B).
Any other difference means another architecture, and is an error. The optimizer state,
step and rng are those of a new run. ``config.init_from_layers`` copies only the layers it
names, from layers of the same or (``NAME=SOURCE``) another name, and leaves the others as
freshly initialised: VGG's deeper nets started from a trained A (``"vgg_a"``).

``torchvision:ARCH[.WEIGHTS]`` (torchvision:resnet50.IMAGENET1K_V1) starts from torchvision's
pretrained weights, converted as jaxcnn.tools.convert does (read from torch's hub cache or
downloaded into it: jaxcnn.tools.convert.hub); the layers only training has (GoogLeNet's
auxiliary heads), when the file lacks them, keep their fresh values.
"""

import flax
import jax
import numpy as np

from jaxcnn import loading
from jaxcnn.errors import UserError
from jaxcnn.state import TrainState


def _flat(tree) -> dict:
  return flax.traverse_util.flatten_dict(flax.core.unfreeze(tree), sep="/")


def _layers(keys) -> str:
  return ", ".join(sorted({k.split("/", 1)[1].rsplit("/", 1)[0] for k in keys}))


def _checkpoint_source(source: str) -> tuple[dict, str]:
  try:
    run = loading.load_run(source)
  except UserError as e:
    raise UserError(f"config.init_from={source}: {e}") from e
  return jax.device_get(run.variables), f"{source} (step {run.step}, {run.config.model})"


def _torchvision_source(source: str, config) -> tuple[dict, str]:
  # The converters are a tool's; imported only when a run asks for torchvision weights.
  from jaxcnn.tools import convert
  from jaxcnn.tools.convert import hub
  arch, _ = hub.parse(source)
  try:
    model = convert.jaxcnn_model(arch)
  except UserError as e:
    raise UserError(f"config.init_from={source}: {e}") from e
  if config.model != model:
    raise UserError(f"config.init_from={source}: torchvision's {arch} is jaxcnn's {model}, "
                    f"not {config.model}; set --config.model={model}.")
  arch, weights, state_dict, path = hub.load(source)
  try:
    variables = convert.torchvision_to_flax(arch, state_dict)
  except ValueError as e:
    raise UserError(f"config.init_from={source}: {path}: {e}") from e
  return variables, f"{source} ({weights}, {path})"


def initialize(state: TrainState, config, input_shape: tuple, source: str,
               state_sharding) -> tuple[TrainState, str]:
  """Copies ``source``'s variables into the fresh ``state``; returns it and a report."""
  torchvision = source.startswith("torchvision:")
  variables, where = (_torchvision_source(source, config) if torchvision
                      else _checkpoint_source(source))
  src = {k: np.asarray(v) for k, v in _flat(variables).items()}
  fresh = _flat(jax.device_get({"params": state.params, "batch_stats": state.batch_stats}))
  size = input_shape[0]
  head = loading.changing_leaves(config, size, classes=True)
  first = loading.changing_leaves(config, size, classes=False)
  mapping, unmapped = layer_mapping(config.get("init_from_layers")), set()
  if mapping is not None:
    src, unmapped = select_layers(src, fresh, mapping, where)

  out, reinitialised, summed, kept, problems = {}, [], [], [], []
  for k, value in fresh.items():
    if k not in src and torchvision and "/aux" in k:  # A training-only head it lacks.
      out[k] = value
      kept.append(k)
      continue
    if k not in src:
      problems.append(f"{k} {value.shape} is not in it")
      continue
    old = src[k]
    if old.shape == value.shape:
      out[k] = old.astype(value.dtype)
    elif k in head and old.ndim == value.ndim:
      out[k] = value
      reinitialised.append(k)
    elif k in first and old.ndim == value.ndim and old.shape[first[k]] == 3 and \
        value.shape[first[k]] == 1 and np.delete(old.shape, first[k]).tolist() == \
        np.delete(value.shape, first[k]).tolist():
      out[k] = old.sum(axis=first[k], keepdims=True).astype(value.dtype)
      summed.append(k)
    else:
      problems.append(f"{k}: {old.shape} there, {value.shape} here")
  problems += [f"{k} {src[k].shape} is only there" for k in sorted(set(src) - set(fresh))]
  if problems:
    more = f" (and {len(problems) - 6} more)" if len(problems) > 6 else ""
    raise UserError(
        f"config.init_from={where} does not fit this config's {config.model} beyond the "
        f"classifier head: {'; '.join(problems[:6])}{more}. Initialise from a run of the "
        "same architecture (its class count may differ).")

  variables = flax.traverse_util.unflatten_dict({tuple(k.split("/")): v for k, v in out.items()})
  state = state.replace(
      params=jax.device_put(variables["params"], state_sharding.params),
      batch_stats=jax.device_put(variables.get("batch_stats", {}), state_sharding.batch_stats))
  if state.ema:  # The average starts from the copied weights (buffers of its own).
    state = state.replace(ema={
        "params": jax.device_put(variables["params"], state_sharding.ema["params"]),
        "batch_stats": jax.device_put(variables.get("batch_stats", {}),
                                      state_sharding.ema["batch_stats"])})
  copied = len(out) - len(reinitialised) - len(kept) - len(unmapped)
  report = f"Initialised from {where}: copied {copied} of {len(out)} arrays"
  if unmapped:
    report += (f" (config.init_from_layers; {len(unmapped)} arrays of {_layers(unmapped)} keep "
               "their fresh initialisation)")
  if reinitialised:
    shapes = ", ".join(f"{k.split('/', 1)[1]} {src[k].shape} -> {fresh[k].shape}"
                       for k in reinitialised)
    report += f"; re-initialised the classifier head ({shapes})"
  if kept:
    heads = ", ".join(sorted({k.split("/")[1] for k in kept}))
    report += f"; kept the fresh {heads} (training-only heads the weights lack)"
  if summed:
    report += f"; summed {_layers(summed)} over its RGB input channels for grayscale input"
  return state, report + "."


# config.init_from_layers presets. VGG Sec. 3.1: B-E started from a trained A's first four
# convolutional layers and its three fully-connected layers (same names and shapes in all of
# A-E), their other layers random.
LAYER_PRESETS = {"vgg_a": "conv1_1,conv2_1,conv3_1,conv3_2,fc6,fc7,fc8"}


def layer_mapping(spec: str | None) -> dict[str, str] | None:
  """config.init_from_layers as {layer here: layer in the source}, or None (all layers)."""
  spec = LAYER_PRESETS.get((spec or "").strip(), spec or "")
  if not spec.strip():
    return None
  mapping = {}
  for entry in spec.split(","):
    name, _, there = (part.strip() for part in entry.partition("="))
    if not name or "/" in name or "/" in there:
      raise UserError(f"config.init_from_layers={spec!r}: each entry is a top-level layer name "
                      "or NAME=SOURCE_NAME, separated by commas (or a preset: "
                      f"{', '.join(LAYER_PRESETS)}).")
    mapping[name] = there or name
  return mapping


def select_layers(src: dict, fresh: dict, mapping: dict[str, str], where: str):
  """(source arrays under this network's paths for the mapped layers, and this network's own
  fresh arrays for every other layer; the paths kept fresh)."""
  layer = lambda path: path.split("/")[1]
  here, there = {layer(k) for k in fresh}, {layer(k) for k in src}
  for missing, layers, whose in ((set(mapping) - here, here, "this network"),
                                 (set(mapping.values()) - there, there, where)):
    if missing:
      raise UserError(f"config.init_from_layers names {', '.join(sorted(missing))}, not a layer "
                      f"of {whose}: its layers are {', '.join(sorted(layers))}.")
  out, kept = {}, set()
  for k, value in fresh.items():
    collection, name, rest = k.split("/", 2)
    if name not in mapping:
      out[k] = value
      kept.add(k)
    elif f"{collection}/{mapping[name]}/{rest}" in src:
      out[k] = src[f"{collection}/{mapping[name]}/{rest}"]
  return out, kept
