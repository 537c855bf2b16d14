"""Fine-tune an extracted child with knowledge distillation from the heaviest network (DESIGN 7).

The student is the static child of an architecture with weights inherited from the supernet; the
frozen teacher is the stage-A heaviest network of the same run. Loss = CE (label smoothing) +
``kd_weight`` x KL(teacher || student) on logits (reference: weight 2). Cosine schedule, optional EMA,
DDP under ``torchrun``, resumable: every random draw derives from ``(seed, step, rank)``, so a resumed
run replays exactly the steps an uninterrupted one would take.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler

from binas.data import ImageData, load_data
from binas.errors import BinasError
from binas.export import save_model
from binas.codec import format_timm
from binas.io import atomic_write_json, file_digest, read_json
from binas.nn.supernet import FINAL_NAME, extract_child, load_supernet
from binas.resume import ResumeError, check_same_settings
from binas.space import Architecture
from binas.train.checkpoint import TrainState, load_checkpoint, read_checkpoint_state, save_checkpoint
from binas.train.config import check_finite_fields
from binas.train.dist import barrier, init_dist, shutdown_dist
from binas.train.loop import STAGE_A_NAME, augment_batch, cosine_lr
from binas.train.metrics import MetricsLog, Progress, accuracy

__all__ = ["FinetuneConfig", "finetune"]

CHECKPOINT = "finetune_checkpoint.safetensors"


@dataclass
class FinetuneConfig:
    """Fine-tuning hyper-parameters."""

    data: str = "fashion-mnist"  # dataset name or directory
    data_dir: str | None = None  # where its files are
    epochs: float = 1.0  # passes over the training split (fractions allowed)
    max_steps: int | None = None  # cap on optimizer steps
    train_subset: int | None = None  # use only this many training images (None: all)
    batch_size: int = 128  # images per step per process
    lr: float = 0.02  # peak learning rate (SGD, Nesterov momentum 0.9)
    weight_decay: float = 4e-5  # on conv/linear weights only
    warmup_steps: int = 0  # linear warm-up before the cosine decay
    label_smoothing: float = 0.1  # of the CE term
    kd_weight: float = 2.0  # weight of the KL term (reference: 2)
    ema_decay: float = 0.0  # EMA of the weights (0 = off); the saved model is the EMA
    augment: bool = True  # random crop (pad 2) + horizontal flip
    seed: int = 0  # data order, augmentation, dropout
    checkpoint_every: int = 100  # resumable checkpoint every N steps

    def validate(self) -> "FinetuneConfig":
        check_finite_fields(self, BinasError)
        for name in ("epochs", "lr"):
            if not getattr(self, name) > 0:
                raise BinasError(f"finetune {name} must be > 0, got {getattr(self, name)}")
        for name in ("batch_size", "checkpoint_every", "max_steps", "train_subset"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise BinasError(f"finetune {name} must be >= 1, got {value}")
        if not self.kd_weight >= 0 or not 0 <= self.ema_decay < 1 or not 0 <= self.label_smoothing < 1:
            raise BinasError(f"kd_weight must be >= 0 (got {self.kd_weight}) and ema_decay, label_smoothing in "
                             f"[0, 1) (got {self.ema_decay}, {self.label_smoothing})")
        if not self.weight_decay >= 0 or self.warmup_steps < 0:
            raise BinasError(f"finetune weight_decay and warmup_steps must be >= 0, got {self.weight_decay}, "
                             f"{self.warmup_steps}")
        return self


def _teacher(run: Path, supernet: torch.nn.Module) -> torch.nn.Module:
    """The frozen heaviest network: the run's stage-A weights when present, else the supernet's heaviest path."""
    source = load_supernet(run / STAGE_A_NAME, supernet.space) if run.is_dir() and (run / STAGE_A_NAME).is_file() \
        else supernet
    teacher = extract_child(source, supernet.space.heaviest).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


def _train_data(cfg: FinetuneConfig, space: Any) -> ImageData:
    data = load_data(cfg.data, "train", cfg.data_dir, image_shape=(space.in_channels, space.input_size,
                     space.input_size), num_classes=space.num_classes)
    if cfg.train_subset and cfg.train_subset < len(data):
        data = data.subset(np.sort(np.random.default_rng(cfg.seed).permutation(len(data))[: cfg.train_subset]))
    return data


def _batch(data: ImageData, cfg: FinetuneConfig, step: int, per_epoch: int, d: Any,
           rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """This rank's batch of ``step``: a seeded DistributedSampler order per epoch, then augmentation."""
    epoch, i = divmod(step, per_epoch)
    sampler = DistributedSampler(data, d.world_size, d.rank, shuffle=True, seed=cfg.seed, drop_last=True)
    sampler.set_epoch(epoch)
    idx = torch.tensor(list(sampler))[i * cfg.batch_size:(i + 1) * cfg.batch_size]
    images = augment_batch(data.images[idx], rng) if cfg.augment else data.images[idx]
    return data.normalize(images).to(d.device), data.labels[idx].to(d.device)


@torch.no_grad()
def _ema_update(ema: dict[str, torch.Tensor], model: torch.nn.Module, decay: float) -> None:
    for key, value in model.state_dict().items():
        if value.is_floating_point():
            ema[key].mul_(decay).add_(value, alpha=1 - decay)
        else:
            ema[key].copy_(value)


def _weights_file(run: Path) -> Path:
    return run / FINAL_NAME if run.is_dir() else run


def _resume_state(ckpt: Path, out: Path, resume: bool, settings: dict[str, Any]) -> TrainState | None:
    """The checkpoint state to continue from (None: a fresh start); refuses any changed setting."""
    if not ckpt.is_file():
        if resume:
            raise ResumeError(f"nothing to resume in {out}: it holds no {CHECKPOINT} (check --out, or start "
                              "without --resume)")
        return None
    if not resume:
        raise BinasError(f"{out} already holds a fine-tuning checkpoint: pass --resume or choose a new --out")
    state, saved = read_checkpoint_state(ckpt)
    if saved is not None:
        check_same_settings(saved, settings, f"the fine-tuning in {out}")
    return state


def _finished(out: Path) -> dict[str, Any]:
    """The stored result of a fine-tuning that is already complete (nothing is trained or written)."""
    result = read_json(out / "finetune.json", "fine-tuning result")
    if not isinstance(result, dict):
        raise BinasError(f"fine-tuning result {out / 'finetune.json'} is corrupt")
    return {**result, "complete": True}


def finetune(run: str | Path, arch: Architecture, out: str | Path, cfg: FinetuneConfig, *, resume: bool = False,
             progress: bool = True, on_step: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Fine-tune ``arch`` from the supernet of ``run`` into the model directory ``out``.

    Returns:
        ``{"model": out, "steps", "resumed_from_step", "train_acc", "seconds"}``.

    Raises:
        BinasError: bad config, missing data, an existing fine-tune in ``out`` without ``resume``, nothing to
            resume, or a resume with changed settings. A complete fine-tune returns its stored result with
            ``"complete": True``.
    """
    cfg.validate()
    run, out, d = Path(run), Path(out), init_dist()
    try:
        supernet = load_supernet(run).to(d.device)
        space = supernet.space
        space.validate(arch)
        ckpt = out / CHECKPOINT
        settings = {**{k: v for k, v in asdict(cfg).items() if k != "checkpoint_every"},
                    "arch": format_timm(space, arch), "supernet": file_digest(_weights_file(run))}
        state = _resume_state(ckpt, out, resume, settings)
        if state is not None and state.step == state.total_steps and (out / "finetune.json").is_file():
            return _finished(out)
        student, teacher = extract_child(supernet, arch).train(), _teacher(run, supernet)
        data = _train_data(cfg, space)
        per_epoch = len(data) // d.world_size // cfg.batch_size
        if per_epoch < 1:
            raise BinasError(f"batch size {cfg.batch_size} exceeds the training images per process")
        total = max(1, math.ceil(cfg.epochs * per_epoch))
        total = min(total, cfg.max_steps) if cfg.max_steps else total
        decay = [p for p in student.parameters() if p.ndim > 1]
        rest = [p for p in student.parameters() if p.ndim <= 1]
        optimizer = torch.optim.SGD([{"params": decay, "weight_decay": cfg.weight_decay},
                                     {"params": rest, "weight_decay": 0.0}], lr=cfg.lr, momentum=0.9, nesterov=True)
        ema = {k: v.detach().clone() for k, v in student.state_dict().items()} if cfg.ema_decay > 0 else None
        start = 0
        if state is not None:
            start = load_checkpoint(ckpt, space, student, optimizer, ema).step
        net = DistributedDataParallel(student) if d.enabled else student
        metrics = MetricsLog(out, enabled=d.is_main)
        bar = Progress("finetune", total, start, enabled=progress and d.is_main)
        started, acc = time.perf_counter(), None
        for step in range(start, total):
            seed = [cfg.seed, 3, step, d.rank]
            torch.manual_seed(int(np.random.default_rng(seed).integers(2**62)))  # dropout
            x, y = _batch(data, cfg, step, per_epoch, d, np.random.default_rng(seed + [1]))
            for group in optimizer.param_groups:
                group["lr"] = cosine_lr(step, total, cfg.lr, cfg.warmup_steps)
            logits = net(x)
            with torch.no_grad():
                t_logits = teacher(x)
            loss = F.cross_entropy(logits, y, label_smoothing=cfg.label_smoothing) + cfg.kd_weight * F.kl_div(
                F.log_softmax(logits, 1), F.log_softmax(t_logits, 1), reduction="batchmean", log_target=True)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if not torch.isfinite(loss):
                raise BinasError(f"the fine-tuning loss became {loss.item()} at step {step + 1}: lower --lr")
            if ema is not None:
                _ema_update(ema, student, cfg.ema_decay)
            acc, loss_value = accuracy(logits, y), float(loss.detach())
            bar.advance(loss_value)
            if (step + 1) % 10 == 0 or step + 1 == total:
                metrics.write({"stage": "finetune", "step": step + 1, "loss": loss_value, "train_acc": acc})
            if (step + 1) % cfg.checkpoint_every == 0 or step + 1 == total:
                if d.is_main:
                    save_checkpoint(ckpt, space, student, optimizer, ema, TrainState("finetune", step + 1, total),
                                    settings)
                barrier(d)
            if on_step is not None:
                on_step(step + 1)
        bar.close()
        if ema is not None:
            student.load_state_dict(ema)
        result = {"model": str(out), "steps": total, "resumed_from_step": start or None, "train_acc": acc,
                  "seconds": round(time.perf_counter() - started, 2)}
        if d.is_main:
            save_model(out, space, arch, student.eval(), {"supernet": str(run), "finetune": asdict(cfg),
                                                          "steps": total})
            atomic_write_json(out / "finetune.json", result)
            metrics.close()
        barrier(d)
        return result
    finally:
        shutdown_dist(d)

