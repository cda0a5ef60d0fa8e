"""A trained network as an ONNX model (jax2onnx), for onnxruntime and the ONNX tools.

  python -m jaxcnn.tools.export --workdir=runs/lenet5 --out=lenet5.onnx --format=onnx

The graph takes ``images`` as the SavedModel's serving_default does: uint8 [batch, H, W, C]
with the evaluation preprocessing inside (jaxcnn.tools.export.eval_preprocess), or with
--input=preprocessed float32 network inputs; the batch dimension is symbolic ("batch"), so any
batch size runs. It returns ``probabilities`` and ``logits`` [batch, classes]. The network is
traced with XLA's native convolution and max pooling (``EXPORT_OPS``), which map onto ONNX's
Conv and MaxPool: jaxcnn's CPU formulations of them exist for XLA's compiler only. The weights are the graph's initializers. The description the SavedModel keeps in
assets.extra/jaxcnn.json is the model's metadata property "jaxcnn".
"""

import json
import os
import traceback

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from jaxcnn import loading
from jaxcnn.errors import UserError
from jaxcnn.models import ops
from jaxcnn.tools import export as export_lib

BATCH = "batch"  # The name of the symbolic batch dimension.


def _max_pool(inputs, window_shape, strides=None, padding="VALID"):
  """``nn.max_pool`` with explicit (lo, hi) pads written as a -inf pad and a "VALID" pooling:
  jax2onnx's replacement of flax's pooling takes only "SAME" and "VALID" padding, and the
  networks pad explicitly (ResNet's stem, Caffe's ceil rounding)."""
  if not isinstance(padding, str):
    pads = ((0, 0), *(tuple(p) for p in padding), (0, 0))
    inputs = jnp.pad(inputs, pads, constant_values=-jnp.inf)
    padding = "VALID"
  return nn.max_pool(inputs, window_shape=window_shape, strides=strides, padding=padding)


# The kernels the exported network is traced with.
EXPORT_OPS = ops.Ops("native", lax.conv_general_dilated, _max_pool)


def export(run: loading.Run, out: str, preprocessed: bool = False) -> dict:
  """Writes ``run`` as an ONNX model to the file ``out``; returns its description."""
  import jax2onnx
  import onnx
  if os.path.exists(out):
    raise UserError(f"{out} exists; choose a new --out.")
  h, w, c = run.input_shape if preprocessed else run.image_shape
  dtype = jnp.float32 if preprocessed else jnp.uint8
  serve = export_lib.serving_function(run, preprocessed,
                                      model=run.model.clone(ops=EXPORT_OPS))
  variables = jax.device_get(run.variables)
  refused_in = []  # The layers a refusal passed through, innermost first.

  def note_layer(next_fun, args, kwargs, context):
    try:
      return next_fun(*args, **kwargs)
    except Exception:
      if context.method_name == "__call__":
        refused_in.append(context.module)
      raise

  def forward(images):
    refused_in.clear()
    with nn.intercept_methods(note_layer):
      outputs = serve(variables, images)
    return outputs["probabilities"], outputs["logits"]

  try:
    model = jax2onnx.to_onnx(forward, [jax.ShapeDtypeStruct((BATCH, h, w, c), dtype)],
                             model_name=run.config.model)
  except Exception as e:  # jax2onnx's refusals come as several exception types.
    raise UserError(refusal(run.config.model, e, refused_in[:1])) from e
  graph = model.graph
  # jax2onnx's layout pass can leave intermediate shape annotations in NHWC order on tensors
  # it has moved to NCHW, which onnxruntime then refuses; they are optional, and dropped.
  del graph.value_info[:]
  _rename(graph, graph.input[0].name, "images")
  for value, name in zip(list(graph.output), ("probabilities", "logits")):
    _rename(graph, value.name, name)
  description = export_lib.describe(run, preprocessed,
                                    opset=max(o.version for o in model.opset_import
                                              if o.domain in ("", "ai.onnx")))
  onnx.helper.set_model_props(model, {"jaxcnn": json.dumps(description)})
  onnx.checker.check_model(model)
  os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
  onnx.save(model, out)
  return description


def _rename(graph, old: str, new: str) -> None:
  """Renames the value ``old`` of ``graph`` wherever it is produced, used or declared."""
  for node in graph.node:
    node.input[:] = [new if n == old else n for n in node.input]
    node.output[:] = [new if n == old else n for n in node.output]
  for value in (*graph.input, *graph.output, *graph.value_info):
    if value.name == old:
      value.name = new


def _refused_equation(error: Exception) -> tuple[str, str | None]:
  """(layer path, primitive) of the equation jax2onnx was lowering when it failed after
  tracing, read from its converter's frames (their ``eqn``); ("", None) if none is found."""
  stacks, primitive = [], None
  tb = error.__traceback__
  while tb is not None:
    eqn = tb.tb_frame.f_locals.get("eqn")
    if hasattr(eqn, "primitive") and hasattr(eqn, "source_info"):
      primitive = eqn.primitive.name
      stack = str(eqn.source_info.name_stack)
      if stack and stack not in stacks:  # Each nested jaxpr's stack is its own suffix.
        stacks.append(stack)
    tb = tb.tb_next
  # The first name is the network's class; the layers' names follow.
  return "/".join(stacks).partition("/")[2], primitive


def refusal(name: str, error: Exception, layers: list) -> str:
  """The paragraph for a network jax2onnx refuses, naming the layer: the innermost module
  whose call failed while tracing (and the lines of jaxcnn's model code it failed at), or the
  module of the equation whose lowering failed."""
  models_dir = os.path.dirname(os.path.abspath(ops.__file__)).rsplit(os.sep, 1)[0]
  frames = [f for f in traceback.extract_tb(error.__traceback__)
            if os.path.abspath(f.filename).startswith(models_dir + os.sep)]
  where = ""
  if layers:
    path = "/".join(layers[0].path)
    where = (f" in layer {path} ({type(layers[0]).__name__})" if path
             else f" in the top level of {name} ({type(layers[0]).__name__})")
  else:
    path, primitive = _refused_equation(error)
    if primitive:
      where = f" ({primitive}) in " + (f"layer {path}" if path else f"the top level of {name}")
  if frames:  # The model's line and the shared helper it calls, if any.
    root = os.path.dirname(os.path.dirname(models_dir))
    where += " at " + ", called from ".join(
        f"{os.path.relpath(f.filename, root)}:{f.lineno} ({(f.line or f.name).strip()})"
        for f in reversed(frames[-2:]))
  reason = " ".join(str(error).split())[:300].rstrip(".") or type(error).__name__
  return (f"Cannot export {name} to ONNX: jax2onnx cannot convert an operation{where}: "
          f"{reason}. Export it as a TensorFlow SavedModel instead (--format=savedmodel), which "
          "takes every layer.")
