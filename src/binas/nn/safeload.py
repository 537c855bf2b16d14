"""Build a network for weights read from a file without trusting the sizes the file declares.

Sizes in file metadata (a model's space, a predictor's hidden width) decide how much memory a network
takes. :func:`build_fitting` first builds it on PyTorch's ``meta`` device (no memory), checks that
the file's tensors have exactly its keys and shapes, and only then builds it for real: a file whose
metadata declares a huge network but holds small tensors is refused before anything is allocated.
"""

from __future__ import annotations

from typing import Callable, TypeVar

import torch
from torch import nn

from binas.errors import FileFormatError

__all__ = ["build_fitting", "check_fits"]

M = TypeVar("M", bound=nn.Module)


def check_fits(own: dict[str, torch.Tensor], tensors: dict[str, torch.Tensor], where: str) -> None:
    """Raise :class:`FileFormatError` unless ``tensors`` has exactly the keys and shapes of ``own``."""
    missing, unexpected = sorted(set(own) - set(tensors)), sorted(set(tensors) - set(own))
    if missing or unexpected:
        raise FileFormatError(f"{where} does not match the network: missing {missing[:3]}, "
                              f"unexpected {unexpected[:3]}")
    for key, value in own.items():
        if tuple(value.shape) != tuple(tensors[key].shape):
            raise FileFormatError(f"{where}: tensor {key!r} has shape {tuple(tensors[key].shape)}, "
                                  f"expected {tuple(value.shape)}")


def build_fitting(factory: Callable[[], M], tensors: dict[str, torch.Tensor], where: str) -> M:
    """``factory()`` once ``tensors`` are known to fit it exactly (checked on the meta device first).

    Raises:
        FileFormatError: the tensors do not fit the network the metadata describes.
    """
    with torch.device("meta"):
        skeleton = factory()
    check_fits(skeleton.state_dict(), tensors, where)
    return factory()
