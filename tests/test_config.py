"""Config validation and comparison."""

import json
import re

import pytest

from jaxcnn import config as config_lib
from jaxcnn import splits
from jaxcnn.errors import UserError


def test_fields_added_since_a_run_count_as_their_defaults():
  new = json.loads(json.dumps(config_lib.base_config().to_dict()))
  old = json.loads(json.dumps(new))
  del old["conv_impl"], old["data"]["pca_noise"]  # A run written before these existed.
  assert config_lib.differences(old, new) == []
  new["data"]["pca_noise"] = 0.1
  assert config_lib.differences(old, new) == ["data.pca_noise: 0.0 -> 0.1"]


def test_resumable_fields_are_not_differences():
  old = json.loads(json.dumps(config_lib.base_config().to_dict()))
  new = json.loads(json.dumps(old))
  new["log_every_steps"], new["batch_size"] = 7, 64
  assert config_lib.differences(old, new) == ["batch_size: 128 -> 64"]


def _refusal(c):
  try:
    config_lib.validate(c)
  except UserError as e:
    return str(e)
  return None


def test_plateau_needs_a_validation_split_and_never_the_test_split():
  c = config_lib.base_config()
  c.schedule.name = "plateau"
  assert "no validation_split" in _refusal(c)
  c.validation_split = c.eval_split
  assert "validation_split='test' is the evaluation split" in _refusal(c)
  c.train_split, c.validation_split = "train[:-10%]", "train[-10%:]"
  assert _refusal(c) is None


SIZES = {"train": 60_000, "test": 10_000}


def test_split_overlaps_are_counted_on_tfds_slices():
  assert splits.shared("train[:-10%]", "train[-10%:]", SIZES) == 0
  assert splits.shared("train", "train[-10%:]", SIZES) == 6_000
  assert splits.shared("train[:100]+test[:5]", "test[-5000:]+train[50:60]", SIZES) == 10
  assert splits.shared("test[:5000]", "test[-5000:]", SIZES) == 0
  assert splits.shared("test[:5001]", "test[-5000:]", SIZES) == 1


@pytest.mark.parametrize("validation, train, field", [
    ("test[:100]", "train", "eval_split"),          # Part of the test data.
    ("train[-10%:]", "train", "train_split"),       # Still trained on.
    ("train[-10000:]", "train[:55000]", "train_split"),
])
def test_a_validation_split_sharing_examples_is_refused(validation, train, field):
  c = config_lib.base_config()
  c.train_split, c.validation_split = train, validation
  with pytest.raises(UserError, match=rf"validation_split='{re.escape(validation)}' shares "
                     rf"\d+ examples with {field}="):
    splits.check(c, SIZES)
  c.train_split, c.validation_split = "train[:-10000]", "train[-10000:]"
  splits.check(c, SIZES)  # Disjoint from both: accepted.
