import numpy as np
import pytest

from jaxcnn import config as config_lib
from jaxcnn.data import pipeline
from jaxcnn.data.sources import ArraySource


def make_source(n=100):
  return ArraySource(np.arange(n, dtype=np.uint8).reshape(n, 1, 1, 1).repeat(4, 1).repeat(4, 2),
                     np.arange(n, dtype=np.int32))


def test_same_seed_same_batches_and_other_seed_differs():
  src = make_source()
  a = pipeline.TrainBatches(src, 16, seed=3)
  b = pipeline.TrainBatches(src, 16, seed=3)
  c = pipeline.TrainBatches(src, 16, seed=4)
  for k in range(20):
    np.testing.assert_array_equal(a[k]["label"], b[k]["label"])
  assert any((a[k]["label"] != c[k]["label"]).any() for k in range(5))


def test_each_epoch_is_a_permutation_with_a_fresh_order():
  n, batch = 100, 20  # 5 steps per epoch.
  batches = pipeline.TrainBatches(make_source(n), batch, seed=0)
  epoch0 = np.concatenate([batches[k]["label"] for k in range(5)])
  epoch1 = np.concatenate([batches[k]["label"] for k in range(5, 10)])
  assert sorted(epoch0) == list(range(n)) and sorted(epoch1) == list(range(n))
  assert (epoch0 != epoch1).any()


def test_global_batch_independent_of_process_count():
  src = make_source(90)  # Batches straddle epoch boundaries: 90 is not a multiple of 24.
  single = pipeline.TrainBatches(src, 24, seed=7)
  shards = [pipeline.TrainBatches(src, 24, seed=7, process_index=p, process_count=4)
            for p in range(4)]
  for k in range(12):
    joined = np.concatenate([s[k]["label"] for s in shards])
    np.testing.assert_array_equal(joined, single[k]["label"])


def test_iterate_resumes_at_any_step_with_the_same_batches():
  batches = pipeline.TrainBatches(make_source(), 8, seed=1)
  it = batches.iterate(start_step=37)
  for k in range(37, 45):
    np.testing.assert_array_equal(next(it)["label"], batches[k]["label"])


def test_augmentation_is_a_function_of_seed_and_step():
  data = config_lib.base_config().data
  data.random_crop_padding, data.random_flip = 2, True
  rng_images = np.random.default_rng(0).integers(0, 255, (50, 8, 8, 1), dtype=np.uint8)
  src = ArraySource(rng_images, np.arange(50, dtype=np.int32))
  prep = pipeline.make_preprocess(data, train=True)
  a = pipeline.TrainBatches(src, 10, seed=5, preprocess=prep)
  b = pipeline.TrainBatches(src, 10, seed=5, preprocess=prep)
  np.testing.assert_array_equal(a[3]["image"], b[3]["image"])
  assert a[3]["image"].shape == (10, 8, 8, 1)


@pytest.mark.parametrize("process_count", [1, 2])
def test_eval_covers_every_example_once_and_masks_padding(process_count):
  src = make_source(100)
  seen, real = [], 0
  for p in range(process_count):
    for batch in pipeline.eval_batches(src, 32, process_index=p, process_count=process_count):
      assert batch["label"].shape == (32 // process_count,)
      seen.extend(batch["label"][batch["mask"] == 1].tolist())
      real += int(batch["mask"].sum())
  assert sorted(seen) == list(range(100)) and real == 100
  assert pipeline.num_eval_batches(100, 32) == 4  # 3 full batches + 4 real rows.


def test_batch_not_divisible_by_processes_is_an_error():
  with pytest.raises(ValueError, match="not divisible"):
    pipeline.TrainBatches(make_source(), 10, seed=0, process_index=0, process_count=3)
