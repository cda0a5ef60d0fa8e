"""Training and evaluation throughput, against PyTorch on the same machine.

  python -m jaxcnn.tools.bench --preset resnet18_cifar --reference=torch
  python -m jaxcnn.tools.bench --config=configs/lenet5.py --steps 20 --json
  python -m jaxcnn.tools.bench --model resnet50 --batch 256 --input_size 224 --dtype bfloat16

For each benchmark: compile time, train- and eval-step images/s (median over timed steps
after warm-up, with min and max), peak memory (device statistics where the backend keeps
them, else the growth of the process's peak RSS), achieved FLOP/s (paper-style multiply-adds
from jaxcnn.tools.summary, x2 for FLOPs, x3 for a training step) as a fraction of the matmul rate
measured here, and the input pipeline's images/s alone, as headroom over the train step.
With ``--reference=torch`` the same architecture is trained in PyTorch in this process,
alternating rounds of jax and torch steps so that both see the same machine load (each turn
starts with a few untimed steps: the steady back-to-back rate is what training gets);
``--versus_native`` alternates in the same way with ``conv_impl=native``.
Synthetic data: the steps are ``train.Experiment``'s, built without a dataset.
"""

import argparse
import json
import resource
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxcnn import config as config_lib
from jaxcnn import sharding
from jaxcnn.tools import summary
from jaxcnn import train
from jaxcnn.data import augment
from jaxcnn.data import pipeline
from jaxcnn.data import sources
from jaxcnn.errors import UserError

# Named cases: Fashion-MNIST-sized (1 channel, padded up to the input size) small variants,
# and CIFAR-shaped ResNet-18 (torchvision's ResNet-18 with a 3x3 stride-1 stem, no max pool).
PRESETS = {
    "lenet5": dict(model="lenet5_modern", batch=128, input_size=28, channels=1),
    "resnet18_cifar": dict(model="resnet18", batch=128, input_size=32, channels=3,
                           model_kwargs={"stem": "cifar"}),
    "alexnet_small": dict(model="alexnet", batch=128, input_size=67, channels=1, width=0.25),
    "vgg11_small": dict(model="vgg_a", batch=128, input_size=32, channels=1, width=0.25),
    "googlenet_small": dict(model="googlenet_torchvision", batch=128, input_size=64,
                            channels=1, width=0.25, model_kwargs={"aux_logits": False}),
    # GPU cases (benchmarks/gpu.sh).
    "resnet50": dict(model="resnet50", batch=256, input_size=224, channels=3, classes=1000,
                     dtype="bfloat16"),
    "vgg16": dict(model="vgg16", batch=128, input_size=224, channels=3, classes=1000,
                  dtype="bfloat16"),
    "alexnet": dict(model="alexnet", batch=256, input_size=227, channels=3, classes=1000,
                    dtype="bfloat16"),
    "googlenet": dict(model="googlenet", batch=256, input_size=224, channels=3, classes=1000,
                      dtype="bfloat16"),
}


def make_config(args):
  """The config to benchmark and (input size, channels, classes)."""
  case = dict(PRESETS[args.preset]) if args.preset else {}
  config = config_lib.load_file(args.config) if args.config else config_lib.base_config()
  if args.preset:
    config.model = case["model"]
    config.width = case.get("width", 1.0)
    config.dtype = case.get("dtype", "float32")
    config.batch_size = case["batch"]
    config.model_kwargs.update(case.get("model_kwargs", {}))
  for field in ("model", "width", "dtype", "conv_impl"):
    if getattr(args, field) is not None:
      config[field] = getattr(args, field)
  if args.batch:
    config.batch_size = args.batch
  channels = args.channels or case.get("channels") or len(config.data.mean)
  size = args.input_size or case.get("input_size") or config.data.image_size or 28
  if size != 28 and channels == 1:
    config.data.image_size = size  # Fashion-MNIST images padded to the model's input.
  config_lib.validate(config)
  return config, size, channels, args.classes or case.get("classes", 10)


def matmul_peak(dtype=jnp.float32) -> float:
  """FLOP/s of a large square matmul on the default device (best of a few)."""
  n = 2048 if jax.default_backend() == "cpu" else 8192  # Big enough to fill the device.
  a = jnp.ones((n, n), dtype)
  f = jax.jit(lambda a: a @ a)
  f(a).block_until_ready()
  best = min(_timed(lambda: f(a).block_until_ready()) for _ in range(5))
  return 2 * n ** 3 / best


def _timed(fn) -> float:
  t = time.perf_counter()
  fn()
  return time.perf_counter() - t


# Untimed steps at the start of each framework's turn in a round. Training runs its steps back
# to back; after the other framework's turn the worker threads have gone idle and the first
# steps run slowly, so timing them would measure the alternation, not the training
# (benchmarks/RESULTS.md gives LeNet-5's step both ways).
_TURN_WARMUP = 3


def _turn(step, n: int) -> list[float]:
  """One framework's turn in a round: untimed steps to get going, then n timed steps."""
  for _ in range(_TURN_WARMUP):
    step()
  return [_timed(step) for _ in range(n)]


def _peak_memory(before_rss_kb: int) -> tuple[float, str]:
  stats = jax.devices()[0].memory_stats() or {}
  if "peak_bytes_in_use" in stats:
    return stats["peak_bytes_in_use"] / 2 ** 20, "device peak"
  now = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
  return (now - before_rss_kb) / 1024, "host peak RSS growth"


class JaxCase:
  """The train and eval steps of train.Experiment on one synthetic batch."""

  def __init__(self, config, size, channels, classes):
    self.batch = config.batch_size
    self.exp = train.Experiment(config, num_classes=classes, input_shape=(size, size, channels))
    rng = np.random.default_rng(0)
    host = {"image": rng.standard_normal((self.batch, size, size, channels), np.float32),
            "label": rng.integers(0, classes, self.batch).astype(np.int32)}
    self.train_batch = sharding.to_global(host, self.exp.mesh)
    self.eval_batch = sharding.to_global({**host, "mask": np.ones(self.batch, np.float32)},
                                         self.exp.mesh)
    self.state = self.exp.init_state()
    t = time.perf_counter()
    self.train_fn = self.exp.train_step.lower(self.state, self.train_batch).compile()
    self.compile_s = time.perf_counter() - t
    self.eval_fn = self.exp.eval_step.lower(self.state, self.eval_batch).compile()

  def train_step(self):
    self.state, metrics = self.train_fn(self.state, self.train_batch)
    jax.block_until_ready(metrics)

  def eval_step(self):
    jax.block_until_ready(self.eval_fn(self.state, self.eval_batch))


def pipeline_rate(config, size, channels, steps: int) -> float:
  """Images/s of TrainBatches with the config's training preprocessing, alone."""
  raw = 28 if channels == 1 else size  # Fashion-MNIST's own size, else the model's.
  n = config.batch_size * 4
  rng = np.random.default_rng(0)
  source = sources.ArraySource(rng.integers(0, 256, (n, raw, raw, channels), np.uint8),
                               rng.integers(0, 10, n).astype(np.int32))
  # PCA colour noise (AlexNet's recipes) needs the split's colour statistics.
  colour_pca = augment.colour_pca(source.images) if config.data.get("pca_noise") else None
  preprocess = pipeline.make_preprocess(config.data, train=True, colour_pca=colour_pca)
  batches = pipeline.TrainBatches(source, config.batch_size, 0, preprocess=preprocess)
  batches[0]
  t = time.perf_counter()
  for k in range(1, steps + 1):
    batches[k]
  return steps * config.batch_size / (time.perf_counter() - t)


def _rates(batch, times):
  rates = [batch / t for t in times]
  return statistics.median(rates), min(rates), max(rates)


def run(args) -> dict:
  config, size, channels, classes = make_config(args)
  rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
  case = JaxCase(config, size, channels, classes)
  model = case.exp.model
  rows = summary.summarize(model, (config.batch_size, size, size, channels))
  macs = next(r.macs for r in rows if r.path == "")
  native_case = None
  if args.versus_native:
    native_config = config.copy_and_resolve_references()
    native_config.conv_impl = "native"
    native_case = JaxCase(native_config, size, channels, classes)
  torch_case = None
  if args.reference == "torch":
    from jaxcnn.tools import bench_torch  # Optional dependency, imported only when asked for.
    torch_case = bench_torch.TorchCase(args.preset or config.model, config, size, channels,
                                       classes)

  for _ in range(args.warmup):
    case.train_step()
    if torch_case:
      torch_case.train_step()
    if native_case:
      native_case.train_step()
  jax_times, torch_times, native_times = [], [], []
  per_round = max(1, args.steps // args.rounds)
  for _ in range(args.rounds):
    jax_times += _turn(case.train_step, per_round)
    if torch_case:
      torch_times += _turn(torch_case.train_step, per_round)
    if native_case:
      native_times += _turn(native_case.train_step, per_round)
  case.eval_step()
  eval_times = [_timed(case.eval_step) for _ in range(per_round)]
  memory_mb, memory_kind = _peak_memory(rss_before)

  peak = matmul_peak(jnp.bfloat16 if config.dtype == "bfloat16" else jnp.float32)
  train_rate, train_min, train_max = _rates(config.batch_size, jax_times)
  eval_rate, eval_min, eval_max = _rates(config.batch_size, eval_times)
  flops = 3 * 2 * macs / config.batch_size * train_rate
  result = {
      "model": args.preset or config.model, "arch": config.model, "batch": config.batch_size,
      "input": f"{size}x{size}x{channels}", "width": config.width, "dtype": config.dtype,
      "conv_impl": config.conv_impl, "device": jax.devices()[0].device_kind,
      "compile_s": round(case.compile_s, 2),
      "jax_img_s": round(train_rate, 1), "jax_img_s_min": round(train_min, 1),
      "jax_img_s_max": round(train_max, 1),
      "eval_img_s": round(eval_rate, 1), "eval_img_s_min": round(eval_min, 1),
      "eval_img_s_max": round(eval_max, 1),
      "gflop_s": round(flops / 1e9, 1), "matmul_peak_gflop_s": round(peak / 1e9, 1),
      "peak_fraction": round(flops / peak, 3),
      "memory_mb": round(memory_mb, 1), "memory_kind": memory_kind,
      "torch_img_s": None, "ratio": None,
  }
  if torch_case:
    torch_rate, torch_min, torch_max = _rates(config.batch_size, torch_times)
    result.update(torch_img_s=round(torch_rate, 1), torch_img_s_min=round(torch_min, 1),
                  torch_img_s_max=round(torch_max, 1), torch_arch=torch_case.description,
                  ratio=round(train_rate / torch_rate, 2))
  if native_case:
    native_rate = _rates(config.batch_size, native_times)[0]
    result.update(native_img_s=round(native_rate, 1), native_compile_s=round(
        native_case.compile_s, 2), versus_native=round(train_rate / native_rate, 2))
  if args.pipeline:
    rate = pipeline_rate(config, size, channels, per_round * 2)
    result.update(pipeline_img_s=round(rate, 1), headroom=round(rate / train_rate, 1))
  return result


def _line(r: dict) -> str:
  parts = [f"{r['model']}: batch {r['batch']} {r['input']} {r['dtype']} conv={r['conv_impl']}",
           f"compile {r['compile_s']} s",
           f"train {r['jax_img_s']} img/s ({r['jax_img_s_min']}-{r['jax_img_s_max']})",
           f"eval {r['eval_img_s']} img/s",
           f"{r['gflop_s']} GFLOP/s = {100 * r['peak_fraction']:.0f}% of "
           f"{r['matmul_peak_gflop_s']} matmul", f"{r['memory_kind']} {r['memory_mb']} MB"]
  if r["torch_img_s"] is not None:
    parts.append(f"torch {r['torch_img_s']} img/s ({r['torch_img_s_min']}-"
                 f"{r['torch_img_s_max']}), ratio {r['ratio']}")
  if "versus_native" in r:
    parts.append(f"native conv {r['native_img_s']} img/s, {r['versus_native']}x")
  if "headroom" in r:
    parts.append(f"pipeline {r['pipeline_img_s']} img/s = {r['headroom']}x")
  return "; ".join(parts)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--preset", action="append", choices=sorted(PRESETS),
                      help="named case; repeat for several")
  parser.add_argument("--config", help="configs/X.py[:variant]")
  parser.add_argument("--model")
  parser.add_argument("--batch", type=int)
  parser.add_argument("--input_size", type=int)
  parser.add_argument("--channels", type=int)
  parser.add_argument("--classes", type=int)
  parser.add_argument("--width", type=float)
  parser.add_argument("--dtype", choices=("float32", "bfloat16", "float16"))
  parser.add_argument("--conv_impl", choices=("auto", "native", "fast"))
  parser.add_argument("--reference", choices=("none", "torch"), default="none")
  parser.add_argument("--steps", type=int, default=12, help="timed train steps")
  parser.add_argument("--rounds", type=int, default=3, help="jax/torch alternations")
  parser.add_argument("--warmup", type=int, default=2)
  parser.add_argument("--versus_native", action="store_true",
                      help="also time conv_impl=native, alternated, and report the speed-up")
  parser.add_argument("--no_pipeline", dest="pipeline", action="store_false")
  parser.add_argument("--json", action="store_true", help="one JSON object per benchmark")
  args = parser.parse_args(argv)
  presets = args.preset or [None]
  try:
    for preset in presets:
      args.preset = preset
      result = run(args)
      print(json.dumps(result) if args.json else _line(result), flush=True)
  except UserError as e:
    raise SystemExit(f"error: {e}") from None


if __name__ == "__main__":
  main()
