"""Orbax checkpoints under WORKDIR/checkpoints: the last K, plus the best by validation top-1
when the run has a validation split (never by the test split's).

Each checkpoint is one Orbax composite of three items, written and committed together: the
train state, the config, and the metadata (``Metadata``) that says which network the state
belongs to and what it takes and gives. Orbax writes a step into STEP.orbax-checkpoint-tmp
and renames it to STEP once every item is written (the commit), so a save that a crash
interrupts is never taken for a checkpoint, whether it was written in the foreground or in a
background thread (``Saver``).
"""

import contextlib
import dataclasses
import os
import shutil
import time

from absl import logging
import jax
from jax.experimental import multihost_utils
import orbax.checkpoint as ocp
from orbax.checkpoint.checkpoint_managers import preservation_policy as pp
from ml_collections import ConfigDict

from jaxcnn import models
from jaxcnn import write_faults
from jaxcnn.errors import UserError

BEST_METRIC = "val/top1"
METADATA_VERSION = 1  # Raised when a field changes meaning or goes; readers refuse newer ones.


@dataclasses.dataclass(frozen=True)
class Metadata:
  """A checkpoint's network: the model name and constructor arguments as built, the class
  count, the (H, W, C) input shape and the class names (None when unknown).

  Loading reads these rather than inferring them from the parameter shapes and the config's
  dataset, which an imported network (1000 ImageNet classes, RGB input) need not match.
  """
  model: str
  model_kwargs: dict
  num_classes: int
  input_shape: tuple
  class_names: tuple[str, ...] | None
  format_version: int = METADATA_VERSION

  @classmethod
  def of(cls, config: ConfigDict, num_classes: int, input_shape: tuple,
         class_names=None) -> "Metadata":
    """The metadata of ``models.from_config(config, num_classes, input_shape)``; class names
    are kept only when there is one per class."""
    names = (tuple(str(n) for n in class_names)
             if class_names is not None and len(class_names) == num_classes else None)
    return cls(model=config.model,
               model_kwargs=models.config_kwargs(config, num_classes, input_shape),
               num_classes=int(num_classes), input_shape=tuple(int(d) for d in input_shape),
               class_names=names)

  def to_json(self) -> dict:
    return {"format_version": self.format_version, "model": self.model,
            "model_kwargs": self.model_kwargs, "num_classes": self.num_classes,
            "input_shape": list(self.input_shape),
            "class_names": None if self.class_names is None else list(self.class_names)}

  @classmethod
  def from_json(cls, stored: dict) -> "Metadata":
    version = stored.get("format_version")
    if not isinstance(version, int) or version > METADATA_VERSION:
      raise ValueError(f"metadata format version {version!r}, where this version of jaxcnn "
                       f"reads up to {METADATA_VERSION}; update jaxcnn")
    names = stored["class_names"]
    return cls(model=stored["model"], model_kwargs=dict(stored["model_kwargs"]),
               num_classes=int(stored["num_classes"]),
               input_shape=tuple(int(d) for d in stored["input_shape"]),
               class_names=None if names is None else tuple(names), format_version=version)


def best_metric(config: ConfigDict) -> str | None:
  """The metric a run's best checkpoint is kept by: validation top-1, or None (no best
  checkpoint) without a validation split."""
  return BEST_METRIC if config.validation_split else None


def manager(workdir: str, keep: int, *, best_metric: str | None = None, create: bool = True,
            async_save: bool = False) -> ocp.CheckpointManager:
  """The last ``keep`` checkpoints, plus the one with the highest ``best_metric`` if given;
  with ``async_save``, ``save`` returns once the state is copied off the devices and the rest
  of the save goes on in a background thread."""
  policies = [pp.LatestN(n=keep)]
  if best_metric:
    policies.append(pp.BestN(get_metric_fn=lambda m: m[best_metric], n=1,
                             keep_checkpoints_without_metrics=False))
  policy = pp.AnyPreservationPolicy(policies)
  options = ocp.CheckpointManagerOptions(
      preservation_policy=policy, create=create, enable_async_checkpointing=async_save)
  return ocp.CheckpointManager(
      os.path.join(os.path.abspath(workdir), "checkpoints"),
      options=options,
      item_handlers={"state": ocp.StandardCheckpointHandler(),
                     "config": ocp.JsonCheckpointHandler(),
                     "metadata": ocp.JsonCheckpointHandler()})


def save(mngr: ocp.CheckpointManager, step: int, state, config: ConfigDict,
         metrics: dict | None = None, *, metadata: Metadata) -> None:
  """Saves the state, the config and the metadata as one checkpoint (all or nothing)."""
  mngr.save(step, args=ocp.args.Composite(
      state=ocp.args.StandardSave(state),
      config=ocp.args.JsonSave(config.to_dict()),
      metadata=ocp.args.JsonSave(metadata.to_json())), metrics=metrics)


# Train-state fields added since checkpoints were first written; empty ({}) in runs that do
# not use them, and then absent from older checkpoints.
OPTIONAL_FIELDS = ("ema", "loss_scale")


class Saver:
  """The trainer's checkpoints: its manager (``mngr``), asynchronous if config.checkpoint_async.

  An asynchronous save's failure surfaces only when the save is waited for: the next ``save``
  and ``wait`` wait for it and report a write fault (full disk, lost permission, deleted
  workdir) as that save's, in write_faults' paragraph naming the last committed checkpoint.
  Every process calls ``save`` at the same steps, as Orbax's collective save requires.
  """

  def __init__(self, workdir: str, config: ConfigDict, metadata: Metadata):
    self.mngr = manager(workdir, config.keep_checkpoints, best_metric=best_metric(config),
                        async_save=config.checkpoint_async)
    self._async, self._root = config.checkpoint_async, os.path.abspath(workdir)
    self._config, self._metadata = config, metadata
    self.pending: int | None = None  # The step of the asynchronous save in flight.

  def faults(self, what: str, path: str):
    """A full disk, a lost permission or a deleted workdir (``path`` under it) stops the run
    with one paragraph naming the last committed checkpoint."""
    return write_faults.reported(what, os.path.join(self._root, path), self.last_good)

  def save(self, step: int, state, metrics: dict | None = None) -> None:
    """Saves; returns once ``state`` may change (donated to the next step) whatever the save
    still has to write."""
    self.wait()
    with self.faults(f"Saving the checkpoint at step {step}", f"checkpoints/{step}"):
      save(self.mngr, step, state, self._config, metrics, metadata=self._metadata)
    if self._async:
      self.pending = step
      write_faults.background_write(started=True)

  def wait(self) -> None:
    """Blocks until the save in flight, if any, is committed; raises its failure."""
    if self.pending is None:
      return
    step, self.pending = self.pending, None
    try:
      with self.faults(f"Saving the checkpoint at step {step}", f"checkpoints/{step}"):
        self.mngr.wait_until_finished()
    finally:
      write_faults.background_write(started=False)

  def last_good(self) -> int | None:
    """The newest committed checkpoint, once the save in flight has ended either way."""
    with contextlib.suppress(Exception):
      self.wait()
    self.mngr.reload()
    return self.mngr.latest_step()


def restore(mngr: ocp.CheckpointManager, step: int, abstract_state):
  """Restores the state at ``step`` onto the shardings of ``abstract_state``."""
  mngr.wait_until_finished()  # The step may be a save still in flight.
  saved = mngr.item_metadata(step)["state"]
  absent = [f for f in OPTIONAL_FIELDS
            if f not in saved and not jax.tree.leaves(getattr(abstract_state, f))]
  target = abstract_state
  if absent:  # Written before those fields existed: restore the others into a dict.
    target = {f.name: getattr(abstract_state, f.name)
              for f in dataclasses.fields(abstract_state)
              if f.metadata.get("pytree_node", True) and f.name not in absent}
  restored = mngr.restore(step, args=ocp.args.Composite(
      state=ocp.args.StandardRestore(target)))["state"]
  return abstract_state.replace(**restored, **{f: {} for f in absent}) if absent else restored


def restore_config(mngr: ocp.CheckpointManager, step: int) -> dict:
  mngr.wait_until_finished()
  return mngr.restore(step, args=ocp.args.Composite(config=ocp.args.JsonRestore()))["config"]


def restore_metadata(mngr: ocp.CheckpointManager, step: int) -> Metadata | None:
  """The checkpoint's metadata; None for a checkpoint written before checkpoints had it."""
  mngr.wait_until_finished()
  if "metadata" not in mngr.item_metadata(step):
    return None
  stored = mngr.restore(step, args=ocp.args.Composite(metadata=ocp.args.JsonRestore()))
  return Metadata.from_json(stored["metadata"])


def _key_name(k) -> str:
  for attr in ("key", "name", "idx"):
    if hasattr(k, attr):
      return str(getattr(k, attr))
  return str(k)


def _shapes(tree) -> dict[str, tuple]:
  """Leaf shapes by "params/conv1/kernel"-style paths (a saved dict and the live state agree)."""
  return {"/".join(_key_name(k) for k in p): tuple(leaf.shape)
          for p, leaf in jax.tree_util.tree_leaves_with_path(tree)}


def architecture_mismatch(mngr: ocp.CheckpointManager, step: int, abstract_state) -> str | None:
  """Describes how the checkpoint's parameters differ from the model's; None if they agree.

  Raises if the checkpoint's metadata cannot be read (a damaged checkpoint).
  """
  mngr.wait_until_finished()
  saved = _shapes(mngr.item_metadata(step)["state"])
  wanted = _shapes(abstract_state)
  problems = variables_mismatch(variable_shapes(saved), variable_shapes(wanted))
  if not problems and set(saved) != set(wanted):
    problems.append("the rest of the train state differs (another optimizer, schedule, "
                    "grad_clip_norm, ema_decay or float16's loss scale)")
  return describe(problems)


def variable_shapes(shapes: dict[str, tuple]) -> dict[str, tuple]:
  """The model's variables (params, batch_stats) among "params/..."-style leaf shapes."""
  return {k: v for k, v in shapes.items() if k.startswith(("params/", "batch_stats/"))}


def saved_variable_shapes(mngr: ocp.CheckpointManager, step: int, *,
                          ema: bool = False) -> dict[str, tuple]:
  """Shapes of the model variables a checkpoint holds, from its metadata alone; with ``ema``,
  of their moving average (empty if the run kept none)."""
  mngr.wait_until_finished()  # The step may be a save still in flight.
  shapes = _shapes(mngr.item_metadata(step)["state"])
  if ema:
    shapes = {k[len("ema/"):]: v for k, v in shapes.items() if k.startswith("ema/")}
  return variable_shapes(shapes)


def variables_mismatch(saved: dict[str, tuple], wanted: dict[str, tuple]) -> list[str]:
  """How the checkpoint's leaf shapes differ from the model's, one phrase per leaf."""
  problems = []
  for k in sorted(set(saved) | set(wanted)):
    if k not in saved:
      problems.append(f"{k} {wanted[k]} is not in the checkpoint")
    elif k not in wanted:
      problems.append(f"{k} {saved[k]} is in the checkpoint but not in the model")
    elif saved[k] != wanted[k]:
      problems.append(f"{k}: checkpoint {saved[k]}, model {wanted[k]}")
  return problems


def describe(problems: list[str], limit: int = 6) -> str | None:
  if not problems:
    return None
  more = f" (and {len(problems) - limit} more)" if len(problems) > limit else ""
  return "; ".join(problems[:limit]) + more


def restore_variables(mngr: ocp.CheckpointManager, step: int, abstract_variables: dict) -> dict:
  """Restores only {"params", "batch_stats"} of a checkpoint's state (no optimizer state),
  onto the shardings of ``abstract_variables``."""
  mngr.wait_until_finished()
  path = os.path.join(str(mngr.directory), str(step), "state")
  with ocp.PyTreeCheckpointer() as checkpointer:
    return checkpointer.restore(path, args=ocp.args.PyTreeRestore(
        abstract_variables,
        restore_args=ocp.checkpoint_utils.construct_restore_args(abstract_variables),
        partial_restore=True))


def restore_latest_good(mngr: ocp.CheckpointManager, abstract_state, workdir: str, *,
                        restart: bool = False):
  """Restores the newest readable checkpoint: (state, step), or (None, None) if there is none.

  A damaged newest checkpoint (missing or truncated files) is moved to
  WORKDIR/damaged_checkpoints/ and the previous good one is used, with a warning naming
  both steps. If no checkpoint can be read, this raises unless ``restart`` is set, in
  which case they are all moved aside and training starts from scratch.
  A checkpoint of another architecture is an error, never a reason to start over.
  """
  steps = sorted(mngr.all_steps(), reverse=True)
  damaged = []
  for step in steps:
    try:
      mismatch = architecture_mismatch(mngr, step, abstract_state)
    except Exception as e:  # Unreadable metadata: a damaged checkpoint.
      damaged.append((step, e))
      continue
    if mismatch:
      raise UserError(
          f"The checkpoint at step {step} in {workdir} was written by a different "
          f"architecture than this config builds: {mismatch}. Use the config that wrote "
          "it, or a new --workdir.")
    try:
      state = restore(mngr, step, abstract_state)
    except Exception as e:
      damaged.append((step, e))
      continue
    if damaged:
      _set_aside(mngr, workdir, [s for s, _ in damaged])
      logging.warning("The checkpoint at step %d is damaged (%s: %s); resuming from step %d, "
                      "the latest good one. The damaged one was moved to %s.",
                      damaged[0][0], type(damaged[0][1]).__name__,
                      _brief(damaged[0][1]), step, _aside_dir(workdir))
      print(f"warning: the checkpoint at step {damaged[0][0]} is damaged; resuming from "
            f"step {step}, the latest good one.", flush=True)
    return state, step
  if not damaged:
    return None, None
  listed = ", ".join(str(s) for s, _ in damaged)
  if not restart:
    raise UserError(
        f"No checkpoint in {os.path.join(workdir, 'checkpoints')} can be restored (steps "
        f"{listed}; the latest fails with {type(damaged[0][1]).__name__}: "
        f"{_brief(damaged[0][1])}). Nothing was changed. Re-run with --restart to move them "
        f"to {_aside_dir(workdir)} and train from scratch.")
  _set_aside(mngr, workdir, [s for s, _ in damaged])
  logging.warning("No readable checkpoint (steps %s); --restart: starting from scratch.", listed)
  return None, None


def _brief(e: Exception) -> str:
  text = " ".join(str(e).split())
  return text[:300] + ("..." if len(text) > 300 else "")


def _aside_dir(workdir: str) -> str:
  return os.path.join(os.path.abspath(workdir), "damaged_checkpoints")


def _set_aside(mngr: ocp.CheckpointManager, workdir: str, steps) -> None:
  """Moves damaged step directories out of the manager's view (process 0 does the move)."""
  if jax.process_index() == 0:
    aside = _aside_dir(workdir)
    os.makedirs(aside, exist_ok=True)
    for step in steps:
      src = os.path.join(os.path.abspath(workdir), "checkpoints", str(step))
      dst = os.path.join(aside, f"{step}-{int(time.time())}")
      if os.path.exists(src):
        shutil.move(src, dst)
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices("jaxcnn_set_aside_checkpoints")
  mngr.reload()
