"""Training on your own images: --config.dataset=image_folder:PATH (jaxcnn.data.folder), with a
folder of a few hundred small PNGs (and JPEGs) written here."""

import json
import os

import ml_collections
import numpy as np
from PIL import Image
import pytest

from jaxcnn import config as config_lib
from jaxcnn import loading
from jaxcnn import train
from jaxcnn.data import folder
from jaxcnn.data import pipeline
from jaxcnn.data import prepare
from jaxcnn.data import sources
from jaxcnn.tools import predict

CLASSES = ("blue", "green", "red")  # Sorted, as the folder's classes are.


def pixels(split, c, i, size=None):
  """Image i of class c: noise with the class's colour channel raised (a learnable task)."""
  rng = np.random.default_rng([c, i, split == "test"])
  h, w = size or (int(rng.integers(18, 40)), int(rng.integers(18, 40)))
  image = rng.integers(0, 80, (h, w, 3))
  image[..., 2 - c] += 150  # blue, green, red: channels 2, 1, 0.
  return image.astype(np.uint8)


def write(root, counts=(("train", 80), ("test", 20)), size=(16, 16), jpeg_every=0):
  """root/<split>/<class>/<i>.png (every ``jpeg_every``-th a .jpg); returns {path: pixels}."""
  written = {}
  for split, n in counts:
    for c, name in enumerate(CLASSES):
      os.makedirs(os.path.join(root, split, name), exist_ok=True)
      for i in range(n):
        image = pixels(split, c, i, size)
        jpeg = jpeg_every and i % jpeg_every == 0
        path = os.path.join(root, split, name, f"{i:03d}.{'jpg' if jpeg else 'png'}")
        Image.fromarray(image).save(path, quality=95)
        written[path] = image
  return written


def small_config(root, **data):
  c = config_lib.base_config()
  c.dataset = f"image_folder:{root}"
  c.model = "vgg_a"
  c.model_kwargs = ml_collections.ConfigDict({"spec": (8, "M", 16, "M"), "hidden": 32,
                                            "weight_init": "he", "dropout": 0.0})
  c.data.update(mean=(0.5,), std=(0.25,), **data)
  c.batch_size, c.eval_batch_size = 24, 32
  c.num_train_steps, c.log_every_steps, c.checkpoint_every_steps = 30, 10, 30
  c.eval_every_epochs = 100.0
  c.optimizer.learning_rate = 0.02
  return c


def test_train_evaluate_and_predict_on_a_folder_of_pngs(tmp_path, capsys):
  root = str(tmp_path / "pets")
  written = write(root)  # 3 classes x (80 + 20) PNGs of 16x16: decoded into memory.
  ds = sources.load(f"image_folder:{root}", ("train", "test"))
  assert ds.class_names == CLASSES and ds.num_classes == 3
  train_split = ds.splits["train"]
  assert isinstance(train_split, sources.ArraySource)
  assert train_split.images.shape == (240, 16, 16, 3)
  assert np.bincount(train_split.labels).tolist() == [80, 80, 80]
  # The images are the files' pixels, each under its class.
  stored = {(int(label), image.tobytes()) for image, label in zip(train_split.images,
                                                                 train_split.labels)}
  assert stored == {(CLASSES.index(p.split(os.sep)[-2]), image.tobytes())
                    for p, image in written.items() if f"{os.sep}train{os.sep}" in p}

  workdir = str(tmp_path / "run")
  result = train.train_and_evaluate(small_config(root), workdir)
  assert result["eval/count"] == 60 and result["eval/top1"] > 0.9
  run = loading.load_run(workdir)
  assert run.class_names == CLASSES and run.image_shape == (16, 16, 3)
  tests = sorted(p for p in written if f"{os.sep}test{os.sep}" in p)[::7]
  capsys.readouterr()
  predict.main(["--workdir", workdir, "--json", "--top_k", "3"] + tests)
  results = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
  # Predictions are named by the folder's classes, and mostly right.
  assert all({p["class"] for p in r["predictions"]} == set(CLASSES) for r in results)
  right = [r["predictions"][0]["class"] == r["image"].split(os.sep)[-2] for r in results]
  assert np.mean(right) > 0.8


def test_a_folder_of_varying_sizes_is_streamed(tmp_path):
  root = str(tmp_path / "mixed")
  write(root, counts=(("train", 16), ("val", 6)), size=None, jpeg_every=3)
  config = small_config(root, resize=20, image_size=16, train_crop="random", random_flip=True)
  config.eval_split, config.batch_size, config.eval_batch_size = "val", 16, 8
  config.num_train_steps, config.checkpoint_every_steps = 4, 4
  exp = train.Experiment(config)
  assert isinstance(exp.train_source, folder.FileSource)
  assert exp.input_shape == (16, 16, 3) and exp.class_names == CLASSES
  batches = exp.train_batches()
  first = batches[1]
  assert first["image"].shape == (16, 16, 16, 3)
  np.testing.assert_array_equal(first["image"], exp.train_batches()[1]["image"])
  result = train.train_and_evaluate(config, str(tmp_path / "run"))
  assert result["eval/count"] == 18 and np.isfinite(result["eval/loss"])
  # A slice of a split, as for TFDS datasets; data.in_memory=false streams what would fit.
  ds = sources.load(f"image_folder:{root}", ("train[:50%]",), in_memory="false")
  assert len(ds.splits["train[:50%]"]) == 24


def test_prepare_checks_a_folder_and_says_what_it_holds(tmp_path, capsys):
  root = str(tmp_path / "pets")
  write(root, counts=(("train", 4), ("test", 2)))
  with pytest.raises(SystemExit) as exit_:
    prepare.app.run(prepare.main, ["prepare", f"--dataset=image_folder:{root}"])
  assert exit_.value.code in (0, None)
  out = capsys.readouterr().out
  assert f"image_folder:{root} is ready: 3 classes (blue, green, red); test 6, train 12" in out
  assert sources.metadata(f"image_folder:{root}").class_names == CLASSES


def _no_test(root):
  os.rename(os.path.join(root, "test"), os.path.join(root, "valid"))


def _empty_test(root):
  for name in CLASSES:
    for f in os.listdir(os.path.join(root, "test", name)):
      os.remove(os.path.join(root, "test", name, f))


def _extra_class(root):
  os.makedirs(os.path.join(root, "train", "yellow"))
  Image.fromarray(pixels("train", 0, 0)).save(os.path.join(root, "train", "yellow", "y.png"))


def _text_file(root):
  with open(os.path.join(root, "train", "red", "notes.txt"), "w") as f:
    f.write("not an image")


def _damaged_png(root):
  with open(os.path.join(root, "test", "blue", "bad.png"), "wb") as f:
    f.write(b"this is no PNG")


@pytest.mark.parametrize("damage, message", [
    (None, r"There is no folder .*/nowhere \(from --config.dataset=image_folder:.*e\.g\. "),
    (_no_test, r"has no split 'test': it holds train, valid"),
    (_empty_test, r"/test holds no images"),
    (_extra_class, r"class 'yellow' has images in .*/train but none in .*/test/yellow"),
    (_text_file, (r"holds 1 file that is not a JPEG or PNG image: .*/train/red/notes\.txt\. "
                  r"They are refused rather than skipped")),
    (_damaged_png, r"holds 1 file that is not a JPEG or PNG image: .*/test/blue/bad\.png"),
])
def test_a_broken_folder_stops_with_one_clear_error(tmp_path, damage, message):
  root = str(tmp_path / "pets")
  write(root, counts=(("train", 3), ("test", 2)))
  # Hidden files (.DS_Store) are not images, and are ignored.
  open(os.path.join(root, "train", "red", ".DS_Store"), "wb").close()
  if damage is None:
    root = str(tmp_path / "nowhere")
  else:
    damage(root)
  with pytest.raises(sources.DataError, match=message) as error:
    sources.load(f"image_folder:{root}", ("train", "test"))
  assert "\n" not in str(error.value) and root in str(error.value)


def test_in_memory_true_refuses_images_of_varying_size(tmp_path):
  root = str(tmp_path / "mixed")
  write(root, counts=(("train", 3), ("test", 2)), size=None)
  with pytest.raises(sources.UserError, match=r"vary in size .*in_memory=auto"):
    sources.load(f"image_folder:{root}", ("train",), in_memory="true")
  both = sources.load(f"image_folder:{root}", ("train", "test"))
  assert all(isinstance(s, folder.FileSource) for s in both.splits.values())
  first = next(pipeline.eval_batches(both.splits["test"], 6, workers=1,
                                     preprocess=pipeline.make_preprocess(
                                         small_config(root, image_size=12).data, train=False)))
  assert first["image"].shape == (6, 12, 12, 3) and first["mask"].tolist() == [1.0] * 6
