"""Elastic blocks: one block position of the supernet, holding the weights of all its choices.

Weight sharing (docs/supernet.md; as the reference): the 1x1 expand conv and BN1 are shared at max
width (a smaller expand ratio uses the first channels); every kernel size has its own depthwise weights and private BN;
one SE at max width whose reduced channels are sliced; one 1x1 project conv (input channels sliced);
a private BN3 per (expand_ratio, se) pair. ``skip`` choices are the identity, or one shared 1x1 conv +
BN projection where the shape changes.

The slicing conventions live in :func:`choice_tensors`, used both by ``forward`` and by child
extraction (:func:`binas.supernet.model.extract_child`), so the two cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from binas.nn.blocks import ACT_LAYERS, ConvBnAct
from binas.space import Choice, SearchSpace, keeps_shape, mid_channels, se_channels

__all__ = ["BnSlice", "ChoiceTensors", "ElasticBlock", "build_elastic_stages", "choice_tensors"]


@dataclass(frozen=True)
class BnSlice:
    """The first ``channels`` channels of a (possibly wider) BatchNorm: parameters and running stats."""

    bn: nn.BatchNorm2d
    channels: int

    def tensors(self) -> dict[str, torch.Tensor]:
        """Views of the sliced ``weight, bias, running_mean, running_var`` (static BN's key names)."""
        c = self.channels
        return {"weight": self.bn.weight[:c], "bias": self.bn.bias[:c],
                "running_mean": self.bn.running_mean[:c], "running_var": self.bn.running_var[:c]}

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        bn, c = self.bn, self.channels
        momentum = bn.momentum if bn.momentum is not None else 0.0
        if bn.training:  # as nn.BatchNorm2d; momentum None = cumulative average (e.g. BN recalibration)
            bn.num_batches_tracked.add_(1)
            if bn.momentum is None:
                momentum = 1.0 / float(bn.num_batches_tracked)
        # Slices of the running buffers are views, so the in-place running-stat update reaches them.
        return F.batch_norm(x, bn.running_mean[:c], bn.running_var[:c], bn.weight[:c], bn.bias[:c],
                            bn.training, momentum, bn.eps)


@dataclass(frozen=True)
class ChoiceTensors:
    """Views of the supernet weights one inverted-residual choice uses, in static-block layout."""

    pw_weight: torch.Tensor  # mid, in, 1, 1
    bn1: BnSlice
    dw_weight: torch.Tensor  # mid, 1, k, k
    bn2: BnSlice
    se: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor] | None  # reduce w, b; expand w, b
    pwl_weight: torch.Tensor  # out, mid, 1, 1
    bn3: BnSlice


def choice_tensors(block: "ElasticBlock", choice: Choice) -> ChoiceTensors:
    """The slices of ``block``'s shared weights used by ``choice`` (an inverted-residual choice)."""
    mid = mid_channels(block.in_channels, choice.expand_ratio)
    k = str(choice.kernel_size)
    se = None
    if choice.se:
        rd = se_channels(mid, block.se_ratio)
        red, exp = block.se_reduce, block.se_expand
        se = (red.weight[:rd, :mid], red.bias[:rd], exp.weight[:mid, :rd], exp.bias[:mid])
    return ChoiceTensors(
        pw_weight=block.pw.weight[:mid], bn1=BnSlice(block.bn1, mid),
        dw_weight=block.dw[k].weight[:mid], bn2=BnSlice(block.bn_dw[k], mid), se=se,
        pwl_weight=block.pwl.weight[:, :mid], bn3=BnSlice(block.bn3[_bn3_key(choice)], block.out_channels),
    )


def _bn3_key(choice: Choice) -> str:
    return f"e{choice.expand_ratio}" + ("se" if choice.se else "")


class ElasticBlock(nn.Module):
    """All choices of one block position, sharing weights as in the reference (module docstring)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, choices: tuple[Choice, ...],
                 act_layer: type[nn.Module], se_ratio: float) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride
        self.choices, self.se_ratio = choices, se_ratio
        self.act = act_layer()
        self.has_residual = keeps_shape(in_channels, out_channels, stride)
        irs = [c for c in choices if not c.is_skip]
        self.skip = None
        if any(c.is_skip for c in choices):
            self.skip = nn.Identity() if self.has_residual else ConvBnAct(in_channels, out_channels, 1, stride,
                                                                          act_layer=None)
        if not irs:
            return
        max_mid = max(mid_channels(in_channels, c.expand_ratio) for c in irs)
        self.pw = nn.Conv2d(in_channels, max_mid, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(max_mid)
        kernels = sorted({c.kernel_size for c in irs})
        self.dw = nn.ModuleDict({str(k): nn.Conv2d(max_mid, max_mid, k, stride, k // 2, groups=max_mid,
                                                   bias=False) for k in kernels})
        self.bn_dw = nn.ModuleDict({str(k): nn.BatchNorm2d(max_mid) for k in kernels})
        if any(c.se for c in irs):
            max_rd = max(se_channels(mid_channels(in_channels, c.expand_ratio), se_ratio) for c in irs if c.se)
            self.se_reduce = nn.Conv2d(max_mid, max_rd, 1, bias=True)
            self.se_expand = nn.Conv2d(max_rd, max_mid, 1, bias=True)
        self.pwl = nn.Conv2d(max_mid, out_channels, 1, bias=False)
        self.bn3 = nn.ModuleDict({key: nn.BatchNorm2d(out_channels) for key in sorted({_bn3_key(c) for c in irs})})

    @torch.no_grad()
    def inherit_from_largest(self) -> None:
        """Initialise the weights only smaller choices use from the largest choice's (stage-B warm start).

        Every smaller kernel's depthwise weights become the centre crop of the largest kernel's, its BN a
        copy of the largest kernel's BN, and every BN3 a copy of the largest (e, se) pair's. The weights
        stay separate (reference sharing); only their starting point changes.
        """
        if not hasattr(self, "dw"):
            return
        kmax = max(int(k) for k in self.dw)
        for k, conv in self.dw.items():
            off = (kmax - int(k)) // 2
            conv.weight.copy_(self.dw[str(kmax)].weight[:, :, off:off + int(k), off:off + int(k)])
            self.bn_dw[k].load_state_dict(self.bn_dw[str(kmax)].state_dict())
        largest = _bn3_key(max((c for c in self.choices if not c.is_skip), key=lambda c: (c.expand_ratio, c.se)))
        for key, bn in self.bn3.items():
            bn.load_state_dict(self.bn3[largest].state_dict())

    def forward(self, x: torch.Tensor, choice: Choice) -> torch.Tensor:
        """Run ``x`` (B, in, H, W) through one choice; returns (B, out, H', W')."""
        if choice.is_skip:
            return self.skip(x)
        t = choice_tensors(self, choice)
        y = self.act(t.bn1(F.conv2d(x, t.pw_weight)))
        k = choice.kernel_size
        y = self.act(t.bn2(F.conv2d(y, t.dw_weight, None, self.stride, k // 2, 1, t.dw_weight.shape[0])))
        if t.se is not None:
            rw, rb, ew, eb = t.se
            s = y.mean((2, 3), keepdim=True)  # B, mid, 1, 1
            y = y * F.hardsigmoid(F.conv2d(F.relu(F.conv2d(s, rw, rb)), ew, eb))
        y = t.bn3(F.conv2d(y, t.pwl_weight))
        return x + y if self.has_residual else y


def build_elastic_stages(space: SearchSpace) -> nn.ModuleList:
    """``stages[s][j]``: the elastic block of every position of every searched stage."""
    stages = nn.ModuleList()
    for s, stage in enumerate(space.stages):
        blocks = nn.ModuleList()
        for j, choices in enumerate(stage.positions):
            in_ch, _, stride = space.position_geometry(s, j)
            blocks.append(ElasticBlock(in_ch, stage.out_channels, stride, choices, ACT_LAYERS[stage.activation],
                                       space.se_ratio))
        stages.append(blocks)
    return stages
