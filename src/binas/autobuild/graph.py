"""Architectures as sequence graphs (AutoBuild, Mills et al. CVPR 2024, adapted to binas spaces).

Every searched block position of the space is a node, in stage/position order, so all graphs of
a space have the same ``N`` nodes. Node features are small categorical codes, one per *feature
category* (:data:`FEATURES`): stage, position, expand_ratio, kernel_size, se, skip and present.
Edges follow the data flow: each present block feeds the next present block (within a stage and
from a stage's last present block into the next stage's first). Absent blocks are isolated nodes
with ``mask = 0``; the model ignores them entirely, so nothing about an absent block can change a
prediction (docs/autobuild.md).

A :class:`GraphVocab` maps feature values to codes. It is stored with a model so the same weights
can score any space whose stages and choices it covers (e.g. a reduced space).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from binas.errors import FileFormatError
from binas.space import Architecture, Choice, SearchSpace
from binas.space.encoding import archs_to_codes

__all__ = ["FEATURES", "GraphBatch", "GraphVocab", "encode_graphs", "graphs_from_choices",
           "node_codes", "vocab_from_space"]

# Feature categories, in the column order of GraphBatch.features.
FEATURES = ("stage", "position", "expand_ratio", "kernel_size", "se", "skip", "present")


@dataclass(frozen=True)
class GraphVocab:
    """Value -> code tables of the node features (code 0 of expand_ratio/kernel_size = none/skip)."""

    num_stages: int
    num_positions: int  # maximum positions of any stage
    expand_ratios: tuple[int, ...]
    kernel_sizes: tuple[int, ...]

    @property
    def cardinalities(self) -> tuple[int, ...]:
        """Number of codes of every feature category, in :data:`FEATURES` order."""
        return (self.num_stages, self.num_positions, len(self.expand_ratios) + 1,
                len(self.kernel_sizes) + 1, 2, 2, 2)

    def value_names(self) -> list[list[str]]:
        """Human names of every code of every category (for importance tables)."""
        return [
            [str(s + 1) for s in range(self.num_stages)],
            [str(j + 1) for j in range(self.num_positions)],
            ["none"] + [str(e) for e in self.expand_ratios],
            ["none"] + [str(k) for k in self.kernel_sizes],
            ["off", "on"], ["no", "yes"], ["no", "yes"],
        ]

    def choice_codes(self, choice: Choice) -> tuple[int, int, int, int]:
        """``(expand_ratio, kernel_size, se, skip)`` codes of one choice."""
        if choice.is_skip:
            return 0, 0, 0, 1
        return (self.expand_ratios.index(choice.expand_ratio) + 1, self.kernel_sizes.index(choice.kernel_size) + 1,
                int(choice.se), 0)

    def check_space(self, space: SearchSpace) -> None:
        """Refuse a space with more stages/positions or other choice values than the vocabulary.

        Raises:
            FileFormatError: naming what the model has never seen.
        """
        if len(space.stages) != self.num_stages:
            raise FileFormatError(f"the AutoBuild model knows {self.num_stages} stages but space "
                                  f"{space.name!r} has {len(space.stages)}")
        for s, stage in enumerate(space.stages):
            if stage.num_positions > self.num_positions:
                raise FileFormatError(f"stage {s + 1} of space {space.name!r} has more positions than the model knows")
            for choices in stage.positions:
                for c in choices:
                    if not c.is_skip and (c.expand_ratio not in self.expand_ratios
                                          or c.kernel_size not in self.kernel_sizes):
                        raise FileFormatError(f"choice {c.id!r} of space {space.name!r} is unknown to the model")

    def to_json(self) -> dict[str, Any]:
        return {"num_stages": self.num_stages, "num_positions": self.num_positions,
                "expand_ratios": list(self.expand_ratios), "kernel_sizes": list(self.kernel_sizes)}

    @classmethod
    def from_json(cls, obj: Any, where: str) -> "GraphVocab":
        try:
            return cls(int(obj["num_stages"]), int(obj["num_positions"]),
                       tuple(int(v) for v in obj["expand_ratios"]), tuple(int(v) for v in obj["kernel_sizes"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise FileFormatError(f"{where} 'vocab' is malformed ({exc!r})") from None


def vocab_from_space(space: SearchSpace) -> GraphVocab:
    """The vocabulary covering every stage, position and choice value of ``space``."""
    choices = [c for st in space.stages for p in st.positions for c in p if not c.is_skip]
    return GraphVocab(len(space.stages), max(st.num_positions for st in space.stages),
                      tuple(sorted({c.expand_ratio for c in choices})), tuple(sorted({c.kernel_size for c in choices})))


def node_codes(space: SearchSpace, vocab: GraphVocab) -> tuple[np.ndarray, np.ndarray]:
    """Per-node static codes and per-(node, choice) codes.

    Returns:
        ``(static, choice)``: ``static`` ``(N, 2)`` = stage, position of every node;
        ``choice`` ``(N, C_max, 4)`` = expand_ratio, kernel_size, se, skip codes of each choice index.
    """
    positions = [(s, j) for s, st in enumerate(space.stages) for j in range(st.num_positions)]
    c_max = max(len(p) for st in space.stages for p in st.positions)
    static = np.array(positions, dtype=np.int64).reshape(-1, 2)
    table = np.zeros((len(positions), c_max, 4), dtype=np.int64)
    for n, (s, j) in enumerate(positions):
        for c, choice in enumerate(space.stages[s].positions[j]):
            table[n, c] = vocab.choice_codes(choice)
    return static, table


@dataclass(frozen=True)
class GraphBatch:
    """A batch of ``B`` architecture graphs over the same ``N`` nodes.

    Attributes:
        features: ``(B, N, F)`` int64 codes, F = len(FEATURES).
        mask: ``(B, N)`` float, 1 for present blocks.
        adj: ``(B, N, N)`` float, ``adj[b, v, u] = 1`` iff block u feeds block v.
    """

    features: torch.Tensor
    mask: torch.Tensor
    adj: torch.Tensor

    def __len__(self) -> int:
        return int(self.features.shape[0])

    def subset(self, idx: torch.Tensor | slice) -> "GraphBatch":
        return GraphBatch(self.features[idx], self.mask[idx], self.adj[idx])


def graphs_from_choices(space: SearchSpace, vocab: GraphVocab, codes: np.ndarray,
                        stage: int | None = None) -> GraphBatch:
    """Graphs from ``(B, N)`` codes (:mod:`binas.space.encoding`; -1 = absent); vectorised over the batch.

    With ``stage`` given, the nodes are only that stage's positions (``codes`` is ``(B, P_s)``): the
    isolated stage subgraph, i.e. an AutoBuild *unit*.
    """
    static, table = node_codes(space, vocab)
    if stage is not None:
        rows = static[:, 0] == stage
        static, table = static[rows], table[rows]
    B, N = codes.shape
    present = codes >= 0
    per_choice = table[np.arange(N)[None, :], np.maximum(codes, 0)]  # (B, N, 4)
    per_choice = np.where(present[..., None], per_choice, 0)
    feats = np.concatenate([np.broadcast_to(static, (B, N, 2)), per_choice, present[..., None].astype(np.int64)],
                           axis=2)
    # chain over present nodes: each present node's predecessor is the last present node before it
    idx = np.where(present, np.arange(N)[None, :], -1)
    last_before = np.maximum.accumulate(np.concatenate([np.full((B, 1), -1), idx[:, :-1]], axis=1), axis=1)
    adj = np.zeros((B, N, N), dtype=np.float32)
    rows_b, cols = np.nonzero(present & (last_before >= 0))
    adj[rows_b, cols, last_before[rows_b, cols]] = 1.0
    return GraphBatch(torch.as_tensor(feats.copy()), torch.as_tensor(present, dtype=torch.float32),
                      torch.as_tensor(adj))


def encode_graphs(space: SearchSpace, vocab: GraphVocab, archs: Sequence[Architecture]) -> GraphBatch:
    """Sequence graphs of ``archs`` (see the module docstring)."""
    return graphs_from_choices(space, vocab, archs_to_codes(space, archs))
