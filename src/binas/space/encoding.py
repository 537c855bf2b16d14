"""Every representation of a network of a space, and every conversion between them: the one authority.

- :class:`~binas.space.blocks.Architecture`: depth per stage and choice ids of the present blocks.
- *codes*: an int array ``(n, num_positions)``, for every block position (stage-major) the index of
  the chosen choice or ``-1`` where the stage is too shallow for the position (the supernet's input).
- *one-hot* ``(alpha, beta)``: one variable per (stage, position, choice) and per (stage, depth
  option), in the layout of :class:`Layout` (the bilinear estimator's and the search's variables);
  an absent block's alpha is all zeros.
- *genes*: an int array ``(n, num_stages + num_positions)``, the depth index of every stage then a
  choice index at *every* position (absent ones are carried along and ignored), for evolution.
- LUT keys ``"s.j"`` (1-based stage and position).

The presence rule, *position j (0-based) of a stage is present at depth d iff d > j*, is
:func:`is_present`; nothing else spells it out. See docs/architecture.md and docs/estimator.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from binas.space.blocks import Architecture, Choice, Stage

if TYPE_CHECKING:
    from binas.space.model import SearchSpace

__all__ = ["Layout", "always_present", "arch_to_onehot", "archs_to_codes", "archs_to_onehot", "cheapest",
           "codes_to_archs", "codes_to_genes", "codes_to_onehot", "decisions_to_codes", "extreme_arch",
           "gene_cardinality", "genes_to_codes", "is_present", "layout_of", "lut_key", "onehot_to_arch",
           "present_betas", "presence_matrix"]


def is_present(position: Any, depth: Any) -> Any:
    """Block ``position`` (0-based) of a stage is present at stage depth ``depth`` iff ``depth > position``.

    Works element-wise on integers and NumPy arrays alike.
    """
    return depth > position


def always_present(stage: Stage, position: int) -> bool:
    """Position is present at every depth option of ``stage`` (i.e. at its minimum depth)."""
    return bool(is_present(position, stage.min_depth))


def lut_key(stage: int, position: int) -> str:
    """LUT key of 0-based (stage, position): ``"s.j"`` 1-based."""
    return f"{stage + 1}.{position + 1}"


# --------------------------------------------------------------------------------------------- layout
@dataclass(frozen=True)
class Layout:
    """Index layout of a space's variables and codes.

    Attributes:
        alpha_offsets: ``[s][j]``, index of the first alpha variable of stage s, position j.
        beta_offsets: ``[s]``, index of the first beta variable (depth option) of stage s.
        code_offsets: ``[s]``, first code (and gene choice) column of stage s.
    """

    alpha_offsets: tuple[tuple[int, ...], ...]
    beta_offsets: tuple[int, ...]
    code_offsets: tuple[int, ...]
    num_alpha: int
    num_beta: int
    num_positions: int


def layout_of(stages: Sequence[Stage]) -> Layout:
    """The :class:`Layout` of a space's stages (canonical order: stage, position, choice; stage, depth)."""
    alpha, start = [], 0
    for stage in stages:
        row = []
        for choices in stage.positions:
            row.append(start)
            start += len(choices)
        alpha.append(tuple(row))
    betas = np.cumsum([0] + [len(s.depths) for s in stages])
    codes = np.cumsum([0] + [s.num_positions for s in stages])
    return Layout(tuple(alpha), tuple(int(v) for v in betas[:-1]), tuple(int(v) for v in codes[:-1]), start,
                  int(betas[-1]), int(codes[-1]))


def present_betas(space: SearchSpace, stage: int, position: int) -> list[int]:
    """Beta indices of the depth options of ``stage`` at which ``position`` is present."""
    b0 = space.beta_offsets[stage]
    return [b0 + k for k, d in enumerate(space.stages[stage].depths) if is_present(position, d)]


def presence_matrix(space: SearchSpace) -> np.ndarray:
    """``M[a, b] = 1`` iff alpha variable a's position is present at depth option b of its stage."""
    m = np.zeros((space.num_alpha, space.num_beta))
    for s, stage in enumerate(space.stages):
        for j, choices in enumerate(stage.positions):
            a0 = space.alpha_offsets[s][j]
            m[a0:a0 + len(choices), present_betas(space, s, j)] = 1.0
    return m


# --------------------------------------------------------------------------------------------- codes
def archs_to_codes(space: SearchSpace, archs: Architecture | Sequence[Architecture]) -> np.ndarray:
    """Codes ``(n, num_positions)`` of one or several architectures (validated)."""
    archs = [archs] if isinstance(archs, Architecture) else list(archs)
    offsets = space.layout.code_offsets
    codes = np.full((len(archs), space.layout.num_positions), -1, dtype=np.int64)
    for i, arch in enumerate(archs):
        space.validate(arch)
        for s, blocks in enumerate(arch.blocks):
            for j, choice_id in enumerate(blocks):
                codes[i, offsets[s] + j] = space.choice_index(s, j, choice_id)
    return codes


def codes_to_archs(space: SearchSpace, codes: np.ndarray) -> list[Architecture]:
    """The architectures of a codes array (inverse of :func:`archs_to_codes`)."""
    out = []
    for row in np.asarray(codes):
        depths, blocks = [], []
        for stage, col in zip(space.stages, space.layout.code_offsets):
            ids = [stage.positions[j][int(c)].id for j, c in enumerate(row[col:col + stage.num_positions]) if c >= 0]
            depths.append(len(ids))
            blocks.append(tuple(ids))
        out.append(Architecture(tuple(depths), tuple(blocks)))
    return out


def decisions_to_codes(space: SearchSpace, depths: np.ndarray, choices: np.ndarray) -> np.ndarray:
    """Codes from every decision: ``depths`` ``(n, stages)`` (depth values) and ``choices`` ``(n, positions)``
    (a choice index at every position; the absent ones become -1)."""
    depths, choices = np.asarray(depths), np.asarray(choices)
    cols = []
    for s, (stage, col) in enumerate(zip(space.stages, space.layout.code_offsets)):
        for j in range(stage.num_positions):
            cols.append(np.where(is_present(j, depths[:, s]), choices[:, col + j], -1))
    if not cols:
        return np.zeros((depths.shape[0], 0), dtype=np.int64)
    return np.stack(cols, axis=1).astype(np.int64)


def _code_depths(space: SearchSpace, codes: np.ndarray, s: int) -> np.ndarray:
    """Depth index (into ``stages[s].depths``) of every row of ``codes``."""
    col, stage = space.layout.code_offsets[s], space.stages[s]
    depth = (codes[:, col:col + stage.num_positions] >= 0).sum(axis=1)
    return np.searchsorted(np.asarray(stage.depths), depth)


# --------------------------------------------------------------------------------------------- one-hot
def codes_to_onehot(space: SearchSpace, codes: np.ndarray, dtype: Any = np.float32) -> np.ndarray:
    """One-hot ``(alpha, beta)`` features ``(n, num_alpha + num_beta)`` of codes."""
    codes = np.asarray(codes)
    n, na = codes.shape[0], space.num_alpha
    X = np.zeros((n, na + space.num_beta), dtype=dtype)
    starts = np.array([a for row in space.alpha_offsets for a in row], dtype=np.int64)  # per code column
    rows, cols = np.nonzero(codes >= 0)
    X[rows, starts[cols] + codes[rows, cols]] = 1.0
    for s in range(len(space.stages)):
        X[np.arange(n), na + space.beta_offsets[s] + _code_depths(space, codes, s)] = 1.0
    return X


def archs_to_onehot(space: SearchSpace, archs: Sequence[Architecture]) -> np.ndarray:
    """Feature matrix ``(n, num_alpha + num_beta)`` (float64) of one-hot encodings (validated)."""
    return codes_to_onehot(space, archs_to_codes(space, archs), dtype=np.float64)


def arch_to_onehot(space: SearchSpace, arch: Architecture) -> tuple[np.ndarray, np.ndarray]:
    """One-hot ``(alpha, beta)`` of one architecture (validated)."""
    x = archs_to_onehot(space, [arch])[0]
    return x[:space.num_alpha].copy(), x[space.num_alpha:].copy()


def onehot_to_arch(space: SearchSpace, alpha: np.ndarray, beta: np.ndarray) -> Architecture:
    """Architecture from (possibly fractional) ``alpha, beta`` by per-decision argmax."""
    depths, blocks = [], []
    for s, stage in enumerate(space.stages):
        b0 = space.beta_offsets[s]
        depth = stage.depths[int(np.argmax(beta[b0:b0 + len(stage.depths)]))]
        ids = []
        for j in range(depth):
            a0 = space.alpha_offsets[s][j]
            ids.append(stage.positions[j][int(np.argmax(alpha[a0:a0 + len(stage.positions[j])]))].id)
        depths.append(depth)
        blocks.append(tuple(ids))
    return Architecture(tuple(depths), tuple(blocks))


# --------------------------------------------------------------------------------------------- genes
def gene_cardinality(space: SearchSpace) -> np.ndarray:
    """Number of values of every gene: depth options per stage, then choices per position."""
    return np.array([len(st.depths) for st in space.stages]
                    + [len(c) for st in space.stages for c in st.positions])


def genes_to_codes(space: SearchSpace, genes: np.ndarray) -> np.ndarray:
    """Codes of gene rows (absent positions' genes are ignored)."""
    genes = np.asarray(genes)
    stages = len(space.stages)
    depths = np.stack([np.asarray(st.depths)[genes[:, s]] for s, st in enumerate(space.stages)], axis=1)
    return decisions_to_codes(space, depths, genes[:, stages:])


def codes_to_genes(space: SearchSpace, codes: np.ndarray) -> np.ndarray:
    """Gene rows of codes (absent positions get choice 0)."""
    codes = np.asarray(codes)
    depth_idx = [_code_depths(space, codes, s) for s in range(len(space.stages))]
    return np.concatenate([np.stack(depth_idx, axis=1).reshape(codes.shape[0], -1), np.maximum(codes, 0)],
                          axis=1).astype(np.int64)


# --------------------------------------------------------------------------------------------- extremes
def extreme_arch(space: SearchSpace, cost: Callable[[int, int, Choice], Any], pick_max: bool) -> Architecture:
    """The deepest network with the costliest choice everywhere (``pick_max``), or the shallowest with the
    cheapest; ``cost(stage, position, choice)`` orders the choices of a position (ties: the first)."""
    pick = max if pick_max else min
    depths = tuple(pick(s.depths) for s in space.stages)
    blocks = tuple(
        tuple(pick(st.positions[j], key=lambda c, s=s, j=j: cost(s, j, c)).id for j in range(d))
        for s, (st, d) in enumerate(zip(space.stages, depths))
    )
    return Architecture(depths, blocks)


def cheapest(space: SearchSpace, t: np.ndarray) -> Architecture:
    """The network minimising the sum of per-alpha costs ``t`` over its present blocks (exact)."""
    depths, blocks = [], []
    for s, stage in enumerate(space.stages):
        best = None
        for d in stage.depths:
            ids, total = [], 0.0
            for j in range(d):
                a0 = space.alpha_offsets[s][j]
                c = int(np.argmin(t[a0:a0 + len(stage.positions[j])]))
                ids.append(stage.positions[j][c].id)
                total += t[a0 + c]
            if best is None or total < best[0]:
                best = (total, d, tuple(ids))
        depths.append(best[1])
        blocks.append(best[2])
    return Architecture(tuple(depths), tuple(blocks))
