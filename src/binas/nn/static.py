"""Static child networks: a plain ``nn.Module`` built from any architecture of any space."""

from __future__ import annotations

import torch
from torch import nn

from binas.nn.blocks import (ACT_LAYERS, ClassifierHead, ConvBnAct, DepthwiseSeparable, InvertedResidual,
                             SkipBlock)
from binas.space import Architecture, BlockSpec, SearchSpace

__all__ = ["ChildNet", "build_block", "build_child", "build_fixed_parts"]


def build_block(spec: BlockSpec) -> nn.Module:
    """One static block from its resolved spec."""
    act = ACT_LAYERS[spec.activation]
    if spec.type == "skip":
        return SkipBlock(spec.in_channels, spec.out_channels, spec.stride)
    se_chs = spec.se_channels if spec.se else None
    if spec.type == "ds":
        return DepthwiseSeparable(spec.in_channels, spec.out_channels, spec.kernel_size, spec.stride, se_chs,
                                  act, spec.has_residual)
    if spec.type == "ir":
        return InvertedResidual(spec.in_channels, spec.out_channels, spec.kernel_size, spec.stride,
                                spec.mid_channels, se_chs, act, spec.has_residual)
    if spec.type == "conv":
        return ConvBnAct(spec.in_channels, spec.out_channels, spec.kernel_size, spec.stride, act_layer=act)
    raise ValueError(f"unknown block type {spec.type!r}")  # internal: specs come from the space


def build_fixed_parts(space: SearchSpace) -> tuple[nn.Module, nn.Module, nn.Module, nn.Module]:
    """``(stem, fixed_blocks, head_conv, head)``: the parts of every child that are not searched."""
    stem = ConvBnAct(space.in_channels, space.stem.out_channels, space.stem.kernel_size, space.stem.stride,
                     act_layer=ACT_LAYERS[space.stem.activation])
    fixed = nn.Sequential(*[build_block(s) for s in space.fixed_specs])
    last = space.stages[-1].out_channels
    act = ACT_LAYERS[space.head.activation]
    head_conv = (ConvBnAct(last, space.head.conv_channels, 1, act_layer=act)
                 if space.head.conv_channels else nn.Identity())
    head = ClassifierHead(space.final_channels, space.num_classes, space.head.features, act, space.head.dropout)
    return stem, fixed, head_conv, head


class ChildNet(nn.Module):
    """A static network of a space: stem -> fixed blocks -> searched stages -> head conv -> head."""

    def __init__(self, space: SearchSpace, arch: Architecture) -> None:
        super().__init__()
        self.space_name = space.name
        self.arch = arch
        self.stem, self.fixed_blocks, self.head_conv, self.head = build_fixed_parts(space)
        self.stages = nn.ModuleList(
            nn.Sequential(*[build_block(spec) for spec in stage]) for stage in space.block_specs(arch)
        )

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Outputs of every searched stage (used for stage-wise distillation)."""
        x = self.fixed_blocks(self.stem(x))
        outs = []
        for stage in self.stages:
            x = stage(x)
            outs.append(x)
        return outs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.head_conv(self.forward_features(x)[-1]))


def build_child(space: SearchSpace, arch: Architecture) -> ChildNet:
    """The static child network of ``arch`` (freshly initialised weights)."""
    return ChildNet(space, arch)
