"""The base config every experiment file starts from; see configs/."""

from ml_collections import ConfigDict, config_dict


def base_config() -> ConfigDict:
  c = ConfigDict()
  c.model = "lenet5_modern"
  c.model_kwargs = ConfigDict()  # Constructor fields (paper ablation switches).
  c.width = 1.0
  c.dtype = "float32"
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
  c.log_every_steps = 100
  c.eval_every_epochs = 1.0
  c.checkpoint_every_steps = 1000
  c.keep_checkpoints = 3

  c.mesh = ConfigDict()
  c.mesh.data = -1
  c.mesh.model = 1
  return c
