"""Exact analytic parameter and MAC counts, computed from the space (no measurement).

MACs count multiply-accumulates of convolutions and linear layers (BN, activations, pooling and
additions are not counted), for one image. Parameters count trainable weights and biases (BN
running statistics are buffers, not parameters), as ``sum(p.numel() for p in model.parameters())``.
They live with the geometry because the space itself needs them (its heaviest network, its size
limit); :func:`binas.lut.table.analytic_lut` turns them into LUTs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from binas.space.blocks import Architecture, BlockSpec

if TYPE_CHECKING:
    from binas.space.model import SearchSpace

__all__ = ["ANALYTIC_RESOURCES", "block_cost", "fixed_cost", "network_cost"]

ANALYTIC_RESOURCES = ("params", "macs")


def _conv(in_chs: int, out_chs: int, k: int, groups: int, out_size: int, bias: bool = False,
          bn: bool = True) -> tuple[int, int]:
    params = out_chs * (in_chs // groups) * k * k + (out_chs if bias else 0) + (2 * out_chs if bn else 0)
    macs = out_size * out_size * out_chs * (in_chs // groups) * k * k
    return params, macs


def _se(chs: int, rd: int) -> tuple[int, int]:
    return chs * rd + rd + rd * chs + chs, 2 * chs * rd


def _add(*parts: tuple[int, int]) -> dict[str, int]:
    return {"params": sum(p for p, _ in parts), "macs": sum(m for _, m in parts)}


def block_cost(spec: BlockSpec) -> dict[str, int]:
    """``{"params": ..., "macs": ...}`` of one resolved block."""
    out = spec.output_size
    if spec.type == "skip":
        return _add() if spec.keeps_shape else _add(_conv(spec.in_channels, spec.out_channels, 1, 1, out))
    if spec.type == "conv":
        return _add(_conv(spec.in_channels, spec.out_channels, spec.kernel_size, 1, out))
    se = [_se(spec.mid_channels, spec.se_channels)] if spec.se else []
    if spec.type == "ds":
        c = spec.in_channels
        return _add(_conv(c, c, spec.kernel_size, c, out), *se, _conv(c, spec.out_channels, 1, 1, out))
    mid = spec.mid_channels
    return _add(
        _conv(spec.in_channels, mid, 1, 1, spec.input_size),
        _conv(mid, mid, spec.kernel_size, mid, out),
        *se,
        _conv(mid, spec.out_channels, 1, 1, out),
    )


def fixed_cost(space: SearchSpace) -> dict[str, int]:
    """Cost of the parts every child shares: stem, fixed blocks, head conv, pool and classifier."""
    stem = _conv(space.in_channels, space.stem.out_channels, space.stem.kernel_size, 1, space.stem_output_size)
    parts = [stem] + [tuple(block_cost(s).values()) for s in space.fixed_specs]
    if space.head.conv_channels:
        parts.append(_conv(space.stages[-1].out_channels, space.head.conv_channels, 1, 1, space.final_size))
    width = space.final_channels
    if space.head.features:
        parts.append(_conv(width, space.head.features, 1, 1, 1, bias=True, bn=False))
        width = space.head.features
    parts.append((width * space.num_classes + space.num_classes, width * space.num_classes))
    return _add(*parts)


def network_cost(space: SearchSpace, arch: Architecture) -> dict[str, int]:
    """Exact ``{"params", "macs"}`` of the static child of ``arch``."""
    total = fixed_cost(space)
    for stage in space.block_specs(arch):
        for spec in stage:
            for key, value in block_cost(spec).items():
                total[key] += value
    return total


