"""Train one architecture from scratch with a fixed recipe: the stand-alone ground truth.

Every number in docs/ground-truth.md comes from :func:`train_standalone`: a static child network
(fresh weights, no supernet) trained for a fixed number of images with one recipe, then evaluated
on every image of the test split. The recipe is data (:class:`StandaloneRecipe`), stamped into each
result with a short hash so that results of different recipes are never mixed.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from binas.data import ImageData
from binas.nn.static import build_child
from binas.space import Architecture, SearchSpace

__all__ = ["StandaloneRecipe", "evaluate_top1", "train_standalone"]


@dataclass(frozen=True)
class StandaloneRecipe:
    """One fixed training recipe (AdamW, linear warm-up then cosine decay to zero, no augmentation)."""

    # optimizer steps: 470 x 128 = 60,160 images, about one epoch. A third of an epoch (160 steps, ~60 s
    # on one core) did not rank architectures at all (seed-to-seed Kendall-tau -0.07 over 14 pairs,
    # docs/ground-truth.md); one epoch costs ~3 minutes of one core.
    steps: int = 470
    batch_size: int = 128  # images per step (drawn without replacement within an epoch)
    lr: float = 5e-3  # peak learning rate
    weight_decay: float = 0.01  # AdamW decoupled weight decay, conv/linear weights only
    warmup_steps: int = 10  # linear warm-up
    label_smoothing: float = 0.1  # of the cross-entropy
    eval_batch_size: int = 1000  # test images per forward pass

    def digest(self) -> str:
        """A short hash of the recipe (stamped into every result line)."""
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def _lr_at(recipe: StandaloneRecipe, step: int) -> float:
    if step < recipe.warmup_steps:
        return recipe.lr * (step + 1) / recipe.warmup_steps
    span = max(1, recipe.steps - recipe.warmup_steps)
    return 0.5 * recipe.lr * (1.0 + np.cos(np.pi * (step - recipe.warmup_steps) / span))


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


@torch.no_grad()
def evaluate_top1(model: torch.nn.Module, data: ImageData, batch_size: int = 1000) -> float:
    """Top-1 accuracy (%) of ``model`` on every image of ``data`` (eval mode, on the model's device)."""
    model.eval()
    device = next(model.parameters()).device
    correct = 0
    for start in range(0, len(data), batch_size):
        x = data.normalize(data.images[start:start + batch_size].to(device))
        y = data.labels[start:start + batch_size].to(device)
        correct += int((model(x.contiguous(memory_format=torch.channels_last)).argmax(1) == y).sum())
    return 100.0 * correct / len(data)


def train_standalone(space: SearchSpace, arch: Architecture, train: ImageData, test: ImageData,
                     recipe: StandaloneRecipe, seed: int, device: str | torch.device = "cpu") -> dict[str, Any]:
    """Train ``arch`` from scratch with ``recipe`` and ``seed``; return test top-1 and timings.

    The seed fixes the initial weights and the order of the training images, so a line of the
    ground truth is reproduced exactly by running it again on the same machine and thread count.
    """
    if train.num_classes != space.num_classes or test.num_classes != space.num_classes:
        raise ValueError(f"data has {train.num_classes} classes, the space {space.num_classes}")
    torch.manual_seed(seed)
    model = build_child(space, arch).to(device=device, memory_format=torch.channels_last)
    opt = torch.optim.AdamW(_param_groups(model, recipe.weight_decay), lr=recipe.lr)
    rng = np.random.default_rng([seed, 0xDA7A])
    order = rng.permutation(len(train))
    cursor = 0
    model.train()
    start = time.perf_counter()
    loss = torch.zeros(())
    for step in range(recipe.steps):
        if cursor + recipe.batch_size > len(order):
            order, cursor = rng.permutation(len(train)), 0
        idx = torch.as_tensor(order[cursor:cursor + recipe.batch_size])
        cursor += recipe.batch_size
        x = train.normalize(train.images[idx].to(device)).contiguous(memory_format=torch.channels_last)
        for group in opt.param_groups:
            group["lr"] = _lr_at(recipe, step)
        loss = F.cross_entropy(model(x), train.labels[idx].to(device), label_smoothing=recipe.label_smoothing)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    if not torch.isfinite(loss):
        raise FloatingPointError(f"training diverged (final loss {float(loss)})")
    train_seconds = time.perf_counter() - start
    start = time.perf_counter()
    test_acc = evaluate_top1(model, test, recipe.eval_batch_size)
    return {"test_acc": round(test_acc, 2), "final_loss": round(float(loss.detach()), 4),
            "train_seconds": round(train_seconds, 1), "eval_seconds": round(time.perf_counter() - start, 1)}
