"""python -m jaxcnn.tools.predict: image files in, the evaluation's predictions out."""

import json

import jax
import numpy as np
from PIL import Image
import pytest

from jaxcnn import checkpoint
from jaxcnn import evaluate
from jaxcnn import inference
from jaxcnn import loading
from jaxcnn.tools import predict
from jaxcnn import train
from jaxcnn.data import builders
from jaxcnn.data import pipeline
from jaxcnn.data import sources
from jaxcnn.errors import UserError
from tests import test_stream
from tests.tolerance import assert_close


def test_predictions_on_test_images_match_the_evaluation(trained_run, data_dir, tmp_path,
                                                         capsys, no_inference):
  workdir, metrics = trained_run
  test = sources.load("fashion_mnist", ("test",), data_dir).splits["test"]
  paths = []
  for i, image in enumerate(test.images):
    paths.append(str(tmp_path / f"{i}.png"))
    Image.fromarray(image[:, :, 0]).save(paths[-1])
  # 300 images in batches of 128: the last one is padded.
  predict.main(["--workdir", workdir, "--json", "--batch_size", "128"] + paths)
  results = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
  assert [r["image"] for r in results] == paths
  top1 = [r["predictions"][0]["label"] for r in results]
  accuracy = np.mean(np.array(top1) == test.labels)
  assert accuracy > 0.8  # Most test images get their true class...
  assert abs(accuracy - metrics["eval/top1"]) <= 0.01  # ...as often as in the evaluation.
  first = results[0]["predictions"]
  assert len(first) == 5 and first[0]["probability"] >= first[1]["probability"]
  assert sum(p["probability"] for p in first) <= 1.0 + 1e-6
  assert first[0]["class"] == builders.FASHION_MNIST_CLASSES[first[0]["label"]]

  predict.main(["--workdir", workdir, "--top_k", "3", paths[0], paths[1]])
  lines = capsys.readouterr().out.splitlines()
  assert lines[0] == paths[0] and lines[4] == paths[1] and len(lines) == 8
  name = results[0]["predictions"][0]["class"]
  assert lines[1].split()[1:] == name.split() + [f"({results[0]['predictions'][0]['label']})"]


def test_class_names_are_the_checkpoints(config, tmp_path, capsys, no_inference):
  # Names in the metadata other than the dataset's (Fashion-MNIST's) are the ones printed.
  names = [f"kind {i}" for i in range(10)]
  exp = train.Experiment(config, train=False, num_classes=10, input_shape=(28, 28, 1),
                         class_names=names, devices=jax.devices()[:1])
  mngr = checkpoint.manager(str(tmp_path / "run"), keep=1)
  checkpoint.save(mngr, 0, exp.init_state(), config, metadata=exp.metadata())
  mngr.wait_until_finished()
  Image.fromarray(np.full((28, 28), 128, np.uint8)).save(tmp_path / "gray.png")
  args = ["--workdir", str(tmp_path / "run"), "--top_k", "10", str(tmp_path / "gray.png")]
  predict.main(["--json"] + args)
  predictions = json.loads(capsys.readouterr().out)["predictions"]
  assert sorted(p["label"] for p in predictions) == list(range(10))
  assert all(p["class"] == names[p["label"]] for p in predictions)
  predict.main(args)
  lines = capsys.readouterr().out.splitlines()
  assert [line.split("%", 1)[1].split()[:2] for line in lines[1:]] == \
      [["kind", str(p["label"])] for p in predictions]


def test_any_size_and_channel_count_becomes_the_dataset_layout(tmp_path):
  gray = (np.arange(28 * 28).reshape(28, 28) % 251).astype(np.uint8)
  Image.fromarray(np.stack([gray] * 3, -1)).save(tmp_path / "rgb.png")
  Image.fromarray(np.stack([gray] * 3 + [np.full_like(gray, 255)], -1)).save(tmp_path / "a.png")
  Image.fromarray(gray.astype(np.uint16) * 257).save(tmp_path / "wide.png")  # 16-bit
  for name in ("rgb.png", "a.png", "wide.png"):
    np.testing.assert_array_equal(predict.read_image(tmp_path / name, (28, 28, 1))[..., 0], gray)
  # A larger photo-like JPEG is resized; gray -> RGB replicates the channel.
  Image.fromarray(gray).resize((112, 112), Image.Resampling.NEAREST).convert("RGB").save(
      tmp_path / "big.jpg", quality=95)
  small = predict.read_image(tmp_path / "big.jpg", (28, 28, 1))
  assert small.shape == (28, 28, 1)
  assert np.abs(small[..., 0].astype(int) - gray).mean() < 12
  assert predict.read_image(tmp_path / "rgb.png", (32, 32, 3)).shape == (32, 32, 3)


def test_unreadable_images_and_bad_arguments(trained_run, tmp_path, capsys):
  workdir, _ = trained_run
  bad = tmp_path / "notes.png"
  bad.write_text("not an image")
  with pytest.raises(SystemExit) as exit_:
    predict.main(["--workdir", workdir, str(bad)])
  assert exit_.value.code == 1
  assert f"Cannot read the image {bad}" in capsys.readouterr().err
  with pytest.raises(UserError, match="missing.png: No such file"):
    predict.read_image(tmp_path / "missing.png", (28, 28, 1))
  with pytest.raises(SystemExit) as exit_:
    predict.main(["--workdir", workdir])  # No image.
  assert exit_.value.code == 2
  assert "the following arguments are required: IMAGE" in capsys.readouterr().err


def test_a_wider_image_is_cut_to_the_dataset_shape_not_squashed(trained_run, data_dir, tmp_path):
  run = loading.load_run(trained_run[0])
  test = sources.load("fashion_mnist", ("test",), data_dir).splits["test"]
  # A test image with white bands left and right: 28x40, its shorter side the dataset's.
  wide = np.pad(test.images[0][:, :, 0], ((0, 0), (6, 6)), constant_values=255)
  Image.fromarray(wide).save(tmp_path / "wide.png")
  np.testing.assert_array_equal(predict.read_image(tmp_path / "wide.png", run.image_shape),
                                test.images[0])
  got = predict.predict_files(run, [str(tmp_path / "wide.png")], k=10)[0]["predictions"]
  want = predict.classifier(run)(test.images[:1])[0]
  assert_close([p["probability"] for p in sorted(got, key=lambda p: p["label"])], want)


@pytest.fixture(scope="module")
def stream_run(tmp_path_factory):
  """(workdir, data_dir) of a step-0 checkpoint of test_stream's two-block VGG on
  RandomImages/tiny (PNG images of sides 20-60), He-initialised: logits far from uniform."""
  d = str(tmp_path_factory.mktemp("stream"))
  sources.get_builder(test_stream.DATASET, d)
  config = test_stream.stream_config(d)
  config.model_kwargs.weight_init = "he"
  exp = train.Experiment(config, train=False)
  workdir = str(tmp_path_factory.mktemp("stream_run"))
  mngr = checkpoint.manager(workdir, keep=1)
  checkpoint.save(mngr, 0, exp.init_state(), config, metadata=exp.metadata())
  mngr.wait_until_finished()
  return workdir, d


@pytest.mark.parametrize("protocol", ["center", "ten_crop", "dense", "multi_crop"])
def test_non_square_images_are_predicted_as_the_evaluation_scores_them(stream_run, tmp_path,
                                                                       protocol):
  workdir, d = stream_run
  run = loading.load_run(workdir)
  run.config.eval_protocol = protocol
  # Dense evaluation compiles once per image shape and scale: one scale is enough here (the
  # average over scales is tests/test_evaluate.py's).
  run.config.eval_scales = (24,) if protocol == "dense" else (24, 32)
  run.config.multi_crop.scales = (24, 28)
  source = sources.load(test_stream.DATASET, ("validation",), d).splits["validation"]
  paths, labels = [], []
  for i, (image, label) in enumerate(source.read(np.arange(len(source)))):
    paths.append(str(tmp_path / f"{i}.png"))
    Image.fromarray(image).save(paths[-1])
    labels.append(label)
  assert any(Image.open(p).size[0] != Image.open(p).size[1] for p in paths)
  predictions = predict.predict_files(run, paths, k=10)
  got = np.array([[p["probability"] for p in sorted(r["predictions"], key=lambda p: p["label"])]
                  for r in predictions])
  # The evaluation's own view of the split: its batches (each image whole, for dense).
  scored = evaluate.make_protocol(run.config, run.model, varying_size=True)
  if scored.per_image:
    want, _ = inference.split_probabilities(scored, run.variables, source, 12)
  else:
    batch = next(pipeline.eval_batches(source, 12, preprocess=scored.preprocess))
    want = scored.probabilities(run.variables, batch["image"])
  assert_close(got, want, rtol=1e-5)
  if protocol == "dense":
    return  # Its per-image evaluation from the trainer: tests/test_stream.py (dense).
  # And the command line's evaluation of the checkpoint.
  metrics = train.evaluate(run.config, workdir)
  assert metrics["eval/count"] == 12
  assert_close(metrics["eval/loss"], np.mean(-np.log(got[np.arange(12), labels])), rtol=1e-5)
