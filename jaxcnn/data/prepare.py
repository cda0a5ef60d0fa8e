"""Prepares a dataset for training: python -m jaxcnn.data.prepare --dataset=fashion_mnist.

An image folder (--dataset=image_folder:PATH) needs no preparation: this checks it as a run
would and says what it holds."""

import sys

from absl import app
from absl import flags
from absl import logging

from jaxcnn.data import folder
from jaxcnn.data import sources

_DATASET = flags.DEFINE_string("dataset", "fashion_mnist",
                               "TFDS dataset name, or image_folder:PATH.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "TFDS data_dir (default: TFDS's).")


def main(argv):
  del argv
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)
  try:
    if folder.path_of(_DATASET.value):
      print(folder.describe(_DATASET.value))
      return
    builder = sources.get_builder(_DATASET.value, _DATA_DIR.value)
  except sources.DataError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(1)
  splits = ", ".join(f"{name} {info.num_examples:,}" for name, info in
                     sorted(builder.info.splits.items()))
  print(f"{_DATASET.value} is ready in {builder.data_dir} ({splits}).")


if __name__ == "__main__":
  app.run(main)
