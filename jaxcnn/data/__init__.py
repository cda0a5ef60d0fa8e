"""Input pipelines: TFDS datasets, local builders, deterministic batching."""
