"""Classify image files with a trained network.

  python -m jaxcnn.tools.predict --workdir=runs/lenet5 shirt.png boot.jpg
  python -m jaxcnn.tools.predict --workdir=runs/lenet5/checkpoints/7020 --json images/*.png

Each image (PNG, JPEG or anything else PIL reads; any size and channel count) is converted
to the channels the network takes, resized to the size of the dataset's images and then
preprocessed and classified exactly as the run's evaluation protocol (config.eval_protocol)
treats the test set. Classes are named as the checkpoint's metadata records (for checkpoints
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
from jaxcnn import loading
from jaxcnn.errors import UserError
from jaxcnn.models import ops

# 16-bit and float images: PIL's convert() would clip them to 8 bits rather than scale.
_WIDE_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")


def read_image(path: str, shape: tuple) -> np.ndarray:
  """An image file as the uint8 (H, W, C) array that the evaluation preprocessing takes."""
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
  image = image.convert("L" if channels == 1 else "RGB")
  if image.size != (width, height):
    image = image.resize((width, height), Image.Resampling.BILINEAR)
  array = np.asarray(image, np.uint8)
  return array[:, :, None] if channels == 1 else array


def classifier(run: loading.Run, batch_size: int = 256):
  """A function from uint8 images (N, H, W, C), as ``run.image_shape``, to class
  probabilities (N, classes) by the run's evaluation protocol (centre crop, 10 crops or dense
  multi-scale): its host preprocessing, then one jitted forward pass per ``batch_size``
  images (the last batch padded, so nothing recompiles)."""
  protocol = evaluate.make_protocol(run.config, run.model)
  preprocess = protocol.preprocess
  forward = ops.jit(protocol.probabilities, impl=run.config.conv_impl)

  def classify(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.shape[1:] != tuple(run.image_shape):
      raise UserError(f"Images of shape {images.shape[1:]} given; the network takes "
                      f"{tuple(run.image_shape)}.")
    n = len(images)
    size = min(batch_size, max(n, 1))
    out = []
    for start in range(0, n, size):
      chunk = images[start:start + size]
      real = len(chunk)
      if real < size:
        chunk = np.concatenate([chunk, np.zeros((size - real,) + chunk.shape[1:], chunk.dtype)])
      x = preprocess({"image": chunk, "label": np.zeros(size, np.int32)})["image"]
      out.append(np.asarray(forward(run.variables, x))[:real])
    return np.concatenate(out) if out else np.zeros((0, run.num_classes), np.float32)

  return classify


def top_k(probabilities: np.ndarray, class_names, k: int) -> list[list[dict]]:
  """Per image, the k most probable classes as {"label", "class", "probability"}."""
  k = min(k, probabilities.shape[-1])
  order = np.argsort(-probabilities, axis=-1, kind="stable")[:, :k]
  return [[{"label": int(c), "class": class_names[c], "probability": float(p[c])} for c in row]
          for p, row in zip(probabilities, order)]


def predict_files(run: loading.Run, paths, k: int = 5, batch_size: int = 256) -> list[dict]:
  """{"image": path, "predictions": top-k} for each image file."""
  images = np.stack([read_image(p, run.image_shape) for p in paths])
  probabilities = classifier(run, batch_size)(images)
  return [{"image": p, "predictions": preds}
          for p, preds in zip(paths, top_k(probabilities, run.class_names, k))]


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
