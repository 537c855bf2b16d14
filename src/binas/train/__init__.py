"""Supernet training: configuration, the two-stage loop (CPU or torchrun DDP), checkpoints."""

from binas.train.config import TrainConfig, load_config
from binas.train.loop import train_supernet

__all__ = ["TrainConfig", "load_config", "train_supernet"]
