"""Pieces shared by supernet training and fine-tuning: optimizer, schedule, EMA, DDP, teacher, KD loss."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from binas.runtime import Runtime

__all__ = ["cosine_lr", "ema_init", "ema_update", "freeze", "kd_loss", "make_optimizer", "set_lr", "wrap_ddp"]


def make_optimizer(model: nn.Module, name: str, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """SGD (Nesterov momentum 0.9) or AdamW; weight decay on conv/linear weights only (not BN, not biases)."""
    decay = [p for p in model.parameters() if p.ndim > 1]
    rest = [p for p in model.parameters() if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr)
    return torch.optim.SGD(groups, lr=lr, momentum=0.9, nesterov=True)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def cosine_lr(step: int, total: int, peak: float, warmup: int) -> float:
    """Linear warm-up (capped at a fifth of the stage), then cosine decay to zero."""
    warmup = min(warmup, total // 5)
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * peak * (1 + math.cos(math.pi * progress))


def ema_init(model: nn.Module) -> dict[str, torch.Tensor]:
    """An exponential moving average of ``model``'s state, starting at its current values."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@torch.no_grad()
def ema_update(ema: dict[str, torch.Tensor], model: nn.Module, decay: float) -> None:
    """``ema <- decay * ema + (1 - decay) * weights`` for floating tensors; integer buffers are copied."""
    for key, value in model.state_dict().items():
        if value.is_floating_point():
            ema[key].mul_(decay).add_(value.detach(), alpha=1 - decay)
        else:
            ema[key].copy_(value)


def freeze(model: nn.Module) -> nn.Module:
    """``model`` in eval mode without gradients (a distillation teacher)."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def wrap_ddp(model: nn.Module, rt: Runtime, find_unused: bool = False) -> nn.Module:
    """``model`` wrapped in DistributedDataParallel under ``torchrun``, else itself."""
    if not rt.enabled:
        return model
    ids = [rt.device.index] if rt.is_cuda else None
    return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=find_unused)


def kd_loss(logits: torch.Tensor, t_logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """KL(teacher || student) on softened logits, scaled by T^2 (batch mean; computed in float32)."""
    t = temperature
    return F.kl_div(F.log_softmax(logits.float() / t, 1), F.log_softmax(t_logits.float() / t, 1),
                    reduction="batchmean", log_target=True) * t * t
