"""The one evaluation primitive: batched logits of subnets over device batches; one BN recalibration.

Every accuracy in binas (end-of-stage accuracies, estimator measurements, random-subnet samples,
``evaluate``, the demo) comes from :func:`batched_logits`; every BN re-estimation (one-shot
evaluation of a subnet, ``export --recalibrate-bn``) from :func:`recalibrate_bn`.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator

import numpy as np
import torch
from torch import nn

from binas.runtime import Runtime

__all__ = ["batched_logits", "recalibrate_bn", "topk_correct"]

Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]


@torch.no_grad()
def batched_logits(net: nn.Module, batches: Batches, rt: Runtime | None = None,
                   codes: np.ndarray | Any = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``(float32 logits, labels)`` per batch of ``net`` in eval mode.

    Args:
        batches: normalised ``(x, y)`` on the model's device (see :mod:`binas.loaders`).
        codes: for a supernet, the architecture: one code row for every image, or one row per image
            (row ``i`` routes the ``i``-th image of the whole stream), or an ``Architecture``;
            None for a static network.
    """
    net.eval()
    autocast = rt.autocast if rt is not None else None
    start = 0
    for x, y in batches:
        if codes is None:
            args: tuple[Any, ...] = (x,)
        elif isinstance(codes, np.ndarray) and codes.shape[0] > 1:
            args = (x, codes[start:start + x.shape[0]])
        else:
            args = (x, codes)
        if autocast is None:
            logits = net(*args)
        else:
            with autocast():
                logits = net(*args)
        start += x.shape[0]
        yield logits.float(), y


def topk_correct(logits: torch.Tensor, labels: torch.Tensor, k: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image top-1 and top-``k`` correctness (bool tensors)."""
    best = logits.topk(min(k, logits.shape[1]), dim=1).indices
    return best[:, 0] == labels, (best == labels[:, None]).any(dim=1)


@torch.no_grad()
def recalibrate_bn(model: nn.Module, batches: Iterable[torch.Tensor | tuple[torch.Tensor, Any]], max_images: int,
                   rt: Runtime | None = None, forward: Callable[[torch.Tensor], Any] | None = None) -> int:
    """Re-estimate BN running statistics as a plain average over up to ``max_images`` images (in place).

    Under ``torchrun`` every rank averages its own batches, then the statistics are averaged over
    ranks, weighted by how many images each saw (the mean is then exact).

    Args:
        model: the network (its mode and BN momenta are restored afterwards).
        batches: normalised image batches (or ``(x, y)`` pairs) on the model's device.
        max_images: how many images (per rank) to use.
        forward: how to run a batch (default ``model(x)``; e.g. ``lambda x: supernet(x, arch)``).

    Returns:
        The number of images used (by this rank).
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [bn.momentum for bn in bns]
    was_training = model.training
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative moving average = exact mean over the batches seen
    model.train()
    run = forward or model
    seen = 0
    for batch in batches:
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        x = x[: max_images - seen]
        if rt is not None:
            with rt.autocast():
                run(x)
        else:
            run(x)
        seen += x.shape[0]
        if seen >= max_images:
            break
    for bn, momentum in zip(bns, saved):
        bn.momentum = momentum
    if rt is not None and rt.enabled:  # weighted by the images each rank saw (a rank may have seen none)
        stats = [t for bn in bns for t in (bn.running_mean, bn.running_var) if t is not None]
        weight = torch.tensor([float(seen)], device=stats[0].device if stats else rt.device)
        total = rt.sum_(weight.clone())
        for t in stats:
            rt.sum_(t.mul_(weight))
            t.div_(total.clamp_min(1.0))
    model.train(was_training)
    return seen
