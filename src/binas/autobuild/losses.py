"""Differentiable ranking objectives in pure PyTorch (no sorting or compiled extensions).

- :func:`soft_rank`: ``rank_i ~ 1 + sum_j sigmoid((x_i - x_j) / temperature)`` (exact ranks as the
  temperature goes to 0; O(n^2) memory, fine for batches of a few hundred).
- :func:`spearman_loss`: ``1 - Pearson(soft_rank(pred), rank(target))``, a soft Spearman loss.
- :func:`pairwise_ranking_loss`: RankNet-style logistic loss over all ordered pairs.
"""

from __future__ import annotations

import torch

__all__ = ["hard_rank", "pairwise_ranking_loss", "soft_rank", "spearman_loss"]


def soft_rank(x: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """Differentiable ranks (1 = smallest) of a 1-D tensor; ``x`` is standardised first."""
    z = (x - x.mean()) / (x.std() + 1e-8) if x.numel() > 1 else x
    diff = (z[:, None] - z[None, :]) / temperature  # (n, n)
    return 0.5 + torch.sigmoid(diff).sum(dim=1)  # the diagonal adds 0.5


def hard_rank(x: torch.Tensor) -> torch.Tensor:
    """Exact ranks (1 = smallest; ties get the mean rank) of a 1-D tensor, as float."""
    greater = (x[:, None] > x[None, :]).float().sum(dim=1)
    equal = (x[:, None] == x[None, :]).float().sum(dim=1)
    return greater + (equal + 1.0) / 2.0


def _pearson(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    a, b = a - a.mean(), b - b.mean()
    return (a * b).sum() / (a.norm() * b.norm() + 1e-8)


def spearman_loss(pred: torch.Tensor, target: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """``1 - soft Spearman(pred, target)`` in [0, 2]; gradients flow through ``pred`` only."""
    if pred.numel() < 2:
        return pred.sum() * 0.0
    return 1.0 - _pearson(soft_rank(pred, temperature), hard_rank(target.detach()))


def pairwise_ranking_loss(pred: torch.Tensor, target: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """Mean ``log(1 + exp(-scale * sign(t_i - t_j) * (p_i - p_j)))`` over pairs with ``t_i != t_j``."""
    sign = torch.sign(target[:, None] - target[None, :]).detach()  # (n, n)
    margin = scale * sign * (pred[:, None] - pred[None, :])
    weight = sign.abs()
    return (torch.nn.functional.softplus(-margin) * weight).sum() / weight.sum().clamp_min(1.0)
