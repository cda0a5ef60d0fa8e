"""Multi-host start-up on JAX's own multi-controller runtime (jax.distributed)."""

import os

from absl import logging
import jax


def cluster_detected() -> bool:
  """True under a launcher whose environment jax.distributed.initialize() reads by itself."""
  env = os.environ
  if int(env.get("SLURM_NTASKS", "1")) > 1 and "SLURM_STEP_NODELIST" in env:
    return True
  if int(env.get("OMPI_COMM_WORLD_SIZE", "1")) > 1:
    return True
  return "," in env.get("TPU_WORKER_HOSTNAMES", "")


def initialize(coordinator_address: str | None = None, num_processes: int | None = None,
               process_id: int | None = None) -> None:
  """Joins the cluster when asked to (flags) or when a launcher is detected; else one process."""
  explicit = any(v is not None for v in (coordinator_address, num_processes, process_id))
  if not explicit and not cluster_detected():
    return
  # Collectives between the CPU devices of several processes (tests, CPU clusters).
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  if explicit:
    jax.distributed.initialize(coordinator_address=coordinator_address,
                               num_processes=num_processes, process_id=process_id)
  else:
    jax.distributed.initialize()
  logging.info("Process %d of %d, %d local of %d devices.", jax.process_index(),
               jax.process_count(), jax.local_device_count(), jax.device_count())
