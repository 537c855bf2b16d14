"""Integer gene encoding of networks for the sampling baselines (evolution, random search).

A gene row is ``[depth index per stage] + [choice index per block position]`` over *every* position
(absent ones are carried along, as in Once-for-All's evolution, and ignored when decoding), so
mutation and crossover are plain element-wise operations on an ``(n, genes)`` integer matrix.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from binas.search.problem import Resource
from binas.space import Architecture, SearchSpace, encoding

__all__ = ["GeneCodec"]


class GeneCodec:
    """Vectorised conversions between gene matrices, one-hot variables and architectures.

    The conversions themselves are :mod:`binas.space.encoding`'s; this adds sampling and budgets.
    """

    def __init__(self, space: SearchSpace) -> None:
        self.space = space
        self.num_stages = len(space.stages)
        self.cardinality = encoding.gene_cardinality(space)

    @property
    def num_genes(self) -> int:
        return int(self.cardinality.size)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` uniform gene rows (uniform over every decision, as :meth:`SearchSpace.sample`)."""
        return (rng.random((n, self.num_genes)) * self.cardinality).astype(np.int64)

    def codes(self, genes: np.ndarray) -> np.ndarray:
        """Codes of gene rows (:func:`binas.space.encoding.genes_to_codes`)."""
        return encoding.genes_to_codes(self.space, genes)

    def onehot(self, genes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(alpha, beta)`` one-hot matrices of shape ``(n, num_alpha)``, ``(n, num_beta)``."""
        X = encoding.codes_to_onehot(self.space, self.codes(genes), dtype=np.float64)
        return np.ascontiguousarray(X[:, :self.space.num_alpha]), np.ascontiguousarray(X[:, self.space.num_alpha:])

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
        return encoding.codes_to_archs(self.space, self.codes(genes))

    def from_architecture(self, arch: Architecture) -> np.ndarray:
        """Gene row of ``arch`` (absent positions get choice 0)."""
        return encoding.codes_to_genes(self.space, encoding.archs_to_codes(self.space, arch))[0]
