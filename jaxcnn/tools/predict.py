"""Classify image files with a trained network.

  python -m jaxcnn.tools.predict --workdir=runs/lenet5 shirt.png boot.jpg
  python -m jaxcnn.tools.predict --workdir=runs/lenet5/checkpoints/7020 --json images/*.png

Each image (PNG, JPEG or anything else PIL reads; any size and channel count) is converted
to the channels the network takes and then preprocessed and classified exactly as the run's
evaluation protocol (config.eval_protocol) treats the test set: an evaluation that rescales
(data.resize, dense or multi-crop scales) takes the image at its own size; otherwise the image
is first made one of the dataset's, its shorter side rescaled to theirs and the centre cut,
never squashed. Classes are named as the checkpoint's metadata records (for checkpoints
written before they carried it, after the dataset's classes; else "class N"). ``--json``
prints one JSON object per image and line.
"""

import argparse
import json
import sys

from absl import logging
import numpy as np
from PIL import Image
from PIL import ImageOps

from jaxcnn import evaluate
from jaxcnn import inference
from jaxcnn import loading
from jaxcnn.data import augment
from jaxcnn.errors import UserError

# 16-bit and float images: PIL's convert() would clip them to 8 bits rather than scale.
_WIDE_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")


def read_image(path: str, shape: tuple) -> np.ndarray:
  """An image file as a uint8 (H, W, C) array with the channels of ``shape``; where ``shape``
  gives H and W, rescaled (aspect ratio kept) to cover them and cut to them at the centre, as
  the evaluation's rescaling and centre crop do; else at its own size."""
  height, width, channels = shape
  if channels not in (1, 3):
    raise UserError(f"The network takes {channels}-channel images; only 1 (grayscale) and "
                    "3 (RGB) can be made from image files.")
  try:
    with Image.open(path) as f:
      image = ImageOps.exif_transpose(f)  # Photos stored rotated carry an EXIF orientation.
      image.load()
  except (OSError, ValueError, SyntaxError) as e:  # PIL's errors for unreadable files.
    reason = e.strerror if isinstance(e, OSError) and e.strerror else " ".join(str(e).split())
    raise UserError(f"Cannot read the image {path}: {reason}.") from e
  if image.mode in _WIDE_MODES:
    values = np.asarray(image, np.float64)
    scale = 257.0 if values.max() > 255 else 1.0
    image = Image.fromarray(np.clip(np.round(values / scale), 0, 255).astype(np.uint8))
  array = np.asarray(image.convert("L" if channels == 1 else "RGB"), np.uint8)
  array = array[:, :, None] if channels == 1 else array
  if height is None or array.shape[:2] == (height, width):
    return array
  h, w = array.shape[:2]
  scale = max(height / h, width / w)
  covering = augment.resize(array[None].astype(np.float32), max(height, round(h * scale)),
                            max(width, round(w * scale)))[0]
  top, left = (covering.shape[0] - height) // 2, (covering.shape[1] - width) // 2
  cut = covering[top:top + height, left:left + width]
  return np.clip(np.round(cut), 0, 255).astype(np.uint8)


def _protocol(run: loading.Run) -> evaluate.Protocol:
  return evaluate.make_protocol(run.config, run.model, varying_size=run.varying_size)


def probabilities(run: loading.Run, images, batch_size: int = 256) -> np.ndarray:
  """Class probabilities (N, classes) of uint8 images (H, W, C) of any sizes (an iterable:
  each is preprocessed, as the run's evaluation protocol does, when it comes, and only the
  result kept); images whose preprocessed shapes agree share forward passes."""
  protocol = _protocol(run)
  grouped = inference.Grouped(protocol, run.variables, batch_size, impl=run.config.conv_impl)
  n = 0
  for n, image in enumerate(images, 1):
    grouped.add([n - 1], protocol.preprocess({"image": np.asarray(image)[None],
                                              "label": np.zeros(1, np.int32)}))
  probs, _ = grouped.result()
  return probs if n else np.zeros((0, run.num_classes), np.float32)


def classifier(run: loading.Run, batch_size: int = 256):
  """A function from uint8 images (N, H, W, C), as ``run.image_shape``, to class
  probabilities (N, classes) by the run's evaluation protocol (centre crop, 10 crops, dense
  multi-scale or multi-crop): its host preprocessing a batch at a time, then jitted forward
  passes of ``batch_size`` images."""
  protocol = _protocol(run)

  def classify(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.shape[1:] != tuple(run.image_shape):
      raise UserError(f"Images of shape {images.shape[1:]} given; the network takes "
                      f"{tuple(run.image_shape)}.")
    grouped = inference.Grouped(protocol, run.variables, batch_size,
                                impl=run.config.conv_impl)
    for start in range(0, len(images), batch_size):
      chunk = images[start:start + batch_size]
      grouped.add(start + np.arange(len(chunk)), protocol.preprocess(
          {"image": chunk, "label": np.zeros(len(chunk), np.int32)}))
    probs, _ = grouped.result()
    return probs if len(images) else np.zeros((0, run.num_classes), np.float32)

  return classify


def top_k(probabilities: np.ndarray, class_names, k: int) -> list[list[dict]]:
  """Per image, the k most probable classes as {"label", "class", "probability"}."""
  k = min(k, probabilities.shape[-1])
  order = np.argsort(-probabilities, axis=-1, kind="stable")[:, :k]
  return [[{"label": int(c), "class": class_names[c], "probability": float(p[c])} for c in row]
          for p, row in zip(probabilities, order)]


def predict_files(run: loading.Run, paths, k: int = 5, batch_size: int = 256) -> list[dict]:
  """{"image": path, "predictions": top-k} for each image file."""
  # An evaluation that rescales takes any size (and a dataset of varying sizes has no size
  # to bring the image to): only the channels change.
  raw = evaluate.rescales(run.config) or run.varying_size
  shape = (None, None, run.image_shape[2]) if raw else run.image_shape
  probs = probabilities(run, (read_image(p, shape) for p in paths), batch_size)
  return [{"image": p, "predictions": preds}
          for p, preds in zip(paths, top_k(probs, run.class_names, k))]


def parse_args(argv):
  parser = argparse.ArgumentParser(
      prog="python -m jaxcnn.tools.predict", description="Top-k classes of image files.")
  parser.add_argument("images", nargs="+", metavar="IMAGE", help="PNG, JPEG, ... files.")
  parser.add_argument("--workdir", required=True, help="Workdir of a trained or converted run, "
                      "or one of its checkpoints (WORKDIR/checkpoints/STEP).")
  parser.add_argument("--step", type=int, help="Checkpoint step (default: the latest).")
  parser.add_argument("--top_k", type=int, default=5, help="Classes to print per image.")
  parser.add_argument("--json", action="store_true", help="One JSON object per image and line.")
  parser.add_argument("--batch_size", type=int, default=256, help="Images per forward pass.")
  parser.add_argument("--data_dir", help="TFDS data_dir for the dataset's image shape, and the "
                      "class names of checkpoints without metadata (default: the run's).")
  args = parser.parse_args(argv)
  if args.top_k < 1 or args.batch_size < 1:
    parser.error("--top_k and --batch_size must be >= 1")
  return args


def main(argv=None):
  args = parse_args(argv)
  logging.set_verbosity(logging.WARNING)
  try:
    run = loading.load_run(args.workdir, args.step, data_dir=args.data_dir)
    results = predict_files(run, args.images, args.top_k, args.batch_size)
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(1)
  for result in results:
    if args.json:
      print(json.dumps(result))
      continue
    print(result["image"])
    width = max(len(p["class"]) for p in result["predictions"])
    for p in result["predictions"]:
      print(f"  {p['probability']:7.2%}  {p['class']:<{width}}  ({p['label']})")


if __name__ == "__main__":
  main()
