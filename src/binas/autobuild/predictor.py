"""The AutoBuild predictor, scikit-learn style: ``fit`` on measured architectures, ``predict_archs``.

Training minimises ``MSE(pred, y) + rank_weight * (L(pred, y) + mean_k L(||g_k||, y))`` with ``L``
the soft-Spearman loss of :mod:`binas.autobuild.losses` and ``g_k`` the hop-level graph embeddings,
on standardised accuracies, with Adam and a cosine schedule. Seeded: the initialisation and the
batch order come from ``random_state`` only (the global torch RNG is left untouched).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import numpy as np
import torch

from binas.autobuild.graph import GraphBatch, encode_graphs, vocab_from_space
from binas.autobuild.losses import spearman_loss
from binas.autobuild.model import AutoBuildConfig, AutoBuildNet
from binas.errors import DataError, NotFittedError
from binas.space import Architecture, SearchSpace

__all__ = ["AutoBuildPredictor"]


def _archs_from_onehot(space: SearchSpace, X: np.ndarray) -> list[Architecture]:
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[1] != space.num_alpha + space.num_beta:
        raise DataError(f"X must have shape (n, {space.num_alpha + space.num_beta}), got {X.shape}")
    return [space.decode(row[: space.num_alpha], row[space.num_alpha:]) for row in X]


class AutoBuildPredictor:
    """Graph model + ranking loss accuracy predictor (kind ``autobuild``).

    Args:
        space: the search space of the architectures.
        **params: fields of :class:`~binas.autobuild.model.AutoBuildConfig` (dim, hops, epochs, ...).
    """

    kind = "autobuild"

    def __init__(self, space: SearchSpace, **params: object) -> None:
        self.space = space
        self.params = params

    # ----------------------------------------------------------------- fitting
    def fit(self, X: np.ndarray, y: np.ndarray) -> "AutoBuildPredictor":
        """Fit on one-hot ``(alpha, beta)`` rows (the layout of ``encode_archs``), as other predictors."""
        return self.fit_archs(_archs_from_onehot(self.space, X), y)

    def fit_archs(self, archs: Sequence[Architecture], y: np.ndarray) -> "AutoBuildPredictor":
        """Fit on architectures and their accuracies (%); returns ``self``.

        Raises:
            DataError: fewer than 4 samples, mismatched lengths, non-finite targets, unknown hyperparameter.
        """
        y = np.asarray(y, dtype=float).ravel()
        if len(archs) != y.size or y.size < 4:
            raise DataError(f"need at least 4 architectures with one accuracy each, got {len(archs)} and {y.size}")
        if not np.isfinite(y).all():
            raise DataError("the accuracies to fit on must be finite")
        try:
            config = replace(AutoBuildConfig(), **self.params)
        except TypeError as exc:
            raise DataError(f"unknown AutoBuild hyperparameter: {exc}") from None
        self.config_, self.vocab_ = config, vocab_from_space(self.space)
        self.y_mean_, self.y_std_ = float(y.mean()), float(y.std() or 1.0)
        graphs = encode_graphs(self.space, self.vocab_, archs)
        target = torch.as_tensor((y - self.y_mean_) / self.y_std_, dtype=torch.float32)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(config.random_state))
            net = AutoBuildNet(self.vocab_.cardinalities, config.dim, config.hidden, config.hops)
        self.history_ = _train(net, graphs, target, config)
        self.net_ = net.eval()
        return self

    # ----------------------------------------------------------------- prediction
    def _require_fit(self) -> None:
        if not hasattr(self, "net_"):
            raise NotFittedError("this AutoBuildPredictor is not fitted yet; call fit first")

    def graphs(self, archs: Sequence[Architecture]) -> GraphBatch:
        self._require_fit()
        return encode_graphs(self.space, self.vocab_, archs)

    def predict_graphs(self, graphs: GraphBatch, batch_size: int = 4096) -> np.ndarray:
        """Predicted accuracies (%) of a graph batch."""
        self._require_fit()
        out = []
        with torch.no_grad():
            for start in range(0, len(graphs), batch_size):
                pred, _ = self.net_(graphs.subset(slice(start, start + batch_size)))
                out.append(pred.double().numpy())
        return np.concatenate(out) * self.y_std_ + self.y_mean_ if out else np.zeros(0)

    def predict_archs(self, archs: Sequence[Architecture]) -> np.ndarray:
        """Predicted accuracies (%) of ``archs``."""
        return self.predict_graphs(self.graphs(archs))

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted accuracies of one-hot ``(alpha, beta)`` rows."""
        self._require_fit()
        return self.predict_archs(_archs_from_onehot(self.space, X))

    def hyperparameters(self) -> dict[str, object]:
        return (self.config_ if hasattr(self, "config_") else replace(AutoBuildConfig(), **self.params)).to_json()

    def with_space(self, space: SearchSpace) -> "AutoBuildPredictor":
        """The same fitted model for another space its vocabulary covers (e.g. a reduced space)."""
        self._require_fit()
        self.vocab_.check_space(space)
        other = AutoBuildPredictor(space, **self.params)
        other.config_, other.vocab_, other.net_ = self.config_, self.vocab_, self.net_
        other.y_mean_, other.y_std_ = self.y_mean_, self.y_std_
        other.history_ = getattr(self, "history_", {})
        return other


def _batch_loss(net: AutoBuildNet, g: GraphBatch, t: torch.Tensor, config: AutoBuildConfig) -> torch.Tensor:
    pred, levels = net(g)
    loss = torch.nn.functional.mse_loss(pred, t)
    if config.rank_weight > 0 and len(t) > 2:
        rank = spearman_loss(pred, t, config.temperature)
        rank = rank + sum(spearman_loss(lv.norm(dim=1), t, config.temperature) for lv in levels) / len(levels)
        loss = loss + config.rank_weight * rank
    return loss


def _train(net: AutoBuildNet, graphs: GraphBatch, target: torch.Tensor, config: AutoBuildConfig) -> dict:
    gen = torch.Generator().manual_seed(int(config.random_state))
    opt = torch.optim.Adam(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, config.epochs))
    n, losses = len(target), []
    batch = max(4, min(int(config.batch_size), n))
    net.train()
    for _ in range(config.epochs):
        total = 0.0
        for idx in torch.randperm(n, generator=gen).split(batch):
            if len(idx) < 4:  # a ranking loss on 1-3 samples is noise
                continue
            opt.zero_grad()
            loss = _batch_loss(net, graphs.subset(idx), target[idx], config)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        sched.step()
        losses.append(total / n)
    return {"loss_first": losses[0] if losses else 0.0, "loss_last": losses[-1] if losses else 0.0}

