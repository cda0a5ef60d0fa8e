"""python -m jaxcnn.tools.export --format=onnx: ONNX models that give jaxcnn's logits in
onnxruntime, for any batch size."""

import json

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn import config as config_lib
from jaxcnn import loading
from jaxcnn import models
from jaxcnn.data import pipeline
from jaxcnn.data import sources
from jaxcnn.errors import UserError
from jaxcnn.tools import export
from tests.models.variables import random_variables
from tests.tolerance import assert_close

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("jax2onnx")
from jaxcnn.tools import export_onnx  # After the skips: it needs jax2onnx.

# onnxruntime's logits agree with jaxcnn's to 1e-4 of their magnitude (other kernels, other
# summation orders).
RTOL = 1e-4


def _session(path):
  return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _input(model_proto):
  [value] = model_proto.graph.input
  dims = [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]
  return value.name, value.type.tensor_type.elem_type, dims


def _random_run(name, size, image_size=None, **fields):
  """A Run of a randomly initialised ``name`` (10 classes, RGB ``size`` inputs) with BatchNorm
  statistics and biases unlike fresh ones; its config preprocesses images of ``image_size``."""
  model = models.create(name, num_classes=10, input_size=size, **fields)
  x = np.zeros((1, size, size, 3), np.float32)
  rng = np.random.default_rng(1)

  def vary(path, leaf):
    kind = path[-1].key
    if kind in ("bias", "mean"):
      return rng.normal(0, 0.1, leaf.shape).astype(np.float32)
    if kind in ("scale", "var"):
      return rng.uniform(0.5, 2.0, leaf.shape).astype(np.float32)
    return leaf
  variables = jax.tree_util.tree_map_with_path(vary, random_variables(model, x))
  return _run(name, model, variables, size, image_size or size)


def _run(name, model, variables, size, side):
  """A Run of ``model``: 10 classes, RGB inputs of ``size``, its config preprocessing RGB
  images of ``side`` (zero-padded or cropped to ``size``, normalised as ImageNet's)."""
  config = config_lib.base_config()
  config.model = name
  config.data.image_size = size
  config.data.mean, config.data.std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
  return loading.Run(model=model, variables=variables, config=config, workdir="", step=0,
                     num_classes=10, input_shape=(size, size, 3), image_shape=(side, side, 3),
                     class_names=tuple(f"class {i}" for i in range(10)))


def test_lenet5_exports_with_its_preprocessing(trained_run, data_dir, tmp_path, capsys):
  workdir, _ = trained_run
  out = tmp_path / "lenet5.onnx"
  export.main(["--workdir", workdir, "--out", str(out), "--format=onnx"])
  printed = capsys.readouterr().out
  assert f"Wrote lenet5_modern (step 24, 10 classes) to {out}: ONNX (opset " in printed
  assert "graph(images: uint8[batch, 28, 28, 1]) -> probabilities, logits [batch, 10], " \
      "for onnxruntime." in printed
  model = onnx.load(str(out))
  assert _input(model) == ("images", onnx.TensorProto.UINT8, ["batch", 28, 28, 1])
  assert [(o.name, [d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim])
          for o in model.graph.output] == [("probabilities", ["batch", 10]), ("logits", ["batch", 10])]
  description = json.loads({p.key: p.value for p in model.metadata_props}["jaxcnn"])
  assert description["class_names"][9] == "Ankle boot" and description["step"] == 24
  assert description["input"]["shape"] == [None, 28, 28, 1]

  run = loading.load_run(workdir)
  images = sources.load("fashion_mnist", ("test",), data_dir).splits["test"].images[:40]
  x = pipeline.make_preprocess(run.config.data, train=False)(
      {"image": images, "label": np.zeros(len(images))})["image"]
  want = np.asarray(run.model.apply(run.variables, x, train=False))
  session = _session(out)
  for batch in (images, images[:1], images[:7]):  # Any batch size.
    probabilities, logits = session.run(["probabilities", "logits"], {"images": batch})
    assert_close(logits, want[:len(batch)], rtol=RTOL)
    assert_close(probabilities, jax.nn.softmax(want[:len(batch)]), rtol=RTOL)

  with pytest.raises(SystemExit):  # The file is not overwritten.
    export.main(["--workdir", workdir, "--out", str(out), "--format=onnx"])
  assert "exists; choose a new --out" in capsys.readouterr().err


def test_resnet18_exports_with_its_preprocessing(tmp_path):
  # 30x30 images zero-padded to the network's 32 and normalised inside the graph.
  run = _random_run("resnet18", 32, image_size=30, width=0.25)
  out = tmp_path / "resnet18.onnx"
  export_onnx.export(run, str(out))
  assert _input(onnx.load(str(out))) == ("images", onnx.TensorProto.UINT8, ["batch", 30, 30, 3])
  images = np.random.default_rng(0).integers(0, 256, (5, 30, 30, 3), dtype=np.uint8)
  x = export.eval_preprocess(run.config.data)(images)
  want = np.asarray(run.model.apply(run.variables, x, train=False))
  [logits] = _session(out).run(["logits"], {"images": images})
  assert_close(logits, want, rtol=RTOL)


def test_googlenet_exports_in_eval_mode(tmp_path):
  run = _random_run("googlenet_torchvision", 32, width=0.25)
  out = tmp_path / "googlenet.onnx"
  description = export_onnx.export(run, str(out), preprocessed=True)
  assert description["input"] == {"name": "images", "dtype": "float32",
                                  "shape": [None, 32, 32, 3], "preprocessed": True}
  assert _input(onnx.load(str(out))) == ("images", onnx.TensorProto.FLOAT, ["batch", 32, 32, 3])
  x = np.random.default_rng(0).standard_normal((3, 32, 32, 3)).astype(np.float32)
  # No auxiliary heads. Compiled whole: GoogLeNet op by op costs several times its compile.
  want = np.asarray(jax.jit(lambda v, x: run.model.apply(v, x, train=False))(run.variables, x))
  [logits] = _session(out).run(["logits"], {"images": x})
  assert_close(logits, want, rtol=RTOL)


def test_alexnet_s_response_normalisation_and_grouped_convs_export(tmp_path):
  # Two towers: conv2, conv4 and conv5 are grouped convolutions (ONNX Conv's group); LRN is
  # written in jnp (a band-matrix product and square roots), which converts as it is.
  run = _random_run("alexnet", 67, width=0.125)
  assert run.model.towers == 2 and run.model.lrn
  out = tmp_path / "alexnet.onnx"
  export_onnx.export(run, str(out), preprocessed=True)
  groups = [a.i for n in onnx.load(str(out)).graph.node if n.op_type == "Conv"
            for a in n.attribute if a.name == "group"]
  assert groups.count(2) == 3
  x = np.random.default_rng(0).standard_normal((2, 67, 67, 3)).astype(np.float32)
  want = np.asarray(run.model.apply(run.variables, x, train=False))
  [logits] = _session(out).run(["logits"], {"images": x})
  assert_close(logits, want, rtol=RTOL)


def test_a_layer_jax2onnx_cannot_convert_is_named(tmp_path):
  # NiN's Caffe-rounded average pooling (explicit pads, partial windows averaged over what
  # they cover) is one that jax2onnx's pooling refuses.
  run = _random_run("nin", 32, width=0.25)
  out = tmp_path / "nin.onnx"
  with pytest.raises(UserError, match=r"Cannot export nin to ONNX: jax2onnx cannot convert an "
                     r"operation in the top level of nin \(NiN\) at jaxcnn/models/layers.py:\d+ "
                     r"\(return nn.avg_pool.*called from jaxcnn/models/nin.py:\d+ "
                     r"\(x = layers.avg_pool_ceil\(x, 3, 2\)\).*--format=savedmodel"):
    export_onnx.export(run, str(out))
  assert not out.exists()


class _Spectrum(nn.Module):
  """Eigenvalues of a batch of Gram matrices (eigh), which jax2onnx does not lower."""

  @nn.compact
  def __call__(self, x):
    x = x.reshape(x.shape[0], 4, -1)
    return jnp.linalg.eigh(x @ jnp.swapaxes(x, 1, 2))[0]


class _Toy(nn.Module):
  ops: object = None  # Every jaxcnn model takes its kernels; this one has no pooling to use.

  @nn.compact
  def __call__(self, x, train=False):
    x = nn.Conv(4, (3, 3), name="conv")(x)
    return nn.Dense(10, name="fc")(_Spectrum(name="spectrum")(x))


def test_a_layer_refused_after_tracing_is_named(tmp_path):
  model = _Toy()
  variables = model.init(jax.random.key(0), np.zeros((1, 8, 8, 3), np.float32))
  run = _run("toy", model, variables, 8, 8)
  with pytest.raises(UserError, match=r"Cannot export toy to ONNX: jax2onnx cannot convert an "
                     r"operation \(eigh\) in layer spectrum: "):
    export_onnx.export(run, str(tmp_path / "toy.onnx"), preprocessed=True)
