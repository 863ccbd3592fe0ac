"""ganstudio: train GAN generators, export them safely, and explore their latent space."""

__version__ = "0.1.0"
