"""A trained network as a TensorFlow SavedModel (the default) or an ONNX model, for serving
without JAX (TF Serving, TFLite converters, tf.saved_model.load; onnxruntime).

  python -m jaxcnn.tools.export --workdir=runs/lenet5 --out=exported/lenet5
  python -m jaxcnn.tools.export --workdir=runs/lenet5 --out=lenet5.onnx --format=onnx

The ``serving_default`` signature takes ``images``: uint8 [batch, H, W, C] in the layout of
the dataset's images (for Fashion-MNIST [batch, 28, 28, 1], white object on black), any
batch size, and returns ``probabilities`` and ``logits`` [batch, classes]. The evaluation
preprocessing (scaling to [0, 1], padding or centre-cropping to data.image_size, normalising
by data.mean and data.std) happens inside; the network sees one centre view, whatever
config.eval_protocol. Configs that rescale images on the host (data.resize) export with
``--input=preprocessed``: the signature then takes ``images`` as float32 [batch, H, W, C]
already preprocessed, at the network's input size. OUT/assets.extra/jaxcnn.json names the
classes and describes the input.

The function is jax2tf's native serialisation: the StableHLO that JAX compiles, embedded in
the SavedModel for the chosen platforms (--platforms=cpu,cuda); the weights are TF variables,
so the file stays small enough for large networks. The ONNX form (jaxcnn.tools.export_onnx)
has the same input and outputs.
"""

import argparse
import json
import os
import sys

from absl import logging

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter.
import jax
import jax.numpy as jnp
import numpy as np

from jaxcnn import loading
from jaxcnn.errors import UserError


def eval_preprocess(data_config):
  """jnp form of the centre-view evaluation preprocessing without rescaling
  (pipeline.make_preprocess(data_config, train=False) when data.resize is 0), so that it can
  be traced into the exported function; the tests hold the two equal."""
  if data_config.resize:
    raise UserError(f"data.resize={data_config.resize}: the images are rescaled on the host, "
                    "which the exported function cannot do; export with --input=preprocessed.")
  mean = np.asarray(data_config.mean, np.float32)
  std = np.asarray(data_config.std, np.float32)
  size = data_config.image_size

  def preprocess(images):
    x = images.astype(jnp.float32) / 255.0
    for axis in (1, 2):  # As augment.pad_to: centre-crop or zero-pad each side to size.
      n = x.shape[axis]
      if size and n > size:
        x = jax.lax.slice_in_dim(x, (n - size) // 2, (n - size) // 2 + size, axis=axis)
      elif size and n < size:
        pads = [(0, 0)] * 4
        pads[axis] = ((size - n) // 2, size - n - (size - n) // 2)
        x = jnp.pad(x, pads)
    return (x - mean) / std

  return preprocess


def serving_function(run: loading.Run, preprocessed: bool = False, model=None):
  """f(variables, images) -> {"probabilities", "logits"}: what is exported (by ``model``,
  default the run's)."""
  preprocess = (lambda x: x) if preprocessed else eval_preprocess(run.config.data)
  model = model or run.model

  def serve(variables, images):
    logits = model.apply(variables, preprocess(images), train=False).astype(jnp.float32)
    return {"probabilities": jax.nn.softmax(logits), "logits": logits}

  return serve


def export(run: loading.Run, out: str, platforms=("cpu",), preprocessed: bool = False) -> dict:
  """Writes ``run`` as a SavedModel in ``out``; returns the description it writes beside it."""
  from jax.experimental import jax2tf
  import tensorflow as tf
  if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out)):
    raise UserError(f"{out} exists and is not an empty folder; choose a new --out.")
  h, w, c = run.input_shape if preprocessed else run.image_shape
  dtype = tf.float32 if preprocessed else tf.uint8
  try:
    converted = jax2tf.convert(
        serving_function(run, preprocessed), with_gradient=False,
        polymorphic_shapes=[None, f"(b, {h}, {w}, {c})"],
        native_serialization_platforms=tuple(platforms))
  except ValueError as e:
    raise UserError(f"Cannot export for platforms {list(platforms)}: {e}") from e
  module = tf.Module()
  # As variables, the weights are stored once as checkpoint data, not as constants in the
  # serialised function (which protobuf limits to 2 GB).
  module.variables_ = tf.nest.map_structure(
      lambda a: tf.Variable(np.asarray(a), trainable=False), jax.device_get(run.variables))

  @tf.function(autograph=False, input_signature=[
      tf.TensorSpec([None, h, w, c], dtype, name="images")])
  def serve(images):
    return converted(module.variables_, images)

  module.serve = serve
  tf.saved_model.save(module, out, signatures={"serving_default": serve})
  description = describe(run, preprocessed, platforms=list(platforms))
  os.makedirs(os.path.join(out, "assets.extra"), exist_ok=True)
  with open(os.path.join(out, "assets.extra", "jaxcnn.json"), "w") as f:
    json.dump(description, f, indent=2)
  return description


def describe(run: loading.Run, preprocessed: bool, **fields) -> dict:
  """What an export holds: the network, its input and preprocessing, outputs and classes."""
  config = run.config
  h, w, c = run.input_shape if preprocessed else run.image_shape
  return {
      "model": config.model, "workdir": run.workdir, "step": run.step, **fields,
      "input": {"name": "images", "dtype": "float32" if preprocessed else "uint8",
                "shape": [None, h, w, c], "preprocessed": preprocessed},
      # Done inside unless "preprocessed": pixels / 255, data.resize (shorter side), centre
      # crop or zero pad to image_size, (x - mean) / std.
      "preprocessing": {"scale": 1 / 255, "resize": config.data.resize,
                        "image_size": config.data.image_size,
                        "mean": list(config.data.mean), "std": list(config.data.std)},
      "view": "center",
      "outputs": ["probabilities", "logits"],
      "class_names": list(run.class_names),
  }


def main(argv=None):
  parser = argparse.ArgumentParser(prog="python -m jaxcnn.tools.export",
                                   description="A run's network as a TensorFlow SavedModel or "
                                   "an ONNX model.")
  parser.add_argument("--workdir", required=True,
                      help="Workdir of a run (or WORKDIR/checkpoints/STEP).")
  parser.add_argument("--out", required=True,
                      help="New folder for the SavedModel, or new file for the ONNX model.")
  parser.add_argument("--format", choices=("savedmodel", "onnx"), default="savedmodel",
                      help="savedmodel: a TensorFlow SavedModel (jax2tf); onnx: an ONNX model "
                      "(jax2onnx).")
  parser.add_argument("--step", type=int, help="Checkpoint step (default: the latest).")
  parser.add_argument("--platforms", default="cpu,cuda",
                      help="SavedModel: comma-separated platforms to serve on: cpu, cuda, rocm, "
                      "tpu.")
  parser.add_argument("--input", choices=("images", "preprocessed"), default="images",
                      help="images: uint8 images, preprocessed inside; preprocessed: float32 "
                      "network inputs.")
  args = parser.parse_args(argv)
  logging.set_verbosity(logging.WARNING)
  try:
    run = loading.load_run(args.workdir, args.step)
    preprocessed = args.input == "preprocessed"
    if args.format == "onnx":
      from jaxcnn.tools import export_onnx
      description = export_onnx.export(run, args.out, preprocessed=preprocessed)
    else:
      description = export(run, args.out, [p.strip() for p in args.platforms.split(",")],
                           preprocessed=preprocessed)
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(1)
  shape = ", ".join("batch" if d is None else str(d) for d in description["input"]["shape"])
  signature = (f"(images: {description['input']['dtype']}[{shape}]) -> probabilities, logits "
               f"[batch, {run.num_classes}]")
  where = f"Wrote {run.config.model} (step {run.step}, {run.num_classes} classes) to {args.out}"
  if args.format == "onnx":
    print(f"{where}: ONNX (opset {description['opset']}) graph{signature}, for onnxruntime.")
  else:
    print(f"{where}: serving_default{signature}, for {', '.join(description['platforms'])}.")


if __name__ == "__main__":
  main()
