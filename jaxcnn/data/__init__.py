"""Input pipelines: TFDS datasets, image folders, local builders, deterministic batching."""
