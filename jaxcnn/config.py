"""The base config every experiment file starts from; see configs/."""

from ml_collections import ConfigDict, config_dict

from jaxcnn.errors import UserError


def base_config() -> ConfigDict:
  c = ConfigDict()
  c.model = "lenet5_modern"
  c.model_kwargs = ConfigDict()  # Constructor fields (paper ablation switches).
  c.width = 1.0
  c.dtype = "float32"  # Compute dtype; parameters and optimizer state stay float32.
  c.conv_impl = "auto"  # jaxcnn.models.conv: "auto" (fast on CPU, native elsewhere) | native | fast
  c.aux_loss_weight = 0.3  # Weight of auxiliary classifiers' losses (GoogLeNet), if any.

  c.dataset = "fashion_mnist"
  c.data_dir = config_dict.placeholder(str)  # TFDS data_dir; None: TFDS's default.
  c.train_split = "train"
  c.eval_split = "test"
  c.data = ConfigDict()
  c.data.image_size = 0  # 0: the dataset's own size.
  c.data.mean = (0.0,)
  c.data.std = (1.0,)
  c.data.random_crop_padding = 0
  c.data.random_flip = False

  c.batch_size = 128  # Global batch, over all devices and processes.
  c.eval_batch_size = 1000
  c.num_epochs = 15.0
  c.num_train_steps = -1  # > 0 overrides num_epochs.

  c.optimizer = ConfigDict()
  c.optimizer.name = "sgd"
  c.optimizer.learning_rate = 0.05
  c.optimizer.momentum = 0.9
  c.optimizer.nesterov = False
  c.optimizer.weight_decay = 5e-4
  c.optimizer.weight_decay_mode = "coupled"

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
  c.eval_every_epochs = 1.0
  c.checkpoint_every_steps = 1000
  c.keep_checkpoints = 3

  c.mesh = ConfigDict()
  c.mesh.data = -1
  c.mesh.model = 1
  return c


# Fields that may change between the runs of one workdir without changing its results.
RESUMABLE_CHANGES = ("data_dir", "log_every_steps", "eval_batch_size", "checkpoint_every_steps",
                     "keep_checkpoints")


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
  need(c.conv_impl in ("auto", "native", "fast"),
       f"conv_impl={c.conv_impl!r} must be auto, native or fast")
  need(c.aux_loss_weight >= 0, "aux_loss_weight must be >= 0")
  need(c.mesh.data == -1 or c.mesh.data >= 1, "mesh.data must be -1 (all) or >= 1")
  need(c.mesh.model >= 1, "mesh.model must be >= 1")
  if problems:
    raise UserError("Invalid config: " + "; ".join(problems) + ". Fix the value(s) with "
                    "--config.FIELD=VALUE.")


def differences(old: dict, new: dict, prefix: str = "") -> list[str]:
  """Fields whose values differ between two config dicts, as 'field: old -> new'."""
  out = []
  for key in sorted(set(old) | set(new)):
    name = prefix + key
    a, b = old.get(key, "<absent>"), new.get(key, "<absent>")
    if isinstance(a, dict) and isinstance(b, dict):
      out.extend(differences(a, b, name + "."))
    elif (list(a) if isinstance(a, (list, tuple)) else a) != \
        (list(b) if isinstance(b, (list, tuple)) else b):
      if name not in RESUMABLE_CHANGES:
        out.append(f"{name}: {a!r} -> {b!r}")
  return out
