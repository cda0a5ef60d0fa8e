"""Streamed sources through tf.data: read, decode and preprocess on every core, ahead of use.

A streamed source (``sources.StreamSource``: a TFDS split left in its array_record files;
``folder.FileSource``: image files) is read a batch of indices at a time, then each example
is decoded and preprocessed by ``transforms_tf`` in a parallel map over TF's thread pool, with
no Python per example: a JPEG is decoded only in the window the transform needs
(decode_and_crop_jpeg), and resampled in C++. Batches are prepared ``prefetch`` ahead in
TF's own threads while the train step runs.

Determinism: the map keeps the order of its inputs, and example i of global batch k draws its
augmentation from stateless generators keyed by (seed, k, i) (``transforms_tf.example_key``),
so batch k depends on (seed, k) alone, whatever the number of processes, devices and
workers; each process reads only its share of the indices (``pipeline.TrainBatches``).

Why tf.data and not grain: grain parallelises Python functions in worker processes, so its
examples would still be decoded whole by PIL and resampled by numpy, one process per core,
each holding its own memory; tf.data runs the whole per-example graph in C++ threads of one
process, where TF's decoder crops JPEGs as it decodes them. Measured side by side on the
generated JPEGs (``builders.RandomImages`` jpeg400, ResNet's and GoogLeNet's transforms, the
two taking turns in each round on a shared machine), tf.data was the faster at every worker
count tried.
"""

import atexit
import re
from collections.abc import Callable, Iterator
import weakref

import numpy as np
import tensorflow as tf

from jaxcnn.data import transforms_tf
from jaxcnn.errors import UserError

# The input pipeline runs on the host; accelerators belong to JAX (unless TF was already
# using them, which it may keep doing). Its parallelism is across examples (``workers``):
# without one thread per op, kernels such as the resampler also split each example over TF's
# intra-op pool, whose hand-offs cost more than they give (two workers on 2 cores: 860-1,070
# against 1,150-1,310 img/s, benchmarks/RESULTS.md), and tf.data's max_intra_op_parallelism
# does not stop them. (Unless TF already started.)
for _setting in (lambda: tf.config.set_visible_devices([], "GPU"),
                 lambda: tf.config.threading.set_intra_op_parallelism_threads(1)):
  try:
    _setting()
  except RuntimeError:
    pass

Batch = dict[str, np.ndarray]


def options(workers: int) -> tf.data.Options:
  """Deterministic order; ``workers`` threads (0: TF's default, one per core), each op on
  one thread, so that the parallelism is across examples."""
  o = tf.data.Options()
  o.deterministic = True
  o.threading.private_threadpool_size = workers
  o.threading.max_intra_op_parallelism = 1
  return o


def _fetch(source, indices, step, positions):
  """One group's payloads (records or paths) and labels, read by ``source.fetch``."""
  payloads, labels = tf.py_function(lambda i: source.fetch(i.numpy()), [indices],
                                    [tf.string, tf.int32])
  payloads.set_shape(indices.shape)
  labels.set_shape(indices.shape)
  return tf.fill(tf.shape(indices), step), positions, payloads, labels


def dataset(source, groups: tf.data.Dataset, batch: int | None, prepare: Callable, *,
            workers: int = 0, prefetch: int = 2) -> tf.data.Dataset:
  """Batches of ``prepare(step, position, image, label)`` over ``groups``, a dataset of
  (indices [batch], step, positions [batch]): one group, one batch, in order (``batch`` None:
  the examples one at a time, each of its own shape, ``prefetch`` groups' worth ahead).

  Reading a group is one call into Python (array_record reads the records together);
  decoding and preprocessing run per example over ``workers`` threads."""
  plain = tf.autograph.experimental.do_not_convert  # Graph code written as such.
  ds = groups.map(plain(lambda i, k, p: _fetch(source, i, k, p)), num_parallel_calls=2,
                  deterministic=True)

  @plain
  def one(step, position, payload, label):
    image, label = source.tf_example(payload, label)
    return prepare(step, position, image, label)

  ds = ds.unbatch().map(one, num_parallel_calls=workers or tf.data.AUTOTUNE,
                        deterministic=True)
  if batch is None:
    return ds.prefetch(prefetch * groups.element_spec[0].shape[0]).with_options(
        options(workers))
  return ds.batch(batch).prefetch(prefetch).with_options(options(workers))


_OPEN = weakref.WeakSet()


@atexit.register
def _close_all():
  # An iterator still prefetching at exit calls into Python (py_function) while the
  # interpreter shuts down, and the process hangs: stop them while Python still runs.
  for batches in list(_OPEN):
    batches.close()


def numpy_batches(ds: tf.data.Dataset) -> Iterator[Batch]:
  """The batches of ``ds`` as numpy arrays; the data faults TF reports become UserError.
  Closing the generator (or the end of the program) stops the prefetching."""
  generator = _numpy_batches(ds)
  _OPEN.add(generator)
  return generator


def _numpy_batches(ds):
  it = ds.as_numpy_iterator()
  while True:
    try:
      batch = next(it)
    except StopIteration:
      return
    except tf.errors.OpError as e:
      raise UserError(describe(e)) from None
    yield batch


def describe(e: "tf.errors.OpError") -> str:
  """One paragraph for the data fault behind a tf.data error."""
  message = re.sub(r"\{\{function_node [^}]*\}\}|\[Op:\w+\]( name:)?", "", e.message)
  message = " ".join(message.split())
  if transforms_tf.CHECK in message:
    text = message.split(transforms_tf.CHECK, 1)[1].split("]")[0]
    return text[0].upper() + text[1:]
  if "Cannot add tensor to the batch" in message or "Cannot batch tensors" in message:
    return ("Preprocessed images of different shapes cannot share a batch: the dataset's "
            "images vary in size. Set data.image_size (the crop side) and, for 10-crop or "
            "dense evaluation, data.resize or eval_scales.")
  return (f"Reading or decoding a streamed example failed ({message[:300]}). The dataset's "
          "files may be damaged: prepare it again, or replace the damaged image.")


def _whole(image) -> dict:
  """The image as stored, without preprocessing."""
  shape = image.shape()
  return {"image": image.window(0, 0, shape[0], shape[1])}


def train_batches(batches, start: int, stop: int | None = None,
                  prefetch: int = 2) -> Iterator[Batch]:
  """Local batches ``start``, ``start`` + 1, ... (up to ``stop``) of a ``TrainBatches``."""
  b = batches
  steps = (tf.data.Dataset.range(start, stop) if stop is not None
           else tf.data.Dataset.counter(start))

  def group(step):
    indices = tf.py_function(lambda k: b.indices(int(k)), [step], tf.int64)
    indices.set_shape([b.local_batch])
    return indices, step, b.offset + tf.range(b.local_batch, dtype=tf.int64)

  def prepare(step, position, image, label):
    key = transforms_tf.example_key(b.seed, step, position)
    out = b.preprocess.tf_example(image, key) if b.preprocess is not None else _whole(image)
    return {**out, "label": label}

  groups = steps.map(tf.autograph.experimental.do_not_convert(group))
  ds = dataset(b.source, groups, b.local_batch, prepare, workers=b.workers, prefetch=prefetch)
  return numpy_batches(ds)


def _for_evaluation(preprocess) -> Callable:
  """``dataset``'s prepare for evaluation: the example preprocessed without randomness (or
  whole, with no preprocessing)."""
  def prepare(step, position, image, label):
    out = preprocess.tf_example(image) if preprocess is not None else _whole(image)
    return {**out, "label": label}
  return prepare


def _unkeyed(index_groups: tf.data.Dataset) -> tf.data.Dataset:
  """Groups of indices as ``dataset`` takes them, with step 0 and positions 0: evaluation
  draws nothing at random, so no example key is needed."""
  return index_groups.map(tf.autograph.experimental.do_not_convert(
      lambda i: (i, tf.constant(0, tf.int64), tf.zeros_like(i))))


def index_examples(source, indices: np.ndarray, preprocess, *, workers: int = 0,
                   chunk: int = 16, prefetch: int = 2) -> Iterator[Batch]:
  """The examples at ``indices``, in order, each preprocessed for evaluation and yielded as a
  batch of one: images that keep shapes of their own (dense evaluation; jaxcnn.inference).
  Read ``chunk`` records at a time, decoded and preprocessed over ``workers`` threads."""
  indices = np.asarray(indices, np.int64)
  if not len(indices):  # (A process's empty share: a generator all the same, closable.)
    return (example for example in ())
  chunk = max(1, min(chunk, len(indices)))
  padded = np.concatenate([indices, np.full(-len(indices) % chunk, indices[-1])])
  groups = _unkeyed(tf.data.Dataset.from_tensor_slices(padded.reshape(-1, chunk)))

  examples = numpy_batches(dataset(source, groups, None, _for_evaluation(preprocess),
                                   workers=workers, prefetch=prefetch))
  return _as_batches_of_one(examples, len(indices))


def _as_batches_of_one(examples, n):
  try:
    for _, example in zip(range(n), examples):  # The padding of the last chunk dropped.
      yield {k: tuple(v[None] for v in value) if isinstance(value, tuple) else value[None]
             for k, value in example.items()}
  finally:
    examples.close()


def index_batches(source, index_groups: list[np.ndarray], preprocess, *, workers: int = 0,
                  prefetch: int = 2) -> Iterator[Batch]:
  """One batch per array of ``index_groups`` (all of one size but perhaps the last), each
  example preprocessed for evaluation (no randomness)."""
  sizes = {len(g) for g in index_groups[:-1]}
  size = sizes.pop() if sizes else len(index_groups[-1]) if index_groups else 1
  flat = np.concatenate(index_groups).astype(np.int64) if index_groups else np.zeros(0, int)
  groups = _unkeyed(tf.data.Dataset.from_tensor_slices(flat).batch(size))
  return numpy_batches(dataset(source, groups, size, _for_evaluation(preprocess),
                               workers=workers, prefetch=prefetch))
