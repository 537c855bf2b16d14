"""binas: hardware-constrained, interpretable neural architecture search (BINAS)."""

__version__ = "0.1.0"
