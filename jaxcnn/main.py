"""Command line: python -m jaxcnn.main --config=configs/lenet5.py --workdir=DIR [--mode=eval].

Any config field can be overridden, e.g. --config.optimizer.learning_rate=0.05.
"""

import os
import sys

from jaxcnn import preemption

# Installed before the heavy imports, so that a SIGTERM/SIGINT arriving during set-up is
# honoured at the first step boundary rather than killing the process.
_STOP = preemption.StopRequest()

from absl import app
from absl import flags
from absl import logging
import jax
from ml_collections import config_flags

from jaxcnn import distributed
from jaxcnn import train
from jaxcnn import write_faults
from jaxcnn.errors import UserError

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Experiment config file, optionally with ':variant'.", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints and metrics.")
_MODE = flags.DEFINE_enum("mode", "train", ["train", "eval"],
                          "train (resuming from the latest checkpoint) or eval.")
_STEP = flags.DEFINE_integer("step", None, "--mode=eval: checkpoint step (default: latest).")
_RESTART = flags.DEFINE_boolean(
    "restart", False, "When no checkpoint in the workdir can be restored, move them aside and "
    "train from scratch (without it, the run stops with an error).")
_ALLOW_CONFIG_CHANGE = flags.DEFINE_boolean(
    "allow_config_change", False, "Continue a workdir's run with a config that differs from "
    "the one it started with.")
_COORDINATOR = flags.DEFINE_string(
    "coordinator_address", None, "HOST:PORT of process 0, to run as one process of a cluster.")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "Processes in the cluster.")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "This process's index in the cluster.")
flags.mark_flags_as_required(["config", "workdir"])


def _parse_flags(argv):
  """absl's flag parsing, with config mistakes reported in one paragraph, not a traceback."""
  try:
    args = flags.FLAGS(argv)
    _CONFIG.value.keys()  # The config file loads lazily; fail here if it cannot.
    return args
  except (AttributeError, KeyError) as e:
    # A --config.a.b=... override that names no field of the locked config.
    text = str(e).replace("\\n", "\n").replace("\\'", "'").strip("'\"")
    field, _, hint = text.partition("\n")
    field = field.strip("'")
    bad = [a.split("=", 1)[0] for a in argv[1:]
           if a.startswith("--config.") and field in a.split("=", 1)[0].split(".")]
    message = (f"unknown config field {field!r}" + (f" in {bad[0]}" if bad else "") +
               (f". {hint.strip()}" if hint.strip() else "") +
               " Configs are locked: an override must name a field the config file defines.")
  except flags.Error as e:
    text = str(e)
    if "Traceback" in text:  # An exception raised inside get_config().
      last = [line for line in text.splitlines() if line.strip()][-1]
      text = f"{text.split(':', 1)[0]}: {last.strip()}"
    message = text
  except OSError as e:
    paths = [a.split("=", 1)[1].split(":", 1)[0] for a in argv[1:] if a.startswith("--config=")]
    if paths and not os.path.exists(paths[0]):
      message = f"config file {paths[0]!r} does not exist (the configs are in configs/)."
    else:
      message = " ".join(str(e).split())
  print(f"error: {message}\nPass --helpshort or --helpfull to see help on flags.",
        file=sys.stderr)
  sys.exit(2)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)
  distributed.initialize(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)
  try:
    if _MODE.value == "train":
      train.train_and_evaluate(_CONFIG.value, _WORKDIR.value, restart=_RESTART.value,
                               allow_config_change=_ALLOW_CONFIG_CHANGE.value, stop=_STOP)
    else:
      train.evaluate(_CONFIG.value, _WORKDIR.value, _STEP.value)
  except write_faults.WriteFailed as e:
    print(f"error: {e}", file=sys.stderr, flush=True)
    sys.stdout.flush()
    logging.flush()
    # At interpreter exit, the writes a failed save abandoned would report the fault again.
    os._exit(1)
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(1)


if __name__ == "__main__":
  jax.config.config_with_absl()
  app.run(main, flags_parser=_parse_flags)
