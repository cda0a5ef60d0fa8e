"""Config validation and comparison."""

import json

from jaxcnn import config as config_lib


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
