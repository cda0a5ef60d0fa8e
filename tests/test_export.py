"""python -m jaxcnn.tools.export: a SavedModel that gives jaxcnn's outputs without JAX."""

import json

import numpy as np
import pytest

from jaxcnn.tools import export
from jaxcnn import loading
from jaxcnn.tools import predict
from jaxcnn.data import pipeline
from jaxcnn.data import sources
from jaxcnn.errors import UserError
from tests.tolerance import assert_close

tf = pytest.importorskip("tensorflow")


def test_the_saved_model_matches_jaxcnn(trained_run, data_dir, tmp_path, capsys):
  workdir, _ = trained_run
  out = tmp_path / "saved"
  export.main(["--workdir", workdir, "--out", str(out)])
  assert "serving_default(images: uint8[batch, 28, 28, 1]) -> probabilities, logits " \
      "[batch, 10], for cpu, cuda." in capsys.readouterr().out
  description = json.loads((out / "assets.extra" / "jaxcnn.json").read_text())
  assert description["class_names"][9] == "Ankle boot" and description["step"] == 24

  run = loading.load_run(workdir)
  images = sources.load("fashion_mnist", ("test",), data_dir).splits["test"].images
  expected = predict.classifier(run)(images)
  serve = tf.saved_model.load(str(out)).signatures["serving_default"]
  for batch in (images, images[:1]):  # Any batch size.
    got = serve(images=tf.constant(batch))
    assert_close(got["probabilities"].numpy(), expected[:len(batch)])
  logits = run.model.apply(run.variables, pipeline.make_preprocess(
      run.config.data, train=False)({"image": images, "label": np.zeros(300)})["image"],
      train=False)
  assert_close(got["logits"].numpy(), logits[:1], rtol=1e-5)

  # The float-input form takes what the evaluation preprocessing gives.
  export.main(["--workdir", workdir, "--out", str(tmp_path / "float"), "--input=preprocessed",
               "--platforms=cpu"])
  assert "serving_default(images: float32[batch, 28, 28, 1])" in capsys.readouterr().out
  x = pipeline.make_preprocess(run.config.data, train=False)(
      {"image": images[:5], "label": np.zeros(5)})["image"]
  got = tf.saved_model.load(str(tmp_path / "float")).signatures["serving_default"](
      images=tf.constant(x))
  assert_close(got["probabilities"].numpy(), expected[:5])

  again = tmp_path / "again"
  again.mkdir()
  (again / "x").write_text("")
  with pytest.raises(SystemExit):
    export.main(["--workdir", workdir, "--out", str(again)])
  assert "is not an empty folder" in capsys.readouterr().err


@pytest.mark.parametrize("image_size", [0, 32, 24])
def test_exported_preprocessing_is_the_pipeline_s(config, image_size):
  config.data.image_size = image_size  # Padded to 32, or centre-cropped to 24.
  images = np.random.default_rng(0).integers(0, 256, (3, 28, 28, 1), dtype=np.uint8)
  want = pipeline.make_preprocess(config.data, train=False)(
      {"image": images, "label": np.zeros(3)})["image"]
  assert_close(export.eval_preprocess(config.data)(images), want)


def test_host_rescaling_needs_the_float_input(config):
  config.data.resize = 32
  with pytest.raises(UserError, match="export with --input=preprocessed"):
    export.eval_preprocess(config.data)
