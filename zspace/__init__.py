"""zspace: latent spaces of face autoencoders, measured exactly and at full scale."""

__version__ = "0.1.0"
