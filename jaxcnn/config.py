"""The base config every experiment file starts from; see configs/."""

import importlib.util
import os
import re

from ml_collections import ConfigDict, config_dict

from jaxcnn.errors import UserError


# config.conv_impl's choices (jaxcnn.models.ops).
CONV_IMPLS = ("auto", "native", "fast")


def base_config() -> ConfigDict:
  c = ConfigDict()
  c.model = "lenet5_modern"
  c.model_kwargs = ConfigDict()  # Constructor fields (paper ablation switches).
  c.width = 1.0
  # Compute dtype; parameters and optimizer state stay float32. float16 scales the loss
  # dynamically (jaxcnn.loss_scale); a step whose gradients overflow is skipped and counted.
  c.dtype = "float32"
  # The kernels of convolutions and max pooling (jaxcnn.models.ops): "auto" (CPU
  # formulations on CPU, XLA's own elsewhere), "native" (XLA's own) or "fast" (CPU's anywhere).
  c.conv_impl = "auto"
  c.aux_loss_weight = 0.3  # Weight of auxiliary classifiers' losses (GoogLeNet), if any.
  # A workdir or WORKDIR/checkpoints/STEP (a run or a jaxcnn.tools.convert import), or
  # torchvision:ARCH[.WEIGHTS] (torchvision's pretrained weights), whose weights start a new
  # run; a classifier head of another class count is re-initialised.
  c.init_from = config_dict.placeholder(str)
  # The layers init_from copies (the others keep their fresh initialisation), comma-separated
  # top-level names, "NAME=SOURCE" for a layer named otherwise there, or "vgg_a": VGG Sec.
  # 3.1's start of B-E from a trained A (its first four convs and the three FC layers). "": all.
  c.init_from_layers = ""

  c.dataset = "fashion_mnist"
  c.data_dir = config_dict.placeholder(str)  # TFDS data_dir; None: TFDS's default.
  c.train_split = "train"
  c.eval_split = "test"
  # Examples held out of training, on which the plateau schedule and the best checkpoint
  # decide (never on eval_split, the test data). A split or slice disjoint from train_split
  # and eval_split: train_split is trained on as given, so carve both from the training data,
  # e.g. train_split='train[:-10%]' and validation_split='train[-10%:]'. None: no best
  # checkpoint is kept (only the latest ones), and schedule 'plateau' is refused.
  c.validation_split = config_dict.placeholder(str)
  c.data = ConfigDict()
  c.data.image_size = 0  # 0: the dataset's own size.
  c.data.mean = (0.0,)
  c.data.std = (1.0,)
  c.data.resize = 0  # > 0: rescale the shorter side to this before cropping (AlexNet: 256).
  # Training crop of data.image_size (jaxcnn.data.pipeline.make_preprocess):
  #   "pad": pad by random_crop_padding and crop back (CIFAR ResNet; nothing at padding 0)
  #   "none": no random crop (the centre, as in evaluation)
  #   "random": a random window of the rescaled image (AlexNet Sec. 4.1)
  #   "scale_jitter": shorter side rescaled to S ~ U[scale_jitter] per image, then a random
  #       window (VGG Sec. 3.1; data.resize is then only evaluation's scale)
  #   "inception": 8%-100% of the image's area, aspect ratio in [3/4, 4/3], resized
  #       (GoogLeNet Sec. 6; drawn on the image as stored: data.resize is evaluation's)
  c.data.train_crop = "pad"
  c.data.random_crop_padding = 0
  c.data.scale_jitter = (256, 512)  # (S_min, S_max) of train_crop="scale_jitter".
  c.data.random_flip = False
  # > 0: AlexNet's PCA colour noise, std of the alphas (paper: 0.1), on [0, 1] pixel values.
  c.data.pca_noise = 0.0
  # "auto": splits whose images share one shape and fit in a few GiB are decoded once into
  # memory; others (imagenet2012) are read and decoded per batch. "true" | "false" force it.
  c.data.in_memory = "auto"
  c.data.workers = 0  # Threads decoding and preprocessing streamed examples; 0: one per CPU.

  c.batch_size = 128  # Global batch, over all devices and processes.
  c.eval_batch_size = 1000
  # jaxcnn.evaluate: "center" (a data.image_size crop of the rescaled image), "ten_crop"
  # (AlexNet: corners + centre and their mirrors), "dense" (VGG Sec. 3.2: the whole image at
  # each of eval_scales, fully convolutionally, with flips) or "multi_crop" (GoogLeNet, below);
  # softmax averaged over the views.
  c.eval_protocol = "center"
  c.eval_scales = ()  # Shorter sides Q of "dense"; () is (data.resize or data.image_size,).
  # "multi_crop", GoogLeNet Sec. 6's 144 crops: the shorter side rescaled to each scale; per
  # scale 3 squares along the longer side (left/centre/right or top/centre/bottom; 1: the
  # centre); per square 6 crops (its four corners and centre at data.image_size, and the
  # whole square resized to it; 5: no resized square; 1: the centre); and their mirrors.
  c.multi_crop = ConfigDict()
  c.multi_crop.scales = (256, 288, 320, 352)
  c.multi_crop.squares = 3
  c.multi_crop.crops = 6
  c.multi_crop.mirrors = True
  c.num_epochs = 15.0
  c.num_train_steps = -1  # > 0 overrides num_epochs.

  c.optimizer = ConfigDict()
  c.optimizer.name = "sgd"  # sgd | adamw | rmsprop (TensorFlow's form, as Inception-v3's)
  c.optimizer.learning_rate = 0.05
  c.optimizer.momentum = 0.9
  c.optimizer.nesterov = False
  c.optimizer.weight_decay = 5e-4
  c.optimizer.weight_decay_mode = "coupled"
  c.optimizer.b1, c.optimizer.b2 = 0.9, 0.999  # adamw's (whose decay is always decoupled).
  c.optimizer.eps = 1e-8  # adamw's and rmsprop's (Inception-v3's rmsprop: 1.0).
  c.optimizer.decay = 0.9  # rmsprop's decay of the mean square.
  c.grad_clip_norm = 0.0  # > 0: gradients clipped to this global norm first (0: off).
  c.grad_accum_steps = 1  # Micro-batches per step, each batch_size / grad_accum_steps.
  # > 0: an exponential moving average of the parameters and BatchNorm statistics, evaluated
  # beside them (eval/ema_top1) and loaded with jaxcnn.load(..., ema=True).
  c.ema_decay = 0.0
  c.label_smoothing = 0.0  # Of the training targets, auxiliary heads' too (0: off).

  c.schedule = ConfigDict()
  c.schedule.name = "cosine"  # constant | multistep | cosine | plateau
  c.schedule.warmup_epochs = 0.0
  c.schedule.boundaries_epochs = ()  # multistep: epochs at which lr *= decay_factor
  c.schedule.decay_factor = 0.1
  c.schedule.patience = 2  # plateau: evaluations without improvement before decaying
  c.schedule.plateau_atol = 1e-4

  c.seed = 0
  c.skip_nonfinite_steps = False  # True: skip steps whose loss/gradients are NaN/Inf.
  c.log_every_steps = 100
  c.log_layer_grad_norms = False  # Also log the gradient norm of every top-level layer.
  c.eval_every_epochs = 1.0
  c.checkpoint_every_steps = 1000
  c.keep_checkpoints = 3
  c.checkpoint_async = True  # Write checkpoints in a background thread while training goes on.
  # (start, stop): a jax.profiler trace of the steps start..stop-1 (counted from 0) into
  # WORKDIR/profile, for TensorBoard's profile plugin; () is off.
  c.profile_steps = ()

  c.mesh = ConfigDict()
  c.mesh.data = -1
  c.mesh.model = 1
  return c


def load_file(spec: str, root: str | None = None) -> ConfigDict:
  """``path.py[:variant]`` -> that file's ``get_config(variant)``, as ``--config=`` reads it.

  A relative path is taken from ``root`` (default: the working directory)."""
  path, _, variant = spec.partition(":")
  full = os.path.join(root, path) if root and not os.path.isabs(path) else path
  if not os.path.exists(full):
    raise UserError(f"No config file {path!r}; pass --config=configs/NAME.py[:VARIANT].")
  module_spec = importlib.util.spec_from_file_location(
      "config_" + re.sub(r"\W", "_", path), full)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module.get_config(variant or None)


# Fields that may change between the runs of one workdir without changing its results.
RESUMABLE_CHANGES = ("data_dir", "log_every_steps", "eval_batch_size", "checkpoint_every_steps",
                     "keep_checkpoints", "checkpoint_async", "init_from", "init_from_layers",
                     "data.workers", "profile_steps")


def validate(c: ConfigDict) -> None:
  """Raises UserError, naming the field and how to fix it, for values that cannot work."""
  problems = []

  def need(ok, message):
    if not ok:
      problems.append(message)

  need(c.optimizer.learning_rate > 0, f"optimizer.learning_rate={c.optimizer.learning_rate} "
       "must be positive")
  need(0 <= c.optimizer.momentum < 1, f"optimizer.momentum={c.optimizer.momentum} must be in "
       "[0, 1)")
  need(c.optimizer.weight_decay >= 0, f"optimizer.weight_decay={c.optimizer.weight_decay} "
       "must be >= 0")
  need(c.optimizer.weight_decay_mode in ("coupled", "decoupled"),
       f"optimizer.weight_decay_mode={c.optimizer.weight_decay_mode!r} must be coupled or "
       "decoupled")
  _validate_procedures(c, need)
  need(c.schedule.name in ("constant", "multistep", "cosine", "plateau"),
       f"schedule.name={c.schedule.name!r} must be constant, multistep, cosine or plateau")
  need(c.schedule.warmup_epochs >= 0, "schedule.warmup_epochs must be >= 0")
  need(0 < c.schedule.decay_factor <= 1, "schedule.decay_factor must be in (0, 1]")
  need(c.batch_size > 0, f"batch_size={c.batch_size} must be positive")
  need(c.eval_batch_size > 0, f"eval_batch_size={c.eval_batch_size} must be positive")
  need(c.num_train_steps > 0 or c.num_epochs > 0,
       "num_epochs must be positive (or num_train_steps > 0)")
  for name in ("log_every_steps", "checkpoint_every_steps", "keep_checkpoints"):
    need(c[name] >= 1, f"{name}={c[name]} must be >= 1")
  need(c.eval_every_epochs > 0, "eval_every_epochs must be positive")
  need(c.width > 0, f"width={c.width} must be positive")
  need(c.dtype in ("float32", "bfloat16", "float16"),
       f"dtype={c.dtype!r} must be float32, bfloat16 or float16")
  need(c.conv_impl in CONV_IMPLS,
       f"conv_impl={c.conv_impl!r} must be one of {', '.join(CONV_IMPLS)}")
  need(c.aux_loss_weight >= 0, "aux_loss_weight must be >= 0")
  _validate_protocols(c, need)
  need(c.mesh.data == -1 or c.mesh.data >= 1, "mesh.data must be -1 (all) or >= 1")
  need(c.mesh.model >= 1, "mesh.model must be >= 1")
  if problems:
    raise UserError("Invalid config: " + "; ".join(problems) + ". Fix the value(s) with "
                    "--config.FIELD=VALUE.")


OPTIMIZERS = ("sgd", "adamw", "rmsprop")


def _validate_procedures(c: ConfigDict, need) -> None:
  o = c.optimizer
  need(o.name in OPTIMIZERS, f"optimizer.name={o.name!r} must be one of {', '.join(OPTIMIZERS)}")
  for name in ("b1", "b2", "decay"):
    need(0 <= o[name] < 1, f"optimizer.{name}={o[name]} must be in [0, 1)")
  need(o.eps >= 0, f"optimizer.eps={o.eps} must be >= 0")
  need(not c.grad_clip_norm or c.grad_clip_norm > 0,
       f"grad_clip_norm={c.grad_clip_norm} must be positive (0: off)")
  need(c.grad_accum_steps >= 1 and c.batch_size % c.grad_accum_steps == 0,
       f"grad_accum_steps={c.grad_accum_steps} must be >= 1 and divide batch_size="
       f"{c.batch_size}")
  need(0 <= c.ema_decay < 1, f"ema_decay={c.ema_decay} must be in [0, 1) (0: off)")
  need(0 <= c.label_smoothing < 1, f"label_smoothing={c.label_smoothing} must be in [0, 1)")
  steps = tuple(c.profile_steps)
  need(not steps or (len(steps) == 2 and all(isinstance(s, int) for s in steps) and
                     0 <= steps[0] < steps[1]),
       f"profile_steps={steps} must be () or (start, stop) with 0 <= start < stop")
  need(c.schedule.name != "plateau" or c.validation_split,
       "schedule.name='plateau' lowers the learning rate when the validation error stops "
       "improving, and there is no validation_split: set one carved from the training data "
       "(e.g. --config.train_split='train[:-10%]' --config.validation_split='train[-10%:]')")
  need(not c.validation_split or c.validation_split != c.eval_split,
       f"validation_split={c.validation_split!r} is the evaluation split: the choices made on "
       "it would be made on the test data; hold out part of the training data instead")


def _validate_protocols(c: ConfigDict, need) -> None:
  d = c.data
  crops = ("none", "pad", "random", "scale_jitter", "inception")
  need(d.train_crop in crops, f"data.train_crop={d.train_crop!r} must be one of {', '.join(crops)}")
  need(d.resize >= 0, f"data.resize={d.resize} must be >= 0 (0: no rescaling)")
  need(d.random_crop_padding >= 0, "data.random_crop_padding must be >= 0")
  need(d.pca_noise >= 0, f"data.pca_noise={d.pca_noise} must be >= 0 (0: off)")
  need(str(d.in_memory).lower() in ("auto", "true", "false"),
       f"data.in_memory={d.in_memory!r} must be auto, true or false")
  need(d.workers >= 0, f"data.workers={d.workers} must be >= 0 (0: one per CPU)")
  if d.train_crop in ("random", "scale_jitter", "inception"):
    need(d.image_size > 0, f"data.train_crop={d.train_crop!r} needs data.image_size > 0, the "
         "side of the crop")
    need(not d.random_crop_padding, f"data.random_crop_padding={d.random_crop_padding} works "
         f"only with data.train_crop='pad', not {d.train_crop!r}; set it to 0")
  if d.train_crop == "random":
    need(not d.resize or d.resize >= d.image_size, f"data.resize={d.resize} is smaller than "
         f"the data.image_size={d.image_size} crop")
  if d.train_crop == "scale_jitter":
    jitter = tuple(d.scale_jitter)
    need(len(jitter) == 2 and d.image_size <= jitter[0] <= jitter[1],
         f"data.scale_jitter={jitter} must be (S_min, S_max) with data.image_size="
         f"{d.image_size} <= S_min <= S_max")
  protocols = ("center", "ten_crop", "dense", "multi_crop")
  need(c.eval_protocol in protocols,
       f"eval_protocol={c.eval_protocol!r} must be one of {', '.join(protocols)}")
  if c.eval_protocol in ("ten_crop", "multi_crop"):
    need(d.image_size > 0, f"eval_protocol={c.eval_protocol!r} needs data.image_size > 0, the "
         "side of the crops")
  if c.eval_protocol == "multi_crop":
    m = c.multi_crop
    scales = tuple(m.scales)
    need(scales and all(isinstance(s, int) and s >= d.image_size for s in scales),
         f"multi_crop.scales={scales} must be image sides of at least data.image_size="
         f"{d.image_size}")
    need(m.squares in (1, 3), f"multi_crop.squares={m.squares} must be 1 or 3")
    need(m.crops in (1, 5, 6), f"multi_crop.crops={m.crops} must be 1, 5 or 6")
  need(all(isinstance(q, int) and q > 0 for q in c.eval_scales),
       f"eval_scales={tuple(c.eval_scales)} must be positive ints (image sides)")


def differences(old: dict, new: dict, prefix: str = "", defaults: dict | None = None
                ) -> list[str]:
  """Fields whose values differ between two config dicts, as 'field: old -> new'.

  A field absent from ``old`` (added to jaxcnn after that run was written) counts as its
  default from base_config().
  """
  defaults = base_config().to_dict() if defaults is None else defaults
  old = {**{k: v for k, v in defaults.items() if k not in old}, **old}
  out = []
  for key in sorted(set(old) | set(new)):
    name = prefix + key
    a, b = old.get(key, "<absent>"), new.get(key, "<absent>")
    if isinstance(a, dict) and isinstance(b, dict):
      sub = defaults.get(key)
      out.extend(differences(a, b, name + ".", sub if isinstance(sub, dict) else {}))
    elif (list(a) if isinstance(a, (list, tuple)) else a) != \
        (list(b) if isinstance(b, (list, tuple)) else b):
      if name not in RESUMABLE_CHANGES:
        out.append(f"{name}: {a!r} -> {b!r}")
  return out
