"""Images/s of the streamed input pipeline: reading, decoding and each paper's transforms,
over a dataset left on disk (how imagenet2012 is read).

  python -m jaxcnn.tools.bench_input --workers 1 2 4 8 --json

By default the dataset is random_images/jpeg400 (jaxcnn.data.builders: 512 JPEGs of about
ILSVRC-2012's mean size, ~400x350), prepared on first use under --data_dir; --dataset names
another prepared one (e.g. imagenet2012). The configs (--config; by default the papers'
transforms: AlexNet's 227 crops with PCA noise, VGG's fixed S and scale jitter, GoogLeNet's
scale and aspect-ratio crops, ResNet's scale augmentation) give the preprocessing. For each
worker count and config, one row: ``decode_img_s``, reading and decoding whole images (the
same for every config of a worker count), ``decode_preprocess_img_s``, with the config's
training preprocessing, each the median of --rounds passes of --batches batches from
``TrainBatches.iterate`` (prefetching, as training reads them), ``cpu_cores``, the cores the
process kept busy meanwhile (the workers, and the reading and batching around them), and
``eval_img_s``, the
batches of the config's evaluation protocol (centre crop, 10-crop or dense) over the split.
"""

import argparse
import contextlib
import json
import resource
import statistics
import sys
import time

import numpy as np

from jaxcnn import config as config_lib
from jaxcnn import evaluate
from jaxcnn import models
from jaxcnn.data import builders  # noqa: F401  (registers random_images with TFDS)
from jaxcnn.data import pipeline
from jaxcnn.data import sources
from jaxcnn.errors import UserError

CONFIGS = ("configs/alexnet.py", "configs/vgg16.py", "configs/vgg16.py:jitter",
           "configs/googlenet.py", "configs/resnet18.py")


def _cpu_seconds() -> float:
  usage = resource.getrusage(resource.RUSAGE_SELF)
  return usage.ru_utime + usage.ru_stime


def rate(batches: pipeline.TrainBatches, count: int, rounds: int) -> tuple[float, float]:
  """Median over ``rounds`` of the images/s of ``count`` consecutive batches of one iterator,
  after one untimed batch (each round meets batches, crops, that the others do not), and the
  cores the process kept busy meanwhile (CPU time over wall time, every thread counted)."""
  it = batches.iterate(0)
  next(it)
  times, cpu = [], _cpu_seconds()
  for _ in range(rounds):
    t = time.perf_counter()
    for _ in range(count):
      next(it)
    times.append(time.perf_counter() - t)
  cores = (_cpu_seconds() - cpu) / sum(times)
  it.close()
  return count * batches.local_batch / statistics.median(times), cores


def eval_rate(source, config, num_classes: int, batches: int, workers: int) -> float:
  """Images/s of the config's evaluation protocol: ``batches`` batches after one (per-image
  protocols: the examples of as many batches, after an eighth of them), real images only."""
  size = config.data.image_size
  model = models.from_config(config, num_classes, (size, size, 3))
  protocol = evaluate.make_protocol(config, model, varying_size=True)
  if protocol.per_image:
    # Each image at its own shape, read as jaxcnn.inference reads them: timed over all but the
    # first eighth of the examples (the start-up), not in batches, which would leave a short
    # last batch timed alone on a small split.
    n = min((batches + 1) * config.eval_batch_size, len(source))
    examples = pipeline.eval_examples(source, np.arange(n), protocol.preprocess,
                                      workers=workers)
    for _ in zip(range(max(1, n // 8)), examples):
      pass
    t = time.perf_counter()
    count = sum(1 for _ in examples)
    elapsed = time.perf_counter() - t
    examples.close()
    return count / elapsed if count else float("nan")
  # Batches no larger than lets ``batches`` full ones follow the first on this split (a
  # small split and a large eval_batch_size would time one padded batch).
  batch = max(1, min(config.eval_batch_size, len(source) // (batches + 1)))
  it = pipeline.eval_batches(source, batch, preprocess=protocol.preprocess, workers=workers)
  next(it)
  t = time.perf_counter()
  count = sum(int(b["mask"].sum()) for _, b in zip(range(batches), it))
  it.close()
  return count / (time.perf_counter() - t) if count else float("nan")


def run(args) -> list[dict]:
  with contextlib.redirect_stdout(sys.stderr):  # TFDS reports its preparation on stdout.
    dataset = sources.load(args.dataset, (args.split,), args.data_dir, in_memory="false")
  source = dataset.splits[args.split]
  configs = []
  for path in args.config:
    config = config_lib.load_file(path)
    if args.batch:
      config.batch_size = config.eval_batch_size = args.batch
    config_lib.validate(config)
    colour_pca = None
    if config.data.pca_noise:
      colour_pca = pipeline.colour_pca_sampled(source, config.data, None, sample=256)
    configs.append((path, config, pipeline.make_preprocess(config.data, train=True,
                                                           colour_pca=colour_pca)))
  batch = configs[0][1].batch_size
  results = []
  for workers in args.workers:
    decoded = pipeline.TrainBatches(source, batch, 0, workers=workers,
                                    preprocess=pipeline.DecodeOnly())
    decode_rate = round(rate(decoded, args.batches, args.rounds)[0], 1)
    for path, config, preprocess in configs:
      full = pipeline.TrainBatches(source, config.batch_size, 0, workers=workers,
                                   preprocess=preprocess)
      shape = full[0]["image"].shape
      full_rate, cores = rate(full, args.batches, args.rounds)
      results.append({
          "dataset": args.dataset, "config": path, "train_crop": config.data.train_crop,
          "eval_protocol": config.eval_protocol, "batch": config.batch_size,
          "output": "x".join(map(str, shape[1:])), "workers": workers,
          "decode_img_s": decode_rate,
          "decode_preprocess_img_s": round(full_rate, 1), "cpu_cores": round(cores, 2),
          "eval_img_s": round(eval_rate(source, config, dataset.num_classes, args.batches,
                                        workers), 1)})
  return results


def main(argv=None):
  parser = argparse.ArgumentParser(prog="python -m jaxcnn.tools.bench_input",
                                   description=__doc__.splitlines()[0])
  parser.add_argument("--config", nargs="+", default=list(CONFIGS),
                      help="configs/X.py[:variant]; their data sections are the preprocessing")
  parser.add_argument("--dataset", default="random_images/jpeg400")
  parser.add_argument("--split", default="train")
  parser.add_argument("--data_dir", help="TFDS data_dir (default: TFDS's)")
  parser.add_argument("--workers", type=int, nargs="+", default=[0],
                      help="decoding threads (0: one per CPU); several to compare")
  parser.add_argument("--batch", type=int, help="default: each config's batch_size")
  parser.add_argument("--batches", type=int, default=4, help="timed batches per round")
  parser.add_argument("--rounds", type=int, default=3)
  parser.add_argument("--json", action="store_true")
  args = parser.parse_args(argv)
  try:
    for r in run(args):
      print(json.dumps(r) if args.json else
            f"{r['dataset']} -> {r['output']} ({r['config']}, {r['train_crop']}), batch "
            f"{r['batch']}, {r['workers'] or pipeline.num_workers()} workers: decode "
            f"{r['decode_img_s']} img/s, decode + preprocess {r['decode_preprocess_img_s']} "
            f"img/s on {r['cpu_cores']} cores, evaluation ({r['eval_protocol']}) "
            f"{r['eval_img_s']} img/s", flush=True)
  except UserError as e:
    raise SystemExit(f"error: {e}") from None


if __name__ == "__main__":
  main()
