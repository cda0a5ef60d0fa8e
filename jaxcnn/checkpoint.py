"""Orbax checkpoints under WORKDIR/checkpoints: the last K, plus the best by eval top-1."""

import os

import orbax.checkpoint as ocp
from orbax.checkpoint.checkpoint_managers import preservation_policy as pp
from ml_collections import ConfigDict

BEST_METRIC = "eval/top1"


def manager(workdir: str, keep: int, *, create: bool = True) -> ocp.CheckpointManager:
  policy = pp.AnyPreservationPolicy([
      pp.LatestN(n=keep),
      pp.BestN(get_metric_fn=lambda m: m[BEST_METRIC], n=1,
               keep_checkpoints_without_metrics=False),
  ])
  options = ocp.CheckpointManagerOptions(
      preservation_policy=policy, create=create, enable_async_checkpointing=False)
  return ocp.CheckpointManager(
      os.path.join(os.path.abspath(workdir), "checkpoints"),
      options=options, item_names=("state", "config"))


def save(mngr: ocp.CheckpointManager, step: int, state, config: ConfigDict,
         metrics: dict | None = None) -> None:
  mngr.save(step, args=ocp.args.Composite(
      state=ocp.args.StandardSave(state),
      config=ocp.args.JsonSave(config.to_dict())), metrics=metrics)


def restore(mngr: ocp.CheckpointManager, step: int, abstract_state):
  """Restores the state at ``step`` onto the shardings of ``abstract_state``."""
  restored = mngr.restore(step, args=ocp.args.Composite(
      state=ocp.args.StandardRestore(abstract_state)))
  return restored["state"]


def restore_config(mngr: ocp.CheckpointManager, step: int) -> dict:
  return mngr.restore(step, args=ocp.args.Composite(config=ocp.args.JsonRestore()))["config"]
