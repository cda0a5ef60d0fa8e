"""A thread pool that reads, decodes and preprocesses examples of a streamed source in numpy,
for the evaluation preprocessings that have no TensorFlow form (GoogLeNet's multi-crop
squares); everything else streams through tf.data (jaxcnn.data.stream)."""

import concurrent.futures
from typing import Callable, Iterator

import numpy as np

from jaxcnn.data.pipeline import Batch, num_workers
from jaxcnn.data.sources import Source
from jaxcnn.errors import UserError


def _stack(examples: list[Batch]) -> Batch:
  """Concatenates batches of one; a tuple value (dense evaluation's scales) per element."""
  def join(values):
    shapes = {v.shape[1:] for v in values}
    if len(shapes) > 1:
      raise UserError(
          f"Preprocessed images of different shapes {sorted(shapes)[:4]} cannot share a "
          "batch: the dataset's images vary in size. Set data.image_size (the crop side) and, "
          "for 10-crop or dense evaluation, data.resize or eval_scales.")
    return np.concatenate(values)

  return {key: tuple(join([e[key][j] for e in examples]) for j in range(len(value)))
          if isinstance(value, tuple) else join([e[key] for e in examples])
          for key, value in examples[0].items()}


class ExampleReader:
  """Threads that read, decode and preprocess the examples of a streamed source.

  Each thread reads a contiguous run of a batch's indices with one call (array_record fetches
  them together), then decodes and preprocesses them one at a time; PIL's decoding and numpy's
  resampling release the GIL, so the threads run in parallel.
  """

  def __init__(self, source: Source, workers: int = 0):
    self.source = source
    self.workers = num_workers(workers)
    self._pool = concurrent.futures.ThreadPoolExecutor(self.workers,
                                                       thread_name_prefix="decode")

  def __call__(self, indices, fn: Callable[[Batch, int], Batch], *, stack: bool = True):
    """``fn(batch of one, position in indices)`` of each example, stacked (or, with
    stack=False, as a list: images that keep shapes of their own)."""
    indices = np.asarray(indices)
    runs = [r for r in np.array_split(np.arange(len(indices)), self.workers) if len(r)]

    def work(positions):
      return [fn({"image": image[None], "label": np.array([label], np.int32)}, int(p))
              for p, (image, label) in zip(positions, self.source.read(indices[positions]))]

    examples = [e for part in self._pool.map(work, runs) for e in part]
    return _stack(examples) if stack else examples

  def close(self) -> None:
    self._pool.shutdown(wait=False, cancel_futures=True)


def numpy_batches(source: Source, groups: list, preprocess, workers: int, *,
                  stack: bool = True) -> Iterator[Batch | list[Batch]]:
  """``preprocess`` of the examples at each array of indices in ``groups``, stacked (or, with
  stack=False, a list of batches of one)."""
  read = ExampleReader(source, workers)
  try:
    for indices in groups:
      yield read(indices, lambda example, _: preprocess(example), stack=stack)
  finally:
    read.close()
