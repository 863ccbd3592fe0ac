"""The exploring side, torch-free: a generator on ONNX Runtime, latent maths, images, the operations and their limits."""
