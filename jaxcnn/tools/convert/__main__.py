"""python -m jaxcnn.tools.convert: torchvision weights -> an Orbax checkpoint in a workdir.

  python -m jaxcnn.tools.convert --arch=resnet50 --weights=IMAGENET1K_V1 --workdir=DIR
  python -m jaxcnn.tools.convert --arch=resnet50 --pth=FILE --config=CONFIG --workdir=DIR

``--weights`` names torchvision's pretrained weights, read from torch's hub cache or
downloaded there (jaxcnn.tools.convert.hub); ``--pth`` reads a state_dict file. Without
``--config`` the checkpoint carries the architecture's config of this clone, configs/ARCH.py
(without _bn).
"""

import sys

from absl import app
from absl import flags
from absl import logging
import jax
import numpy as np
from ml_collections import config_flags

from jaxcnn import checkpoint
from jaxcnn.tools import convert
from jaxcnn.tools.convert import hub
from jaxcnn import train
from jaxcnn.data import sources
from jaxcnn.errors import UserError

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Experiment config the checkpoint belongs to (its model is set from "
    "--arch; default: configs/ARCH.py).", lock_config=True)
_ARCH = flags.DEFINE_enum("arch", None, list(convert.ARCHS), "torchvision architecture.")
_PTH = flags.DEFINE_string("pth", None, "torchvision state_dict file (.pth).")
_WEIGHTS = flags.DEFINE_string(
    "weights", None, "torchvision weights of --arch by name (IMAGENET1K_V1, DEFAULT), from "
    "torch's hub cache or downloaded into it.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Workdir to write checkpoints/0 into.")


def convert_to_checkpoint(config, arch: str, state_dict: dict, workdir: str) -> int:
  """Writes the converted weights as the step-0 checkpoint of ``workdir``; returns num_classes.

  Its metadata names the classes after the config's dataset when that has as many classes
  (ImageNet's for an ImageNet config), else none.
  """
  variables = convert.torchvision_to_flax(arch, state_dict)
  params = variables["params"]
  num_classes = _num_classes(state_dict)
  config = config.copy_and_resolve_references()
  with config.unlocked():
    config.model = convert.jaxcnn_model(arch)
  size = config.data.image_size or 224
  exp = train.Experiment(config, train=False, num_classes=num_classes,
                         input_shape=(size, size, 3),
                         class_names=_class_names(config, num_classes))
  state = exp.init_state()
  merged = {"params": _merge(state.params, params, "params")}
  merged["batch_stats"] = _merge(state.batch_stats, variables.get("batch_stats", {}),
                                 "batch_stats")
  state = state.replace(params=jax.device_put(merged["params"], exp.state_sharding.params),
                        batch_stats=jax.device_put(merged["batch_stats"],
                                                   exp.state_sharding.batch_stats))
  mngr = checkpoint.manager(workdir, config.keep_checkpoints)
  if mngr.all_steps():
    raise UserError(f"{workdir} already holds checkpoints {sorted(mngr.all_steps())}; "
                    "convert into an empty workdir.")
  checkpoint.save(mngr, 0, state, config, metadata=exp.metadata())
  mngr.wait_until_finished()
  return num_classes


def _class_names(config, num_classes: int) -> tuple[str, ...] | None:
  """The config's dataset's class names from its TFDS info, if it has ``num_classes``."""
  try:
    info = sources.metadata(config.dataset, config.data_dir)
  except Exception:  # No info (an unknown or unregistered dataset): no names.
    return None
  return info.class_names if info.num_classes == num_classes else None


def _num_classes(state_dict: dict) -> int:
  """Outputs of the classifier: torchvision registers it last (after any auxiliary heads)."""
  weights = [v for k, v in state_dict.items() if k.endswith(".weight") and np.ndim(v) == 2]
  return int(np.shape(weights[-1])[0])


def _merge(initial, converted, collection):
  """Converted leaves replace initial ones; every converted leaf must exist with its shape.

  Leaves only the training-mode network has (auxiliary heads) may be absent from the
  converted weights and keep their initial values.
  """
  flat_init = {jax.tree_util.keystr(p): v for p, v in jax.tree_util.tree_leaves_with_path(initial)}
  flat_conv = {jax.tree_util.keystr(p): v for p, v in
               jax.tree_util.tree_leaves_with_path(converted)}
  unexpected = sorted(set(flat_conv) - set(flat_init))
  mismatched = [f"{k}: checkpoint {np.shape(flat_conv[k])} vs model {flat_init[k].shape}"
                for k in flat_conv if k in flat_init and np.shape(flat_conv[k]) != flat_init[k].shape]
  missing = sorted(k for k in set(flat_init) - set(flat_conv) if "aux" not in k.lower())
  if unexpected or mismatched or missing:
    raise UserError(f"The converted {collection} do not fit the model: unexpected "
                    f"{unexpected[:5]}, missing {missing[:5]}, mismatched {mismatched[:5]}.")
  return jax.tree_util.tree_map_with_path(
      lambda p, v: np.asarray(flat_conv.get(jax.tree_util.keystr(p), v), v.dtype), initial)


def main(argv):
  del argv
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)
  arch, what = _ARCH.value, ""
  try:
    if _WEIGHTS.value:
      _, name, state_dict, path = hub.load(f"{arch}.{_WEIGHTS.value}")
      what = f"{name} from {path}, "
    else:
      state_dict = hub.load_pth(_PTH.value)
    config = _CONFIG.value if _CONFIG.value is not None else convert.default_config(arch)
    num_classes = convert_to_checkpoint(config, arch, state_dict, _WORKDIR.value)
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(1)
  print(f"Wrote {arch} ({what}{num_classes} classes) as checkpoint 0 of {_WORKDIR.value}; "
        f"evaluate with python -m jaxcnn.main --mode=eval --workdir={_WORKDIR.value} "
        f"--config=... --config.model={convert.jaxcnn_model(_ARCH.value)}")


if __name__ == "__main__":
  # Here, not at import: a process that imports this module's functions (a test, a notebook)
  # and later parses its own flags must not inherit these requirements.
  flags.mark_flags_as_required(["arch", "workdir"])
  flags.mark_flags_as_mutual_exclusive(["pth", "weights"], required=True)
  app.run(main)
