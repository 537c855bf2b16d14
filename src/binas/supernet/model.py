"""The weight-sharing supernet (docs/supernet.md), architecture sampling and child extraction.

Architectures are fed to the network as *codes* (:mod:`binas.space.encoding`): an int array
``(n, num_positions)`` holding, for every block position (stage-major), the index of the chosen choice
or ``-1`` when the stage is too shallow for the position to be present. ``n == 1`` means one
architecture for the whole batch (per-batch sampling); ``n == B`` gives every image its own
architecture (per-image / multipath sampling).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from binas.inference import recalibrate_bn
from binas.nn.static import ChildNet, build_child, build_fixed_parts
from binas.space import Architecture, SearchSpace
from binas.space.encoding import archs_to_codes, codes_to_archs, decisions_to_codes
from binas.supernet.elastic import ElasticBlock, build_elastic_stages, choice_tensors

__all__ = ["Supernet", "archs_to_codes", "codes_to_archs", "extract_child", "recalibrated", "sample_codes"]


def sample_codes(space: SearchSpace, rng: np.random.Generator, n: int, alpha: np.ndarray | None = None,
                 beta: np.ndarray | None = None) -> np.ndarray:
    """Draw ``n`` architectures as codes, uniformly or from given distributions.

    Args:
        rng: the random generator (the only source of randomness).
        n: number of architectures.
        alpha, beta: optional probability vectors in the space's variable layout (``num_alpha``,
            ``num_beta``); each position's / stage's slice is normalised. ``None`` = uniform.
    """
    depths = np.zeros((n, len(space.stages)), dtype=np.int64)
    picked = np.zeros((n, space.layout.num_positions), dtype=np.int64)
    col = 0
    for s, stage in enumerate(space.stages):
        p_depth = _slice_probs(beta, space.beta_offsets[s], len(stage.depths))
        depths[:, s] = np.asarray(stage.depths)[rng.choice(len(stage.depths), size=n, p=p_depth)]
        for j, choices in enumerate(stage.positions):
            p = _slice_probs(alpha, space.alpha_offsets[s][j], len(choices))
            picked[:, col + j] = rng.choice(len(choices), size=n, p=p)
        col += stage.num_positions
    return decisions_to_codes(space, depths, picked)


def _slice_probs(vec: np.ndarray | None, start: int, size: int) -> np.ndarray | None:
    if vec is None:
        return None
    p = np.clip(np.asarray(vec, dtype=float)[start:start + size], 0.0, None)
    if not np.isfinite(p).all() or p.sum() <= 0:
        raise ValueError("sampling probabilities must be finite and not all zero in every slice")
    return p / p.sum()


class Supernet(nn.Module):
    """Weight-sharing one-shot model of a space: stem -> fixed blocks -> elastic stages -> head."""

    def __init__(self, space: SearchSpace) -> None:
        super().__init__()
        self.space = space
        self.stem, self.fixed_blocks, self.head_conv, self.head = build_fixed_parts(space)
        self.stages = build_elastic_stages(space)
        self._positions = [(s, j) for s, st in enumerate(space.stages) for j in range(st.num_positions)]
        self.set_active(space.heaviest)

    def set_active(self, arch: Architecture) -> None:
        """Make ``arch`` the architecture used when ``forward`` gets no ``archs``."""
        self.active = arch
        self._active_codes = archs_to_codes(self.space, arch)

    def codes(self, archs: Architecture | Sequence[Architecture] | np.ndarray | None) -> np.ndarray:
        """Codes for ``archs`` (None: the active architecture; an int array is taken as codes)."""
        if archs is None:
            return self._active_codes
        if isinstance(archs, np.ndarray):
            return archs
        return archs_to_codes(self.space, archs)

    def forward_features(self, x: torch.Tensor, archs: Any = None) -> list[torch.Tensor]:
        """Output of every searched stage for ``x`` (B, C, H, W) under ``archs`` (see :meth:`codes`)."""
        codes = self.codes(archs)
        if codes.shape[0] not in (1, x.shape[0]):
            raise ValueError(f"got {codes.shape[0]} architectures for a batch of {x.shape[0]} images")
        x = self.fixed_blocks(self.stem(x))
        feats, col = [], 0
        for blocks in self.stages:
            for block in blocks:
                x = self._run_block(block, x, codes[:, col])
                col += 1
            feats.append(x)
        return feats

    def forward(self, x: torch.Tensor, archs: Any = None, return_features: bool = False) -> Any:
        """Logits (B, num_classes); ``archs`` as in :meth:`codes`; with ``return_features`` also the
        stage outputs, as ``(logits, features)`` (one pass, for distillation under DDP)."""
        feats = self.forward_features(x, archs)
        logits = self.head(self.head_conv(feats[-1]))
        return (logits, feats) if return_features else logits

    @staticmethod
    def _run_block(block: ElasticBlock, x: torch.Tensor, column: np.ndarray) -> torch.Tensor:
        """Route every image through its own choice: group by choice, run, scatter back."""
        first = int(column[0])
        if column.shape[0] == 1 or (column == first).all():
            return x if first < 0 else block(x, block.choices[first])
        outs, order = [], []
        for value in np.unique(column):
            idx = np.flatnonzero(column == value)
            xi = x.index_select(0, torch.from_numpy(idx).to(x.device))
            outs.append(xi if value < 0 else block(xi, block.choices[int(value)]))  # absent: pass through
            order.append(idx)
        perm = np.concatenate(order)
        inverse = np.empty_like(perm)
        inverse[perm] = np.arange(perm.shape[0])
        return torch.cat(outs).index_select(0, torch.from_numpy(inverse).to(x.device))


@torch.no_grad()
def recalibrated(supernet: Supernet, arch: Architecture, images: torch.Tensor, batch_size: int = 250) -> Supernet:
    """A copy of ``supernet`` in eval mode whose BN statistics are recomputed for ``arch``.

    One-shot evaluation practice (as in Once-for-All): the running statistics accumulated while
    training shared weights (or early in a short, high learning-rate schedule) can be far from a
    given subnet's; recomputing them on a few thousand training images (``images``: normalised
    ``(N, C, H, W)``) gives that subnet's real accuracy. The original supernet is not modified.
    """
    net = copy.deepcopy(supernet)
    batches = (images[start:start + batch_size] for start in range(0, images.shape[0], batch_size))
    recalibrate_bn(net, batches, images.shape[0], forward=lambda x: net(x, arch))
    return net.eval()


# --------------------------------------------------------------------- extraction
def _block_pairs(block: ElasticBlock, choice_index: int, child_block: nn.Module) -> list[tuple[torch.Tensor,
                                                                                                  torch.Tensor]]:
    """``(child tensor, supernet view)`` pairs of one block position (the shared slicing conventions)."""
    choice = block.choices[choice_index]
    if choice.is_skip:
        sd = block.skip.state_dict(keep_vars=True)
        return [(t, sd[k]) for k, t in child_block.proj.state_dict(keep_vars=True).items()]
    t = choice_tensors(block, choice)
    c = child_block
    pairs = [(c.conv_pw.conv.weight, t.pw_weight), (c.conv_dw.conv.weight, t.dw_weight),
             (c.conv_pwl.conv.weight, t.pwl_weight)]
    for bn, sl in ((c.conv_pw.bn, t.bn1), (c.conv_dw.bn, t.bn2), (c.conv_pwl.bn, t.bn3)):
        pairs += [(getattr(bn, name), view) for name, view in sl.tensors().items()]
        pairs.append((bn.num_batches_tracked, sl.bn.num_batches_tracked))
    if t.se is not None:
        se = c.se
        pairs += list(zip((se.conv_reduce.weight, se.conv_reduce.bias, se.conv_expand.weight, se.conv_expand.bias),
                          t.se))
    return pairs


def _all_pairs(supernet: Supernet, child: ChildNet, arch: Architecture) -> list[tuple[torch.Tensor, torch.Tensor]]:
    pairs = []
    for name in ("stem", "fixed_blocks", "head_conv", "head"):
        theirs = getattr(supernet, name).state_dict(keep_vars=True)
        pairs += [(t, theirs[k]) for k, t in getattr(child, name).state_dict(keep_vars=True).items()]
    codes = archs_to_codes(supernet.space, arch)[0]
    col = 0
    for s, blocks in enumerate(supernet.stages):
        for j, block in enumerate(blocks):
            if codes[col + j] >= 0:
                pairs += _block_pairs(block, int(codes[col + j]), child.stages[s][j])
        col += len(blocks)
    return pairs


@torch.no_grad()
def extract_child(supernet: Supernet, arch: Architecture) -> ChildNet:
    """The static child network of ``arch`` with weights (and BN statistics) copied from the supernet."""
    child = build_child(supernet.space, arch)
    for mine, theirs in _all_pairs(supernet, child, arch):
        mine.copy_(theirs)
    ref = next(supernet.parameters())
    return child.to(device=ref.device, dtype=ref.dtype).train(supernet.training)
