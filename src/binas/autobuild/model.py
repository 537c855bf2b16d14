"""The AutoBuild graph model: feature-embedding MLPs, message passing, hop-level graph embeddings.

    e[v]    = sum_f MLP_f(onehot(code_f[v]))                       (one MLP per feature category)
    h0[v]   = e[v] + MLP_node(e[v])                                  (interactions between categories)
    h{k}[v] = LayerNorm(h{k-1}[v] + relu(W_self h{k-1}[v] + W_in sum_{u->v} h{k-1}[u]
                                         + W_out sum_{v->w} h{k-1}[w]))   (k = 1..hops)
    g{k}    = (1/N) sum over present nodes of h{k}[v]    (graph embedding of hop level k; N =
                                                          stages x positions of the vocabulary)
    pred    = head(concat(g0, ..., g{hops}))                         (standardised accuracy)

Absent nodes are multiplied by their mask at every level, so they send and receive nothing. The
ranking loss is applied to the prediction and, as in AutoBuild, to the norm of every hop-level
graph embedding, so embedding norms become interpretable scores of (sub)graphs: the node
embedding at hop k describes the k-hop module around a block, and a unit's (sub)graph embedding
norm ranks that unit.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from binas.autobuild.graph import GraphBatch

__all__ = ["AutoBuildConfig", "AutoBuildNet"]


@dataclass(frozen=True)
class AutoBuildConfig:
    """Hyperparameters of :class:`AutoBuildNet` and its training."""

    dim: int = 32  # node/graph embedding width
    hidden: int = 32  # hidden width of the feature MLPs and the regression head
    hops: int = 3  # message-passing hops (graph embeddings from hop levels 0..hops)
    epochs: int = 150  # passes over the training samples
    batch_size: int = 64  # samples per step (the ranking loss is computed within a batch)
    lr: float = 3e-3  # Adam learning rate (cosine schedule)
    weight_decay: float = 1e-4  # Adam weight decay
    rank_weight: float = 1.0  # weight of the soft-Spearman ranking losses vs the MSE regression loss
    temperature: float = 0.1  # soft-rank temperature (on standardised scores)
    random_state: int = 0  # seed of the initialisation and the batch order

    def to_json(self) -> dict:
        return asdict(self)


class _Hop(nn.Module):
    """One message-passing hop with separate weights for self, predecessors and successors."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.self_lin = nn.Linear(dim, dim)
        self.in_lin = nn.Linear(dim, dim, bias=False)
        self.out_lin = nn.Linear(dim, dim, bias=False)
        self.norm = nn.LayerNorm(dim)

    def forward(self, h: torch.Tensor, adj: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        incoming = torch.bmm(adj, h)  # (B, N, D): sum over predecessors
        outgoing = torch.bmm(adj.transpose(1, 2), h)  # (B, N, D): sum over successors
        msg = torch.relu(self.self_lin(h) + self.in_lin(incoming) + self.out_lin(outgoing))
        return self.norm(h + msg) * mask[..., None]


class AutoBuildNet(nn.Module):
    """Graph model over architecture sequence graphs (see the module docstring)."""

    def __init__(self, cardinalities: tuple[int, ...], dim: int = 32, hidden: int = 32, hops: int = 3) -> None:
        super().__init__()
        self.cardinalities = tuple(int(c) for c in cardinalities)
        self.feature_mlps = nn.ModuleList(
            nn.Sequential(nn.Linear(c, hidden), nn.ReLU(), nn.Linear(hidden, dim)) for c in self.cardinalities
        )
        self.node_mlp = nn.Sequential(nn.Linear(dim, 2 * hidden), nn.ReLU(), nn.Linear(2 * hidden, dim))
        self.hops = nn.ModuleList(_Hop(dim) for _ in range(hops))
        self.head = nn.Sequential(nn.Linear(dim * (hops + 1), hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def feature_embeddings(self, f: int) -> torch.Tensor:
        """``(cardinality_f, dim)`` embedding of every value of feature category ``f``."""
        eye = torch.eye(self.cardinalities[f], device=self.head[0].weight.device)
        return self.feature_mlps[f](eye)

    def node_levels(self, g: GraphBatch) -> list[torch.Tensor]:
        """Node embeddings ``(B, N, D)`` at hop levels 0..hops (absent nodes are zero)."""
        e = sum(self.feature_embeddings(f)[g.features[..., f]] for f in range(len(self.cardinalities)))
        h = (e + self.node_mlp(e)) * g.mask[..., None]  # (B, N, D); the MLP mixes feature categories
        levels = [h]
        for hop in self.hops:
            h = hop(h, g.adj, g.mask)
            levels.append(h)
        return levels

    def forward(self, g: GraphBatch) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``(pred (B,), [g0, ..., g_hops] each (B, D))``."""
        scale = 1.0 / (self.cardinalities[0] * self.cardinalities[1])  # constant for every layout
        graph_levels = [lv.sum(dim=1) * scale for lv in self.node_levels(g)]
        pred = self.head(torch.cat(graph_levels, dim=1)).squeeze(1)
        return pred, graph_levels
