"""The validation split: examples held out of training to decide on, never the test data.

``config.validation_split`` is a TFDS split or slice, as ``train_split`` and ``eval_split``
are; each is read as given, so the validation examples must not be among the training ones
(the results would be chosen on data the network was fitted to) nor among the evaluation
ones (they would be chosen on the test data). TFDS's own slicing (ReadInstruction) turns each
spec into ranges of examples, from which the overlaps are counted.
"""

import collections

from ml_collections import ConfigDict

from jaxcnn.errors import UserError

# What TFDS's ReadInstruction.to_absolute reads of a split's info.
_SplitSize = collections.namedtuple("_SplitSize", "num_examples shard_lengths")


def ranges(spec: str, sizes: dict[str, int]) -> list[tuple[str, int, int]]:
  """(split, start, stop) of each part of ``spec`` ('train[:-10%]+test'), for the split sizes
  ``sizes`` ({'train': 60000, ...})."""
  import tensorflow_datasets as tfds
  infos = {name: _SplitSize(n, [n]) for name, n in sizes.items()}
  try:
    parts = tfds.core.ReadInstruction.from_spec(spec).to_absolute(infos)
  except (ValueError, NotImplementedError) as e:
    raise UserError(f"Cannot read the split {spec!r} ({' '.join(str(e).split())}); the "
                    f"dataset has splits {sorted(sizes)}, which TFDS's slicing syntax cuts "
                    "(e.g. 'train[:-10%]', 'train[-10000:]').") from e
  return [(p.splitname, p.from_ or 0, sizes[p.splitname] if p.to is None else p.to)
          for p in parts]


def shared(a: str, b: str, sizes: dict[str, int]) -> int:
  """The number of examples that the split specs ``a`` and ``b`` both hold."""
  return sum(max(0, min(stop_a, stop_b) - max(start_a, start_b))
             for name_a, start_a, stop_a in ranges(a, sizes)
             for name_b, start_b, stop_b in ranges(b, sizes) if name_a == name_b)


def check(config: ConfigDict, sizes: dict[str, int]) -> None:
  """Raises UserError, naming validation_split, if it shares examples with eval_split or
  train_split; ``sizes``: the dataset's split sizes."""
  val = config.validation_split
  if not val:
    return
  for field in ("eval_split", "train_split"):
    n = shared(val, config[field], sizes)
    if n:
      what = ("the evaluation (test) data: choosing on them would report a result selected "
              "on the test set" if field == "eval_split" else "the training data")
      raise UserError(
          f"validation_split={val!r} shares {n} examples with {field}={config[field]!r}, "
          f"{what}. Carve validation_split out of the training data and leave it out of "
          "train_split, e.g. --config.train_split='train[:-10%]' "
          "--config.validation_split='train[-10%:]'.")
  if not sum(stop - start for _, start, stop in ranges(val, sizes)):
    raise UserError(f"validation_split={val!r} holds no examples; give it a non-empty slice "
                    "of the training data, e.g. 'train[-10%:]'.")
