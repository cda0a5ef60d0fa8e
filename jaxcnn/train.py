"""The training loop: build state, resume, step, evaluate, checkpoint, log."""

import contextlib
import functools
import json
import os
import time

from absl import logging
import flax.linen as nn
import jax
import jax.numpy as jnp
from ml_collections import ConfigDict
import numpy as np

from jaxcnn import checkpoint
from jaxcnn import config as config_lib
from jaxcnn import evaluate as eval_protocols
from jaxcnn import fileio
from jaxcnn import finetune
from jaxcnn import inference
from jaxcnn import metrics as metrics_lib
from jaxcnn import models
from jaxcnn import optim
from jaxcnn import preemption
from jaxcnn import profiling
from jaxcnn import sharding
from jaxcnn import splits as split_checks
from jaxcnn import steps
from jaxcnn import workdir_lock
from jaxcnn.data import pipeline
from jaxcnn.data import sources
from jaxcnn.errors import UserError
from jaxcnn.loss_scale import LossScale
from jaxcnn.models import ops
from jaxcnn.state import TrainState


class Experiment:
  """Everything built from a config before the first step: data, model, state, jitted steps.

  With ``num_classes`` and ``input_shape`` given, no dataset is loaded (for building or
  converting a state without data); ``evaluate`` and ``train_batches`` then need one, and the
  class names are ``class_names`` (else the dataset's).
  """

  def __init__(self, config: ConfigDict, *, train: bool = True, devices=None,
               num_classes: int | None = None, input_shape: tuple | None = None,
               class_names=None):
    self.config = config
    self.process_index, self.process_count = jax.process_index(), jax.process_count()
    self.mesh = sharding.make_mesh(config.mesh.data, config.mesh.model, devices)
    data_devices = self.mesh.shape["data"]
    for name in ("batch_size", "eval_batch_size"):
      value = config[name]
      if value <= 0 or value % data_devices:
        raise UserError(f"config.{name}={value} must be a positive multiple of the "
                        f"{data_devices} devices on the mesh's data axis.")

    self.eval_preprocess = pipeline.make_preprocess(config.data, train=False)
    self.dataset = None
    if num_classes is None or input_shape is None:
      splits = (config.train_split, config.eval_split) if train else (config.eval_split,)
      if train and config.validation_split:
        splits += (config.validation_split,)
      self.dataset = sources.load(config.dataset, splits, config.data_dir,
                                  in_memory=config.data.in_memory)
      if train:
        split_checks.check(config, self.dataset.sizes)
      self.eval_source = self.dataset.splits[config.eval_split]
      if None in self.eval_source.image_shape and not config.data.image_size:
        raise UserError(f"The images of {config.dataset} vary in size, and a batch needs one "
                        "size: set data.image_size, the side of the crops the network takes "
                        "(e.g. 224, with data.resize=256).")
      num_classes, class_names = self.dataset.num_classes, self.dataset.class_names
      first = next(pipeline.eval_batches(self.eval_source, 1, preprocess=self.eval_preprocess,
                                         workers=1))
      input_shape = first["image"].shape[1:]
    self.num_classes, self.input_shape = num_classes, tuple(input_shape)
    self.class_names = tuple(class_names) if class_names is not None else None
    # The splits evaluate() reports, by metric prefix: the test split, and the validation
    # split that decisions are taken on.
    self.eval_sources = {} if self.dataset is None else {"eval": self.eval_source}
    if train and self.dataset is not None:
      self.train_source = self.dataset.splits[config.train_split]
      if config.validation_split:
        self.eval_sources["val"] = self.dataset.splits[config.validation_split]
      if config.batch_size > len(self.train_source):
        raise UserError(f"config.batch_size={config.batch_size} exceeds the "
                        f"{len(self.train_source)} training examples.")
      self.steps_per_epoch = len(self.train_source) // config.batch_size
      self.total_steps = (config.num_train_steps if config.num_train_steps > 0
                          else int(round(config.num_epochs * self.steps_per_epoch)))
    else:
      self.steps_per_epoch = self.total_steps = 1
    self.schedule = optim.make_schedule(config, self.steps_per_epoch, self.total_steps)
    self.tx = optim.make_optimizer(config, self.schedule)
    self.plateau = optim.make_plateau(config)

    self.model = models.from_config(config, self.num_classes, self.input_shape)

    # Host data: every process passes the same replicated value.
    self._rng = np.asarray(jax.random.PRNGKey(config.seed))
    # Parameters (and their optimizer state) annotated with logical axes are sharded over
    # the mesh accordingly (AlexNet's towers over 'model'); everything else is replicated.
    boxed = jax.eval_shape(functools.partial(self._init_state, self._rng, unbox=False))
    self.state_sharding = sharding.tree_shardings(boxed, self.mesh)
    if self.mesh.shape["model"] > 1 and not sharding.uses_model_axis(self.state_sharding):
      raise UserError(
          f"mesh.model={self.mesh.shape['model']}, but {config.model} has no layers to split "
          "over the model axis (only AlexNet's towers are: model=alexnet with towers=2). "
          "Set --config.mesh.model=1 for data parallelism.")
    abstract = nn.unbox(boxed)
    self.abstract_state = jax.tree.map(
        lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
        abstract, self.state_sharding)

    data_sharding = sharding.batch_sharding(self.mesh)
    replicated = sharding.replicated(self.mesh)
    self.train_step = ops.jit(
        sharding.traced_in(self.mesh, functools.partial(
            steps.train_step, schedule=self.schedule, aux_loss_weight=config.aux_loss_weight,
            layer_grad_norms=config.log_layer_grad_norms, ema_decay=config.ema_decay,
            label_smoothing=config.label_smoothing, grad_accum_steps=config.grad_accum_steps)),
        in_shardings=(self.state_sharding, data_sharding),
        out_shardings=(self.state_sharding, replicated), donate_argnums=0,
        impl=config.conv_impl)
    # config.eval_protocol: its host preprocessing and its step (steps.eval_step for "center").
    varying = self.dataset is not None and None in self.eval_source.image_shape
    self.eval_protocol = eval_protocols.make_protocol(config, self.model, varying_size=varying)
    self.eval_step = ops.jit(sharding.traced_in(self.mesh, self.eval_protocol.step),
                             in_shardings=(self.state_sharding, data_sharding),
                             out_shardings=replicated, impl=config.conv_impl)
    self.record_eval = jax.jit(self._record_eval, in_shardings=(self.state_sharding, None),
                               out_shardings=self.state_sharding, donate_argnums=0)

  def metadata(self) -> checkpoint.Metadata:
    """What every checkpoint of this experiment records about its network."""
    return checkpoint.Metadata.of(self.config, self.num_classes, self.input_shape,
                                  self.class_names)

  def _init_state(self, rng, unbox: bool = True) -> TrainState:
    params_rng, dropout_rng, state_rng = jax.random.split(rng, 3)
    # Training-mode init creates the layers that exist only in training (auxiliary heads).
    variables = self.model.init({"params": params_rng, "dropout": dropout_rng},
                                jnp.zeros((2,) + self.input_shape, jnp.float32), train=True)
    batch_stats = variables.get("batch_stats", {})
    state = TrainState.create(
        apply_fn=self.model.apply, params=variables["params"], tx=self.tx,
        batch_stats=batch_stats, rng=state_rng, plateau=self.plateau.init(None),
        ema={"params": variables["params"], "batch_stats": batch_stats}
        if self.config.ema_decay else {},
        loss_scale=LossScale.create() if self.config.dtype == "float16" else {})
    # Checkpoints hold plain arrays; the logical-axis boxes only decide the shardings.
    return nn.unbox(state) if unbox else state

  def init_state(self) -> TrainState:
    """A fresh state, created directly with its shardings."""
    return self.init_fn()(self._rng)

  def init_fn(self):
    """The jitted initialisation, of the seed's key. The key is an argument, not a constant:
    one compiled initialisation serves every seed (a persistent compilation cache then shares
    it between runs)."""
    return jax.jit(self._init_state, out_shardings=self.state_sharding)

  def _record_eval(self, state: TrainState, error):
    _, plateau = self.plateau.update((), state.plateau, value=error)
    return state.replace(plateau=plateau)

  def train_batches(self) -> pipeline.TrainBatches:
    return pipeline.TrainBatches(
        self.train_source, self.config.batch_size, self.config.seed,
        process_index=self.process_index, process_count=self.process_count,
        preprocess=pipeline.make_preprocess(self.config.data, train=True,
                                            colour_pca=self.colour_pca()),
        workers=self.config.data.workers)

  def colour_pca(self):
    """The training split's colour PCA for data.pca_noise (cached beside the data), or None.

    A streamed split is not held in memory: its statistics come from a seeded sample.
    """
    if not self.config.data.pca_noise:
      return None
    path = sources.cache_path(self.config.dataset, self.config.train_split,
                              self.config.data_dir, "colour_pca.npz")
    if isinstance(self.train_source, sources.ArraySource):
      return pipeline.colour_pca_cached(self.train_source.images, path)
    return pipeline.colour_pca_sampled(self.train_source, self.config.data, path,
                                       seed=self.config.seed, workers=self.config.data.workers)

  def evaluate(self, state: TrainState) -> dict[str, float]:
    """Loss, top-1 and top-5 over every example of the eval split ("eval/top1"...) and, in
    training with a validation split, of that ("val/top1"...), by config.eval_protocol; with
    a moving average, of the averaged variables too ("eval/ema_top1"...)."""
    # A per-image protocol takes each image at its own shape (jaxcnn.inference).
    over = (inference.evaluate_per_image if self.eval_protocol.per_image
            else eval_protocols.over_split)
    out = {}
    for prefix, source in self.eval_sources.items():
      out.update(over(self, state, source, prefix + "/"))
      if state.ema:
        out.update(over(self, state.averaged(), source, prefix + "/ema_", count=False))
    return out


def _say(msg: str) -> None:
  if jax.process_index() == 0:
    print(msg, flush=True)
  logging.info(msg)


def _check_config_change(workdir: str, config: ConfigDict, allow: bool) -> None:
  """Refuses to continue a workdir's run with a different config, unless allowed."""
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    return
  with open(path) as f:
    old = json.load(f)
  new = json.loads(json.dumps(config.to_dict(), default=str))
  changed = config_lib.differences(old, new)
  if changed and not allow:
    raise UserError(
        f"{workdir} holds a run with a different config ({'; '.join(changed[:8])}"
        f"{' ...' if len(changed) > 8 else ''}). Use a new --workdir, or pass "
        "--allow_config_change to continue this run with the new values.")


def _save_config(workdir: str, config: ConfigDict) -> None:
  if jax.process_index() == 0:
    fileio.atomic_write(os.path.join(workdir, "config.json"),
                        lambda f: json.dump(config.to_dict(), f, indent=2, default=str))


def _ensure_workdir(workdir: str) -> None:
  try:
    os.makedirs(workdir, exist_ok=True)
  except OSError as e:
    raise UserError(f"Cannot create workdir {workdir!r}: {e.strerror}. "
                    "Choose a writable --workdir.") from e


def _check_writable(workdir: str) -> None:
  probe = os.path.join(workdir, f".write-test-{os.getpid()}-{jax.process_index()}")
  try:
    with open(probe, "w"):
      pass
    os.remove(probe)
  except OSError as e:
    raise UserError(f"Workdir {workdir!r} is not writable ({e.strerror}). Choose a writable "
                    "--workdir.") from e


def train_and_evaluate(config: ConfigDict, workdir: str, *, restart: bool = False,
                       allow_config_change: bool = False,
                       stop: preemption.StopRequest | None = None) -> dict[str, float] | None:
  """Trains, resuming from the latest good checkpoint in workdir; returns the final eval metrics.

  Returns None when a SIGTERM/SIGINT stopped the run (after checkpointing it). The workdir is
  locked for the whole run (see workdir_lock), before anything is written to it.
  """
  config_lib.validate(config)
  # From the start: a SIGTERM during set-up waits for the first step boundary.
  stop = stop or preemption.StopRequest()
  _ensure_workdir(workdir)
  with workdir_lock.acquire(workdir) as lock:
    return _train(config, workdir, restart, allow_config_change, stop, lock)


def _train(config: ConfigDict, workdir: str, restart: bool, allow_config_change: bool,
           stop: preemption.StopRequest,
           lock: workdir_lock.WorkdirLock) -> dict[str, float] | None:
  _check_writable(workdir)
  _check_config_change(workdir, config, allow_config_change)
  exp = Experiment(config, train=True)
  saver = checkpoint.Saver(workdir, config, exp.metadata())
  state, start = checkpoint.restore_latest_good(saver.mngr, exp.abstract_state, workdir,
                                                restart=restart)
  if state is None:
    state, start = exp.init_state(), 0
    _say(f"Starting {config.model} on {config.dataset} in {workdir}: {exp.total_steps} steps "
         f"({exp.total_steps / exp.steps_per_epoch:g} epochs of {exp.steps_per_epoch}), "
         f"{jax.device_count()} devices, {exp.process_count} processes.")
    if config.init_from:  # Only a new run starts from elsewhere; resuming always wins.
      state, report = finetune.initialize(state, config, exp.input_shape, config.init_from,
                                          exp.state_sharding)
      _say(report)
  else:
    _say(f"Resuming from the checkpoint at step {start} in {workdir}.")

  faults = saver.faults
  with faults("Writing the config", "config.json"):
    _save_config(workdir, config)
  with faults("Opening the metrics", "metrics.jsonl"):
    writer = metrics_lib.MetricWriter(workdir, active=exp.process_index == 0,
                                      resume_step=start)
  eval_every = max(1, int(round(config.eval_every_epochs * exp.steps_per_epoch)))
  progress = metrics_lib.Progress(exp.total_steps, exp.steps_per_epoch, config.batch_size, start)
  batches = sharding.on_device(exp.train_batches().iterate(start), exp.mesh)
  history, eval_metrics, history_start = [], None, start
  t_start = time.perf_counter()
  failed = False
  trace = profiling.StepTrace(config.profile_steps, os.path.join(workdir, "profile"))
  try:
    for step in range(start, exp.total_steps):
      trace.before(step)
      state, step_metrics = exp.train_step(state, next(batches))
      trace.after(step, state)
      history.append(step_metrics)
      done = step + 1
      last = done == exp.total_steps
      eval_now = done % eval_every == 0 or last
      stopping = stop.should_stop(done)
      save_now = done % config.checkpoint_every_steps == 0 or eval_now or stopping
      # Logging at every checkpoint makes the logged means independent of where a run
      # was interrupted and resumed.
      if done % config.log_every_steps == 0 or save_now:
        lock.check()
        host = jax.device_get(history)
        bad = metrics_lib.first_nonfinite(host, history_start)
        if bad and not config.skip_nonfinite_steps:
          latest = saver.last_good()
          kept = (f"the latest checkpoint, step {latest}, is untouched" if latest is not None
                  else "no checkpoint was written")
          raise UserError(
              f"Non-finite {bad[1]} at step {bad[0]}: the run stopped and {kept}. Lower the "
              "learning rate, or set --config.skip_nonfinite_steps=true to skip such steps.")
        scalars = metrics_lib.train_scalars(host)
        rate = progress.rate(done)
        scalars["train/images_per_s"] = rate
        with faults(f"Writing the metrics of step {done}", "metrics.jsonl"):
          writer.write(done, scalars)
        _say(progress.line(done, rate, scalars))
        history, history_start = [], done
      eval_metrics = None
      if eval_now:
        eval_metrics = exp.evaluate(state)
        with faults(f"Writing the metrics of step {done}", "metrics.jsonl"):
          writer.write(done, eval_metrics)
        if config.schedule.name == "plateau":  # Decided on the validation split alone.
          state = exp.record_eval(state, jnp.float32(1.0 - eval_metrics["val/top1"]))
        _say(metrics_lib.eval_line(done, eval_metrics))
        progress.rate(done)  # Evaluation time is not training throughput.
      if save_now:
        saver.save(done, state, eval_metrics)
      if stopping and not last:
        saver.wait()
        _say(f"Received {stop.signal_name}: saved the checkpoint at step {done} and stopped. "
             "Re-run the same command to resume.")
        return None
  except BaseException:
    failed = True
    raise
  finally:
    trace.close()
    stop.restore_handlers()
    # After a failure, closing (which a full disk fails too) must not replace its report.
    quiet = contextlib.suppress(Exception) if failed else contextlib.nullcontext()
    with quiet:
      saver.wait()  # The end of training, or a failure, waits for a save in flight.
    with quiet, faults("Closing the metrics", "metrics.jsonl"):
      writer.close()
  if eval_metrics is None:  # Nothing left to train: report the restored state.
    eval_metrics = exp.evaluate(state)
  minutes = (time.perf_counter() - t_start) / 60
  _say(f"Test accuracy: top-1 {eval_metrics['eval/top1']:.4f}, top-5 "
       f"{eval_metrics['eval/top5']:.4f} on {int(eval_metrics['eval/count'])} "
       f"{config.eval_split} images ({minutes:.1f} min this run).")
  return eval_metrics


def evaluate(config: ConfigDict, workdir: str, step: int | None = None) -> dict[str, float]:
  """Restores the latest (or the given) checkpoint in workdir and evaluates it."""
  mngr = checkpoint.manager(workdir, config.keep_checkpoints, create=False)
  available = mngr.all_steps()
  if not available:
    raise UserError(f"No checkpoint in {os.path.join(workdir, 'checkpoints')}; train first "
                    "with --mode=train.")
  step = mngr.latest_step() if step is None else step
  if step not in available:
    raise UserError(f"No checkpoint at step {step} in {workdir}; available steps: "
                    f"{sorted(available)}.")
  exp = Experiment(config, train=False)
  mismatch = checkpoint.architecture_mismatch(mngr, step, exp.abstract_state)
  if mismatch:
    raise UserError(f"The checkpoint at step {step} in {workdir} does not fit the model this "
                    f"config builds: {mismatch}. Use the config that wrote it.")
  state = checkpoint.restore(mngr, step, exp.abstract_state)
  result = exp.evaluate(state)
  _say(f"Checkpoint at step {step}: top-1 {result['eval/top1']:.4f}, top-5 "
       f"{result['eval/top5']:.4f}, loss {result['eval/loss']:.4f} on "
       f"{int(result['eval/count'])} {config.eval_split} images.")
  return result
