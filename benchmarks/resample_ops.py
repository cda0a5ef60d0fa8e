"""Per-op cost of the streamed transforms' pieces on one thread: TF's resamplers (one
ScaleAndTranslate call, and transforms_tf.resample_region's call per axis), the cast,
the per-channel normalisation and the flip, on 224x224x3 outputs of 300x300 uint8 regions.

  python benchmarks/resample_ops.py
"""

import time

import numpy as np
import tensorflow as tf

from jaxcnn.data.transforms_tf import resample_region

tf.config.threading.set_intra_op_parallelism_threads(1)  # As the pipeline (stream.py).
REGIONS = tf.constant(np.random.default_rng(0).integers(0, 255, (64, 300, 300, 3), np.uint8))
SIZE = [224, 224]


def bench(name, fn, rounds=5):
  ds = tf.data.Dataset.from_tensor_slices(REGIONS).repeat(8).map(fn, num_parallel_calls=1)
  options = tf.data.Options()
  options.threading.private_threadpool_size = 1
  options.threading.max_intra_op_parallelism = 1
  ds = ds.batch(64).with_options(options)
  for _ in ds.take(1):
    pass
  best = float("inf")
  for _ in range(rounds):
    start, count = time.perf_counter(), 0
    for _ in ds:
      count += 64
    best = min(best, time.perf_counter() - start)
  print(f"{name:36s} {1e3 * best / count:6.3f} ms/image", flush=True)


def scale_and_translate(region, scale, antialias):
  return tf.raw_ops.ScaleAndTranslate(images=region[None], size=SIZE, scale=[scale, scale],
                                      translation=[0.0, 0.0], kernel_type="triangle",
                                      antialias=antialias)[0]


def main():
  cast = lambda r: tf.cast(r[:224, :224], tf.float32)
  bench("crop + cast to float32", cast)
  for scale in (0.75, 1.3):
    side = int(224 / scale)
    bench(f"ScaleAndTranslate, antialias, x{scale}",
          lambda r: scale_and_translate(r[:side, :side], scale, True))
    bench(f"resample_region (per axis), x{scale}",
          lambda r: resample_region(r[:side, :side], tf.constant(SIZE), tf.constant([scale] * 2),
                                    tf.zeros([2])))
    bench(f"ScaleAndTranslate, float input, x{scale}",
          lambda r: scale_and_translate(tf.cast(r[:side, :side], tf.float32), scale, True))
    bench(f"bilinear tf.image.resize, x{scale}",
          lambda r: tf.image.resize(r[None, :side, :side], SIZE, method="bilinear")[0])
  scale, shift = tf.constant([1.0, 2.0, 3.0]), tf.constant([4.0, 5.0, 6.0])
  bench("cast + broadcast [C] multiply-add", lambda r: cast(r) * scale + shift)

  def rows(r):
    x = cast(r)
    shape = tf.shape(x)
    y = tf.reshape(x, [shape[0], -1]) * tf.tile(scale, [shape[1]]) + tf.tile(shift, [shape[1]])
    return tf.reshape(y, shape)
  bench("cast + multiply-add by rows", rows)
  bench("cast + flip by [:, ::-1]", lambda r: cast(r)[:, ::-1])
  bench("cast + flip by tf.reverse", lambda r: tf.reverse(cast(r), [1]))


if __name__ == "__main__":
  main()
