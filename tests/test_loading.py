"""jaxcnn.load: trained and imported checkpoints back as (model, variables, config)."""

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

import jaxcnn
from jaxcnn import checkpoint
from jaxcnn import loading
from jaxcnn import train
from jaxcnn.data import pipeline
from jaxcnn.data import sources
from jaxcnn.errors import UserError


def _save(exp, config, workdir, step=0, *, metadata=True):
  """Writes exp's fresh state as a checkpoint, as jaxcnn.tools.convert does; without ``metadata``,
  as checkpoints were written before they carried it (the state and the config only)."""
  mngr = checkpoint.manager(str(workdir), keep=1)
  if metadata:
    checkpoint.save(mngr, step, exp.init_state(), config, metadata=exp.metadata())
  else:
    mngr.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(exp.init_state()),
                                            config=ocp.args.JsonSave(config.to_dict())))
  mngr.wait_until_finished()


def test_load_round_trips_a_trained_run(trained_run, data_dir, no_inference):
  workdir, metrics = trained_run
  model, variables, config = jaxcnn.load(workdir)
  assert config.model == "lenet5_modern" and config.num_train_steps == 24
  assert list(variables) == ["params"]  # LeNet-5 has no BatchNorm statistics.

  exp = train.Experiment(config, train=False, devices=jax.devices()[:1])
  saved = checkpoint.restore(checkpoint.manager(workdir, 3, create=False), 24,
                             exp.abstract_state)
  jax.tree.map(np.testing.assert_array_equal, variables["params"], saved.params)

  # The restored network reproduces the run's own evaluation of its 300 test images.
  test = sources.load("fashion_mnist", ("test",), data_dir).splits["test"]
  images = pipeline.make_preprocess(config.data, train=False)(test[np.arange(len(test))])
  logits = model.apply(variables, images["image"], train=False)
  top1 = float(np.mean(np.argmax(logits, -1) == test.labels))
  assert top1 == pytest.approx(metrics["eval/top1"], abs=1e-6)  # The same count of 300.

  run = loading.load_run(f"{workdir}/checkpoints/16")
  assert (run.step, run.num_classes, run.input_shape, run.image_shape) == \
      (16, 10, (28, 28, 1), (28, 28, 1))
  assert run.class_names[0] == "T-shirt/top" and run.class_names[9] == "Ankle boot"
  assert loading.load_run(workdir, step=16).step == 16


def test_missing_or_mismatched_checkpoints_are_clear_errors(trained_run, config, tmp_path):
  workdir, _ = trained_run
  with pytest.raises(UserError, match="No such directory"):
    jaxcnn.load(tmp_path / "nowhere")
  with pytest.raises(UserError, match="no checkpoints/ folder"):
    jaxcnn.load(tmp_path)
  with pytest.raises(UserError, match=r"No checkpoint at step 7 .* steps: \[16, 20, 24\]"):
    jaxcnn.load(workdir, step=7)
  with pytest.raises(UserError, match="is the checkpoint at step 16, not step 24"):
    jaxcnn.load(f"{workdir}/checkpoints/16", step=24)

  # A checkpoint whose parameters are not the ones its config describes.
  exp = train.Experiment(config, train=False, devices=jax.devices()[:1])  # width 0.5
  wider = config.copy_and_resolve_references()
  wider.width = 1.0
  _save(exp, wider, tmp_path / "odd")
  with pytest.raises(UserError, match=r"does not fit the lenet5_modern .* params/c1/bias: "
                     r"checkpoint \(3,\), model \(6,\)"):
    jaxcnn.load(tmp_path / "odd")


@pytest.mark.parametrize("metadata", [True, False], ids=["metadata", "before_metadata"])
def test_an_imported_checkpoint_brings_its_own_classes_and_channels(config, tmp_path, request,
                                                                     metadata):
  # As jaxcnn.tools.convert writes an ImageNet network: 3 channels and a class count that is not
  # the config's dataset's. The checkpoint's metadata says so; without it (a checkpoint
  # written before there was any) both are read off the saved shapes.
  config.data.image_size = 32
  names = tuple("abcdefg")
  exp = train.Experiment(config, train=False, num_classes=7, input_shape=(32, 32, 3),
                         devices=jax.devices()[:1], class_names=names if metadata else None)
  _save(exp, config, tmp_path, metadata=metadata)
  if metadata:
    request.getfixturevalue("no_inference")
  run = loading.load_run(tmp_path)
  assert (run.num_classes, run.input_shape, run.image_shape) == (7, (32, 32, 3), (32, 32, 3))
  assert run.class_names == (names if metadata else tuple(f"class {i}" for i in range(7)))
  x = np.zeros((2, 32, 32, 3), np.float32)
  assert run.model.apply(run.variables, x, train=False).shape == (2, 7)


def test_metadata_of_a_newer_format_is_refused(config, tmp_path):
  exp = train.Experiment(config, train=False, devices=jax.devices()[:1])
  mngr = checkpoint.manager(str(tmp_path), keep=1)
  newer = {**exp.metadata().to_json(), "format_version": checkpoint.METADATA_VERSION + 1}
  mngr.save(0, args=ocp.args.Composite(state=ocp.args.StandardSave(exp.init_state()),
                                       config=ocp.args.JsonSave(config.to_dict()),
                                       metadata=ocp.args.JsonSave(newer)))
  mngr.wait_until_finished()
  with pytest.raises(UserError, match=r"cannot be read .*metadata format version 2, where "
                     r"this version of jaxcnn reads up to 1; update jaxcnn"):
    jaxcnn.load(tmp_path)
