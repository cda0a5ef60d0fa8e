"""jaxcnn: the classic image-classification CNNs in JAX/Flax."""
