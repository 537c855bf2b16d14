"""Supernet training: configuration, the two-stage loop (CPU or torchrun DDP), checkpoints."""

from binas.supernet.train.config import TrainConfig, load_config
from binas.supernet.train.loop import train_supernet

__all__ = ["TrainConfig", "load_config", "train_supernet"]
