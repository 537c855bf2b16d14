"""Stage-B loss (docs/supernet.md): CE with label smoothing + KL on logits + MSE on every stage output."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from binas.supernet.train.config import TrainConfig
from binas.supernet.train.pieces import kd_loss

__all__ = ["distillation_loss"]


def distillation_loss(logits: torch.Tensor, feats: list[torch.Tensor], t_logits: torch.Tensor,
                      t_feats: list[torch.Tensor], labels: torch.Tensor, config: TrainConfig) -> dict[str, torch.Tensor]:
    """The terms ``{"ce", "kd", "feat"}`` of the student's loss (already weighted; their sum is the loss).

    Args:
        logits, feats: the student's logits (B, classes) and stage outputs (one per searched stage).
        t_logits, t_feats: the frozen teacher's (the stage-A heaviest network).
        labels: (B,) class indices.
    """
    ce = F.cross_entropy(logits, labels, label_smoothing=config.label_smoothing)
    kd = kd_loss(logits, t_logits, config.kd_temperature)
    feat = sum(F.mse_loss(f.float(), t.float()) for f, t in zip(feats, t_feats))
    return {"ce": ce, "kd": config.kd_weight * kd, "feat": config.feature_weight * feat}
