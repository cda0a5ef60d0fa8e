"""Starting a run from another run's (or an imported) checkpoint: config.init_from.

Every parameter and BatchNorm statistic is copied, except where the two networks'
shapes legitimately differ:
  - the classifier head (the layers whose shapes follow the class count) is left as
    freshly initialised when the class counts differ;
  - a first-layer kernel trained on RGB is summed over its input channels for grayscale
    input, which gives the response it had to the same image in gray (R = G = B).
Any other difference means another architecture, and is an error. The optimizer state,
step and rng are those of a new run.

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
  copied = len(out) - len(reinitialised) - len(kept)
  report = f"Initialised from {where}: copied {copied} of {len(out)} arrays"
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
