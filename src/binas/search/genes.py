"""Integer gene encoding of networks for the sampling baselines (evolution, random search).

A gene row is ``[depth index per stage] + [choice index per block position]`` over *every* position
(absent ones are carried along, as in Once-for-All's evolution, and ignored when decoding), so
mutation and crossover are plain element-wise operations on an ``(n, genes)`` integer matrix.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

import numpy as np

from binas.search.problem import Resource
from binas.space import Architecture, SearchSpace

__all__ = ["GeneCodec"]


class GeneCodec:
    """Vectorised conversions between gene matrices, one-hot variables and architectures."""

    def __init__(self, space: SearchSpace) -> None:
        self.space = space
        self.num_stages = len(space.stages)
        stage_of, pos_of, start, sizes = [], [], [], []
        for s, stage in enumerate(space.stages):
            for j, choices in enumerate(stage.positions):
                stage_of.append(s)
                pos_of.append(j)
                start.append(space.alpha_offsets[s][j])
                sizes.append(len(choices))
        self.stage_of, self.pos_of = np.array(stage_of), np.array(pos_of)
        self.alpha_start = np.array(start)
        self.depth_values = [np.array(st.depths) for st in space.stages]
        self.cardinality = np.array([len(st.depths) for st in space.stages] + sizes)

    @property
    def num_genes(self) -> int:
        return int(self.cardinality.size)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` uniform gene rows (uniform over every decision, as :meth:`SearchSpace.sample`)."""
        return (rng.random((n, self.num_genes)) * self.cardinality).astype(np.int64)

    def depths(self, genes: np.ndarray) -> np.ndarray:
        return np.stack([self.depth_values[s][genes[:, s]] for s in range(self.num_stages)], axis=1)

    @cached_property
    def _beta_start(self) -> np.ndarray:
        return np.array(self.space.beta_offsets)

    def onehot(self, genes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(alpha, beta)`` one-hot matrices of shape ``(n, num_alpha)``, ``(n, num_beta)``."""
        n = genes.shape[0]
        depths = self.depths(genes)  # (n, stages)
        present = self.pos_of[None, :] < depths[:, self.stage_of]  # (n, positions)
        alpha = np.zeros((n, self.space.num_alpha))
        rows, cols = np.nonzero(present)
        alpha[rows, self.alpha_start[cols] + genes[rows, self.num_stages + cols]] = 1.0
        beta = np.zeros((n, self.space.num_beta))
        beta[np.repeat(np.arange(n), self.num_stages),
             (self._beta_start[None, :] + genes[:, :self.num_stages]).ravel()] = 1.0
        return alpha, beta

    def resources(self, genes: np.ndarray, resources: Sequence[Resource]) -> np.ndarray:
        """LUT sums, shape ``(n, len(resources))``."""
        alpha, _ = self.onehot(genes)
        if not resources:
            return np.zeros((genes.shape[0], 0))
        return np.stack([r.fixed + alpha @ r.t for r in resources], axis=1)

    def feasible(self, genes: np.ndarray, resources: Sequence[Resource]) -> np.ndarray:
        """Mask of rows within every budget of ``resources``."""
        constrained = [r for r in resources if r.budget is not None]
        values = self.resources(genes, constrained)
        return np.all(values <= np.array([r.budget for r in constrained]), axis=1)

    def architectures(self, genes: np.ndarray) -> list[Architecture]:
        depths = self.depths(genes)
        out = []
        for row, drow in zip(genes, depths):
            blocks = []
            col = self.num_stages
            for s, stage in enumerate(self.space.stages):
                blocks.append(tuple(stage.positions[j][int(row[col + j])].id for j in range(int(drow[s]))))
                col += stage.num_positions
            out.append(Architecture(tuple(int(d) for d in drow), tuple(blocks)))
        return out

    def from_architecture(self, arch: Architecture) -> np.ndarray:
        """Gene row of ``arch`` (absent positions get choice 0)."""
        row = np.zeros(self.num_genes, dtype=np.int64)
        for s, stage in enumerate(self.space.stages):
            row[s] = stage.depths.index(arch.depths[s])
        col = self.num_stages
        for s, stage in enumerate(self.space.stages):
            for j, choice_id in enumerate(arch.blocks[s]):
                row[col + j] = self.space.choice_index(s, j, choice_id)
            col += stage.num_positions
        return row
