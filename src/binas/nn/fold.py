"""Inference copies of static networks with every BatchNorm folded into the conv before it."""

from __future__ import annotations

import copy

from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from binas.nn.blocks import ConvBnAct

__all__ = ["fold_batchnorm"]


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """An eval-mode copy of ``model`` whose :class:`ConvBnAct` units compute ``act(conv'(x))``, with the
    BatchNorm's running statistics and affine folded into ``conv'`` (the same function up to float
    rounding, one pass less over every activation). ``model`` itself is left untouched; modules other
    than :class:`ConvBnAct` are copied as they are.
    """
    folded = copy.deepcopy(model).eval()
    for unit in folded.modules():
        if isinstance(unit, ConvBnAct) and isinstance(unit.bn, nn.BatchNorm2d):
            unit.conv, unit.bn = fuse_conv_bn_eval(unit.conv, unit.bn), nn.Identity()
    return folded
