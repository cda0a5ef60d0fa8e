"""Prepares a dataset for training: python -m jaxcnn.data.prepare --dataset=fashion_mnist."""

import sys

from absl import app
from absl import flags
from absl import logging

from jaxcnn.data import sources

_DATASET = flags.DEFINE_string("dataset", "fashion_mnist", "TFDS dataset name.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "TFDS data_dir (default: TFDS's).")


def main(argv):
  del argv
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)
  try:
    builder = sources.get_builder(_DATASET.value, _DATA_DIR.value)
  except sources.DataError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(1)
  splits = ", ".join(f"{name} {info.num_examples:,}" for name, info in
                     sorted(builder.info.splits.items()))
  print(f"{_DATASET.value} is ready in {builder.data_dir} ({splits}).")


if __name__ == "__main__":
  app.run(main)
