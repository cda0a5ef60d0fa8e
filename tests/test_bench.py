"""The benchmark harnesses on a tiny LeNet-5: throughput against its PyTorch twin, and the
training stall of a checkpoint save."""

import json
import os

import pytest

from jaxcnn.tools import bench
from jaxcnn.tools import bench_checkpoint


def test_json_result_for_a_tiny_lenet(capsys):
  pytest.importorskip("torch")
  bench.main(["--preset", "lenet5", "--width", "0.5", "--batch", "16", "--steps", "2",
              "--rounds", "2", "--warmup", "1", "--reference=torch", "--versus_native", "--json"])
  result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
  assert (result["model"], result["batch"], result["input"]) == ("lenet5", 16, "28x28x1")
  for key in ("jax_img_s", "torch_img_s", "eval_img_s", "compile_s", "pipeline_img_s",
              "matmul_peak_gflop_s"):
    assert result[key] > 0, key
  assert result["jax_img_s_min"] <= result["jax_img_s"] <= result["jax_img_s_max"]
  # Ratios are printed to 2 decimals (headroom to 1), rates to 0.1 img/s: compare to that precision.
  assert result["ratio"] == pytest.approx(result["jax_img_s"] / result["torch_img_s"],
                                          rel=0.01, abs=0.0051)
  assert result["versus_native"] == pytest.approx(result["jax_img_s"] / result["native_img_s"],
                                                  rel=0.01, abs=0.0051)
  assert result["headroom"] == pytest.approx(result["pipeline_img_s"] / result["jax_img_s"],
                                             rel=0.01, abs=0.051)
  # Achieved FLOP/s is a fraction of what a large matmul reaches on the same device.
  assert 0 < result["peak_fraction"] < 1


def test_config_file_and_overrides():
  parser_args = type("Args", (), dict(preset=None, config="configs/lenet5.py:tiny", model=None,
                                      width=None, dtype="bfloat16", conv_impl="native", batch=64,
                                      input_size=None, channels=None, classes=None))
  config, size, channels, classes = bench.make_config(parser_args)
  assert (config.model, config.width, config.dtype, config.conv_impl) == \
      ("lenet5_modern", 0.5, "bfloat16", "native")
  assert (config.batch_size, size, channels, classes) == (64, 28, 1, 10)


def test_checkpoint_stall_of_a_tiny_lenet(capsys, tmp_path):
  bench_checkpoint.main(["--config=configs/lenet5.py:tiny", "--batch", "8", "--steps", "2",
                         "--warmup", "1", "--saves", "2", "--dir", str(tmp_path), "--json"])
  rows = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
  assert [r["mode"] for r in rows] == ["async", "sync"]
  for r in rows:
    assert (r["case"], r["batch"], r["input"], r["saves"]) == ("configs/lenet5.py:tiny", 8,
                                                                "28x28x1", 2)
    assert r["state_mb"] > 0 and r["step_ms"] > 0 and r["save_call_ms"] > 0
    assert r["saving_step_ms"] > r["save_call_ms"]
    assert r["stall_ms"] == pytest.approx(r["saving_step_ms"] - r["step_ms"], abs=0.15)
    assert r["committed_s"] * 1e3 >= r["save_call_ms"] - 0.6
  assert rows[1]["steps_while_writing"] == 0  # A synchronous save is committed on return.
  assert os.listdir(tmp_path) == []  # The checkpoints are removed.
  assert "stall ms" in bench_checkpoint.table(rows)
