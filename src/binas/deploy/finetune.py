"""Fine-tune an extracted child with knowledge distillation from the heaviest network (docs/supernet.md).

The student is the static child of an architecture with weights inherited from the supernet; the
frozen teacher is the stage-A heaviest network of the same run. Loss = CE (label smoothing) +
``kd_weight`` x KL(teacher || student) on logits (reference: weight 2). Cosine schedule, optional EMA,
DDP under ``torchrun``, bfloat16 autocast and channels-last on CUDA (the command's runtime), the
teacher on the student's device. Data, optimizer, schedule, EMA and DDP are the supernet training
loop's own pieces (:mod:`binas.loaders`, :mod:`binas.supernet.train.pieces`); resumable: every random draw
derives from ``(seed, step, rank)``, so a resumed run replays exactly the steps an uninterrupted one
would take.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from binas.deploy.export import save_model
from binas.errors import BinasError, DataError
from binas.codec import format_timm
from binas.io import atomic_write_json, file_digest, read_json
from binas.loaders import DataSpec, Source, open_split, steps_per_epoch, train_batches
from binas.nn.fold import fold_batchnorm
from binas.resume import ResumeError, check_same_settings
from binas.runtime import Runtime, open_runtime
from binas.space import Architecture
from binas.supernet.model import extract_child
from binas.supernet.store import FINAL_NAME, load_supernet
from binas.supernet.train.checkpoint import TrainState, load_checkpoint, read_checkpoint_state, save_checkpoint
from binas.supernet.train.config import check_finite_fields
from binas.supernet.train.loop import STAGE_A_NAME
from binas.supernet.train.metrics import MetricsLog, Progress, accuracy
from binas.supernet.train.pieces import (cosine_lr, ema_init, ema_update, freeze, kd_loss, make_optimizer, set_lr,
                                         wrap_ddp)

__all__ = ["FinetuneConfig", "finetune"]

CHECKPOINT = "finetune_checkpoint.safetensors"
_STREAM = 3  # the data/augmentation stream of fine-tuning (stage A and B use 1 and 2)


@dataclass
class FinetuneConfig:
    """Fine-tuning hyper-parameters (``binas finetune --config FILE.yaml`` takes these keys)."""

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
    augment: bool = True  # in-memory data: random crop (pad 2) + flip; image folders: RandomResizedCrop + flip
    seed: int = 0  # data order, augmentation, dropout
    checkpoint_every: int = 100  # resumable checkpoint every N steps
    log_every: int = 10  # a metrics row every N steps
    workers: int | None = None  # loader worker processes for image folders (None: automatic)

    def validate(self) -> "FinetuneConfig":
        check_finite_fields(self, BinasError)
        for name in ("epochs", "lr"):
            if not getattr(self, name) > 0:
                raise BinasError(f"finetune {name} must be > 0, got {getattr(self, name)}")
        for name in ("batch_size", "checkpoint_every", "max_steps", "train_subset", "log_every"):
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


def _teacher(run: Path, supernet: torch.nn.Module, rt: Runtime) -> torch.nn.Module:
    """The frozen heaviest network (BatchNorm folded) on the student's device: the run's stage-A weights
    when present, else the supernet's heaviest path."""
    source = load_supernet(run / STAGE_A_NAME, supernet.space) if run.is_dir() and (run / STAGE_A_NAME).is_file() \
        else supernet
    teacher = fold_batchnorm(extract_child(source, supernet.space.heaviest))
    return freeze(teacher.to(rt.device, memory_format=rt.memory_format))


def _train_data(cfg: FinetuneConfig, space: Any) -> Source:
    data = open_split(DataSpec.for_space(cfg.data, cfg.data_dir, space, cfg.workers), "train")
    if cfg.train_subset and cfg.train_subset < len(data):
        data = data.subset(np.sort(np.random.default_rng(cfg.seed).permutation(len(data))[: cfg.train_subset]))
    return data


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
             progress: bool = True, on_step: Callable[[int], None] | None = None,
             rt: Runtime | None = None) -> dict[str, Any]:
    """Fine-tune ``arch`` from the supernet of ``run`` into the model directory ``out``.

    Args:
        rt: the command's runtime (default: a fresh one on the best device).

    Returns:
        ``{"model": out, "steps", "resumed_from_step", "train_acc", "seconds"}``.

    Raises:
        BinasError: bad config, missing data, an existing fine-tune in ``out`` without ``resume``, nothing to
            resume, or a resume with changed settings. A complete fine-tune returns its stored result with
            ``"complete": True``.
    """
    if rt is None:
        with open_runtime() as fresh:
            return finetune(run, arch, out, cfg, resume=resume, progress=progress, on_step=on_step, rt=fresh)
    cfg.validate()
    run, out = Path(run), Path(out)
    supernet = load_supernet(run)
    space = supernet.space
    space.validate(arch)
    ckpt = out / CHECKPOINT
    settings = {**{k: v for k, v in asdict(cfg).items() if k not in ("checkpoint_every", "log_every", "workers")},
                "arch": format_timm(space, arch), "supernet": file_digest(_weights_file(run))}
    state = _resume_state(ckpt, out, resume, settings)
    if state is not None and state.step == state.total_steps and (out / "finetune.json").is_file():
        return _finished(out)
    student = extract_child(supernet, arch).to(rt.device, memory_format=rt.memory_format).train()
    teacher = _teacher(run, supernet, rt)
    del supernet
    data = _train_data(cfg, space)
    try:
        per_epoch = steps_per_epoch(len(data), rt.world_size, cfg.batch_size)
    except DataError as exc:
        raise BinasError(str(exc)) from None
    total = max(1, int(np.ceil(cfg.epochs * per_epoch)))
    total = min(total, cfg.max_steps) if cfg.max_steps else total
    optimizer = make_optimizer(student, "sgd", cfg.lr, cfg.weight_decay)
    ema = ema_init(student) if cfg.ema_decay > 0 else None
    start = 0
    if state is not None:
        start = load_checkpoint(ckpt, space, student, optimizer, ema).step
    net = wrap_ddp(student, rt)
    metrics = MetricsLog(out, enabled=rt.is_main)
    bar = Progress("finetune", total, start, enabled=progress and rt.is_main)
    started, acc = time.perf_counter(), None
    batches = train_batches(data, rt, batch_size=cfg.batch_size, seed=cfg.seed, stream=_STREAM, start=start,
                            stop=total, augment=cfg.augment, workers=cfg.workers)
    for step, (x, y) in zip(range(start, total), batches):
        torch.manual_seed(int(np.random.default_rng([cfg.seed, _STREAM, step, rt.rank]).integers(2**62)))  # dropout
        set_lr(optimizer, cosine_lr(step, total, cfg.lr, cfg.warmup_steps))
        with rt.autocast():
            logits = net(x)
            with torch.no_grad():
                t_logits = teacher(x)
            loss = F.cross_entropy(logits, y, label_smoothing=cfg.label_smoothing) + \
                cfg.kd_weight * kd_loss(logits, t_logits)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if not torch.isfinite(loss):
            raise BinasError(f"the fine-tuning loss became {loss.item()} at step {step + 1}: lower --lr")
        if ema is not None:
            ema_update(ema, student, cfg.ema_decay)
        acc, loss_value = accuracy(logits, y), float(loss.detach())
        bar.advance(loss_value)
        if (step + 1) % cfg.log_every == 0 or step + 1 == total:
            metrics.write({"stage": "finetune", "step": step + 1, "loss": loss_value, "train_acc": acc})
        if (step + 1) % cfg.checkpoint_every == 0 or step + 1 == total:
            if rt.is_main:
                save_checkpoint(ckpt, space, student, optimizer, ema, TrainState("finetune", step + 1, total),
                                settings)
            rt.barrier()
        if on_step is not None:
            on_step(step + 1)
    bar.close()
    if ema is not None:
        student.load_state_dict(ema)
    result = {"model": str(out), "steps": total, "resumed_from_step": start or None, "train_acc": acc,
              "seconds": round(time.perf_counter() - started, 2)}
    if rt.is_main:
        save_model(out, space, arch, student.eval(), {"supernet": str(run), "finetune": asdict(cfg), "steps": total})
        atomic_write_json(out / "finetune.json", result)
        metrics.close()
    rt.barrier()
    return result
