"""Images/s of the streaming input pipeline: reading, decoding and a config's training
preprocessing, over a dataset left on disk (how imagenet2012 is read).

  python -m jaxcnn.tools.bench_input --config=configs/resnet18.py --workers 1 2 --batches 8

By default the dataset is RandomImages/jpeg400 (jaxcnn.data.builders: 512 JPEGs of about
ILSVRC-2012's mean size, ~400x350), prepared on first use under --data_dir; --dataset names
another prepared one (e.g. imagenet2012). For each worker count: the decode-only rate, the
decode + training preprocessing rate (each the median of --rounds passes over --batches
batches straight from ``TrainBatches``, without prefetch) and the rate of evaluation's
centre-crop batches (``eval_batches``, one pass of --batches).
"""

import argparse
import json
import statistics
import time


from jaxcnn import config as config_lib
from jaxcnn.data import pipeline
from jaxcnn.data import sources
from jaxcnn.errors import UserError


def rate(batches: pipeline.TrainBatches, count: int, rounds: int) -> float:
  """Median over ``rounds`` of the images/s of reading ``count`` batches, after one untimed
  batch. Each round reads batches that the others do not, as a run meets new images."""
  batches[0]
  times = []
  for r in range(rounds):
    t = time.perf_counter()
    for k in range(1 + r * count, 1 + (r + 1) * count):
      batches[k]
    times.append(time.perf_counter() - t)
  return count * batches.local_batch / statistics.median(times)


def eval_rate(source, config, batches: int, workers: int) -> float:
  """Images/s of the first ``batches`` centre-crop evaluation batches."""
  preprocess = pipeline.make_preprocess(config.data, train=False)
  it = pipeline.eval_batches(source, config.batch_size, preprocess=preprocess, workers=workers)
  next(it)
  t = time.perf_counter()
  count = sum(len(next(it)["label"]) for _ in range(batches))
  return count / (time.perf_counter() - t)


def run(args) -> list[dict]:
  config = config_lib.load_file(args.config)
  if args.batch:
    config.batch_size = args.batch
  config_lib.validate(config)
  dataset = sources.load(args.dataset, (args.split,), args.data_dir, in_memory="false")
  source = dataset.splits[args.split]
  colour_pca = None
  if config.data.pca_noise:
    colour_pca = pipeline.colour_pca_sampled(source, config.data, None, sample=256)
  preprocess = pipeline.make_preprocess(config.data, train=True, colour_pca=colour_pca)
  results = []
  for workers in args.workers:
    decoded = pipeline.TrainBatches(source, config.batch_size, 0, workers=workers,
                                    preprocess=lambda batch, rng: {"label": batch["label"]})
    full = pipeline.TrainBatches(source, config.batch_size, 0, workers=workers,
                                 preprocess=preprocess)
    shape = full[0]["image"].shape
    results.append({
        "dataset": args.dataset, "config": args.config, "batch": config.batch_size,
        "output": "x".join(map(str, shape[1:])), "workers": workers,
        "decode_img_s": round(rate(decoded, args.batches, args.rounds), 1),
        "decode_preprocess_img_s": round(rate(full, args.batches, args.rounds), 1),
        "eval_img_s": round(eval_rate(source, config, args.batches, workers), 1)})
  return results


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--config", default="configs/resnet18.py",
                      help="configs/X.py[:variant]; its data section is the preprocessing")
  parser.add_argument("--dataset", default="random_images/jpeg400")
  parser.add_argument("--split", default="train")
  parser.add_argument("--data_dir", help="TFDS data_dir (default: TFDS's)")
  parser.add_argument("--workers", type=int, nargs="+", default=[0],
                      help="decoding threads (0: one per CPU); several to compare")
  parser.add_argument("--batch", type=int, help="default: the config's batch_size")
  parser.add_argument("--batches", type=int, default=4, help="timed batches per round")
  parser.add_argument("--rounds", type=int, default=3)
  parser.add_argument("--json", action="store_true")
  args = parser.parse_args(argv)
  try:
    for r in run(args):
      print(json.dumps(r) if args.json else
            f"{r['dataset']} -> {r['output']} ({r['config']}), batch {r['batch']}, "
            f"{r['workers'] or pipeline.num_workers()} workers: decode {r['decode_img_s']} "
            f"img/s, decode + preprocess {r['decode_preprocess_img_s']} img/s, evaluation "
            f"{r['eval_img_s']} img/s", flush=True)
  except UserError as e:
    raise SystemExit(f"error: {e}") from None


if __name__ == "__main__":
  main()
