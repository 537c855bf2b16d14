"""Static building blocks of child networks (plain PyTorch, timm-compatible structure).

Blocks receive numbers and layer classes, never strings or the whole space; the builder in
:mod:`binas.nn.static` resolves names once. Parameter layouts match timm's MobileNetV3 blocks so
that parameter counts agree to the unit.
"""

from __future__ import annotations

import torch
from torch import nn

from binas.space.blocks import keeps_shape

__all__ = ["ACT_LAYERS", "ConvBnAct", "DepthwiseSeparable", "InvertedResidual", "SkipBlock",
           "SqueezeExcite", "ClassifierHead"]

ACT_LAYERS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "hswish": nn.Hardswish}


class ConvBnAct(nn.Module):
    """Conv (no bias, 'same' padding) + BatchNorm + optional activation."""

    def __init__(self, in_chs: int, out_chs: int, kernel_size: int = 1, stride: int = 1, groups: int = 1,
                 act_layer: type[nn.Module] | None = nn.ReLU) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_chs, out_chs, kernel_size, stride, kernel_size // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_chs)
        self.act = act_layer() if act_layer is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class SqueezeExcite(nn.Module):
    """SE: global pool -> 1x1 conv (bias) -> ReLU -> 1x1 conv (bias) -> hard-sigmoid gate."""

    def __init__(self, chs: int, rd_chs: int) -> None:
        super().__init__()
        self.conv_reduce = nn.Conv2d(chs, rd_chs, 1, bias=True)
        self.act = nn.ReLU()
        self.conv_expand = nn.Conv2d(rd_chs, chs, 1, bias=True)
        self.gate = nn.Hardsigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)  # B, C, 1, 1
        return x * self.gate(self.conv_expand(self.act(self.conv_reduce(s))))


class InvertedResidual(nn.Module):
    """1x1 expand -> kxk depthwise -> optional SE -> 1x1 project, identity shortcut when shapes match."""

    def __init__(self, in_chs: int, out_chs: int, kernel_size: int, stride: int, mid_chs: int,
                 se_chs: int | None, act_layer: type[nn.Module], has_residual: bool) -> None:
        super().__init__()
        self.has_residual = has_residual
        self.conv_pw = ConvBnAct(in_chs, mid_chs, 1, act_layer=act_layer)
        self.conv_dw = ConvBnAct(mid_chs, mid_chs, kernel_size, stride, groups=mid_chs, act_layer=act_layer)
        self.se = SqueezeExcite(mid_chs, se_chs) if se_chs else nn.Identity()
        self.conv_pwl = ConvBnAct(mid_chs, out_chs, 1, act_layer=None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv_pwl(self.se(self.conv_dw(self.conv_pw(x))))
        return x + y if self.has_residual else y


class DepthwiseSeparable(nn.Module):
    """kxk depthwise + BN + act -> optional SE -> 1x1 pointwise + BN (no activation)."""

    def __init__(self, in_chs: int, out_chs: int, kernel_size: int, stride: int, se_chs: int | None,
                 act_layer: type[nn.Module], has_residual: bool) -> None:
        super().__init__()
        self.has_residual = has_residual
        self.conv_dw = ConvBnAct(in_chs, in_chs, kernel_size, stride, groups=in_chs, act_layer=act_layer)
        self.se = SqueezeExcite(in_chs, se_chs) if se_chs else nn.Identity()
        self.conv_pw = ConvBnAct(in_chs, out_chs, 1, act_layer=None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv_pw(self.se(self.conv_dw(x)))
        return x + y if self.has_residual else y


class SkipBlock(nn.Module):
    """The ``skip`` choice: identity, or a 1x1 conv + BN projection where the shape changes."""

    def __init__(self, in_chs: int, out_chs: int, stride: int) -> None:
        super().__init__()
        self.proj = (nn.Identity() if keeps_shape(in_chs, out_chs, stride)
                     else ConvBnAct(in_chs, out_chs, 1, stride, act_layer=None))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


class ClassifierHead(nn.Module):
    """Global average pool -> optional 1x1 conv (bias) + act -> dropout -> linear."""

    def __init__(self, in_chs: int, num_classes: int, features: int | None, act_layer: type[nn.Module],
                 dropout: float) -> None:
        super().__init__()
        self.conv_head = nn.Conv2d(in_chs, features, 1, bias=True) if features else None
        self.act = act_layer() if features else nn.Identity()
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(features or in_chs, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.mean((2, 3), keepdim=True)  # B, C, 1, 1
        if self.conv_head is not None:
            x = self.act(self.conv_head(x))
        return self.classifier(self.dropout(x.flatten(1)))
