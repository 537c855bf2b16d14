"""Supernet training (DESIGN 4): stage A trains the heaviest network, stage B the whole supernet with
uniform sampling and distillation from the frozen stage-A heaviest network.

Everything random is derived from ``(seed, stage, step, rank)``: the data order comes from a
:class:`~torch.utils.data.DistributedSampler` seeded per stage and epoch, and the architecture sampling,
augmentation and dropout use generators re-seeded every step. A run resumed from a checkpoint therefore
replays exactly the steps an uninterrupted run would have taken, and ends with the same weights.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler

from binas.data import ImageData, load_data
from binas.errors import DataError, FileFormatError
from binas.io import atomic_write_json, read_json
from binas.nn.supernet import (FINAL_NAME, Supernet, extract_child, load_supernet, recalibrated,
                               sample_codes, save_supernet)
from binas.space import load_space
from binas.resume import ResumeError, check_same_settings
from binas.train.checkpoint import TrainState, load_checkpoint, read_checkpoint_state, save_checkpoint
from binas.train.config import ConfigError, TrainConfig
from binas.train.dist import Dist, barrier, init_dist, shutdown_dist
from binas.train.losses import distillation_loss
from binas.train.metrics import MetricsLog, Progress, accuracy, write_config

__all__ = ["CHECKPOINT_NAME", "STAGE_A_NAME", "augment_batch", "cosine_lr", "train_supernet"]

CHECKPOINT_NAME = "checkpoint.safetensors"  # the resumable training state
STAGE_A_NAME = "stage_a.safetensors"  # supernet after stage A (the stage-B teacher comes from it)
_STAGE_IDS = {"heaviest": 1, "supernet": 2}
_RESUME_FREE = ("out", "stage", "checkpoint_every", "log_every")  # may change when resuming


def train_supernet(config: TrainConfig, *, resume: bool = False, progress: bool = True,
                   log: Callable[[str], None] | None = None,
                   on_step: Callable[[str, int], None] | None = None) -> dict[str, Any]:
    """Run the stages of ``config``; returns ``{"checkpoint", "steps", "resumed_from_step", "metrics"}``.

    Args:
        resume: continue from the run directory's last checkpoint, with exactly the settings it was started
            with (an error if there is none); a complete run returns its stored result with ``"complete": True``.
        progress: show a progress bar (rank 0 only).
        log: receives one-line messages (rank 0 only).
        on_step: called after every optimizer step with ``(stage, step)``.

    Raises:
        BinasError: invalid configuration, missing data, or an existing run without ``resume``.
    """
    d = init_dist()
    try:
        return _Trainer(config, d, progress and d.is_main, log if d.is_main else None, on_step).run(resume)
    finally:
        shutdown_dist(d)


class _Trainer:
    def __init__(self, config: TrainConfig, d: Dist, progress: bool, log: Callable[[str], None] | None,
                 on_step: Callable[[str, int], None] | None) -> None:
        self.config, self.d, self.show_progress, self.on_step = config.validate(), d, progress, on_step
        self.log = log or (lambda _msg: None)
        self.out = Path(config.out)
        self.space = load_space(config.space)
        self.train_data = self._load("train")
        self.eval_data = self._load("test")
        if config.eval_images and len(self.eval_data) > config.eval_images:
            self.eval_data = self.eval_data.subset(np.arange(config.eval_images))
        torch.manual_seed(config.seed)
        self.memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
        self.model = Supernet(self.space).to(d.device, memory_format=self.memory_format)
        self.metrics = MetricsLog(self.out, enabled=d.is_main)
        self.results: dict[str, Any] = {}

    def _load(self, split: str) -> ImageData:
        sp, c = self.space, self.config
        data = load_data(c.data, split, c.data_dir, image_shape=(sp.in_channels, sp.input_size, sp.input_size),
                         num_classes=sp.num_classes)
        if data.shape[0] != sp.in_channels or data.num_classes > sp.num_classes:
            raise DataError(f"data {c.data!r} has {data.shape[0]} channel(s) and {data.num_classes} classes but "
                            f"space {sp.name!r} expects {sp.in_channels} and at most {sp.num_classes}")
        if split == "train" and c.train_subset and c.train_subset < len(data):
            data = data.subset(np.sort(np.random.default_rng(c.seed).permutation(len(data))[: c.train_subset]))
        return data

    # ----------------------------------------------------------------- stages
    def run(self, resume: bool) -> dict[str, Any]:
        stages = ["heaviest", "supernet"] if self.config.stage == "both" else [self.config.stage]
        state = self._resume_state(resume)
        if state is not None and self._complete(state, stages):
            return self._finished_result()
        self._steps_per_epoch()  # refuse a batch larger than the data before anything is written
        resumed_from = None
        if state is not None:
            done = stages[: stages.index(state.stage)] if state.stage in stages else []
            resumed_from = sum(self._stage_steps(s) for s in done) + state.step
            self.log(f"resuming {state.stage} stage at step {state.step}/{state.total_steps}")
        if self.d.is_main:
            write_config(self.out, self.config)
        started, total = time.perf_counter(), 0
        for stage in stages:
            if state is not None and stages.index(stage) < stages.index(state.stage):
                total += self._stage_steps(stage)
                self._recall_eval(stage)
                continue
            total += self._train_stage(stage, state if state is not None and state.stage == stage else None)
        final = self.out / FINAL_NAME
        if self.d.is_main:
            save_supernet(self._unwrapped(), final, {"config": self.config.to_dict(), "steps": total})
            self.results.update(steps=total, wall_s=round(time.perf_counter() - started, 2))
            atomic_write_json(self.out / "result.json", {"checkpoint": str(final), "steps": total,
                                                         "resumed_from_step": resumed_from, "metrics": self.results})
            self.metrics.close()
        barrier(self.d)
        return {"checkpoint": str(final), "steps": total, "resumed_from_step": resumed_from, "metrics": self.results}

    def _recall_eval(self, stage: str) -> None:
        """Put the accuracies of a stage finished before a resume back into the results."""
        for row in self.metrics.rows:
            if row.get("stage") == stage and "eval" in row:
                self.results.update({f"{stage}_stage_{k}": v for k, v in row["eval"].items()})

    def _settings(self) -> dict[str, Any]:
        """What a resume must repeat exactly (everything but where the run is and how often it logs)."""
        return {k: v for k, v in self.config.to_dict().items() if k not in _RESUME_FREE}

    def _complete(self, state: TrainState, stages: list[str]) -> bool:
        return (state.stage == stages[-1] and state.step == state.total_steps and (self.out / FINAL_NAME).is_file()
                and (self.out / "result.json").is_file())

    def _finished_result(self) -> dict[str, Any]:
        """The stored result of a run that is already complete (nothing is trained or written)."""
        result = read_json(self.out / "result.json", "training result")
        if not isinstance(result, dict):
            raise FileFormatError(f"training result {self.out / 'result.json'} is corrupt")
        self.log(f"run {self.out} is already complete ({result.get('steps')} steps): nothing to resume")
        return {**result, "complete": True}

    def _resume_state(self, resume: bool) -> TrainState | None:
        """The state to continue from (None: start afresh); refuses to overwrite a run by accident and to
        resume with any changed setting."""
        path = self.out / CHECKPOINT_NAME
        if not path.is_file():
            if resume:
                raise ResumeError(f"nothing to resume in {self.out}: it holds no {CHECKPOINT_NAME} (check --out, "
                                  "or start the run without --resume)")
            return None
        state, saved = read_checkpoint_state(path)
        if self.config.stage == "supernet" and state.stage == "heaviest":
            if state.step < state.total_steps:
                raise ConfigError(f"stage A in {self.out} is unfinished: resume it with --stage heaviest --resume")
            return None  # stage B after a finished stage A in the same run directory
        if not resume:
            raise ConfigError(f"run directory {self.out} already holds a checkpoint: pass --resume to continue it "
                              "or choose a new --out")
        if self.config.stage == "heaviest" and state.stage == "supernet":
            raise ConfigError(f"run directory {self.out} is already in stage B: resume it with --stage supernet or both")
        if saved is not None:
            check_same_settings(saved, self._settings(), f"the run in {self.out}")
        return state

    def _stage_steps(self, stage: str) -> int:
        per_epoch = self._steps_per_epoch()
        steps = max(1, math.ceil(self.config.stage_epochs(stage) * per_epoch))
        return min(steps, self.config.max_steps) if self.config.max_steps else steps

    def _steps_per_epoch(self) -> int:
        per_rank = len(self.train_data) // self.d.world_size
        steps = per_rank // self.config.batch_size
        if steps < 1:
            raise ConfigError(f"batch_size {self.config.batch_size} is larger than the {per_rank} training images "
                              "each process gets")
        return steps

    def _train_stage(self, stage: str, state: TrainState | None) -> int:
        """Train one stage (from ``state`` when resuming); returns its number of steps."""
        total = self._stage_steps(stage)
        teacher = self._prepare_stage(stage, state)
        net = self._ddp()
        optimizer = self._optimizer()
        ema = self._ema_init() if self.config.ema_decay > 0 else None
        start = 0
        if state is not None:
            start = load_checkpoint(self.out / CHECKPOINT_NAME, self.space, self._unwrapped(), optimizer, ema).step
        self.log(f"stage {stage}: {total} steps of {self.config.batch_size} images x {self.d.world_size} process(es)")
        bar = Progress(f"stage {stage}", total, start, enabled=self.show_progress)
        for step in range(start, total):
            row = self._step(net, optimizer, teacher, stage, step, total)
            if ema is not None:
                self._ema_update(ema)
            bar.advance(row["loss"])
            if (step + 1) % self.config.log_every == 0 or step + 1 == total:
                self.metrics.write(row)
            if (step + 1) % self.config.checkpoint_every == 0 or step + 1 == total:
                self._checkpoint(optimizer, ema, TrainState(stage, step + 1, total))
            if self.on_step is not None:
                self.on_step(stage, step + 1)
        bar.close()
        if ema is not None:
            self._unwrapped().load_state_dict(ema)
        self._finish_stage(stage)
        return total

    def _prepare_stage(self, stage: str, state: TrainState | None) -> torch.nn.Module | None:
        """Stage A: fix the heaviest path. Stage B: start from the stage-A weights; build the teacher."""
        model = self._unwrapped()
        model.set_active(self.space.heaviest)
        if stage == "heaviest":
            return None
        path = self.out / STAGE_A_NAME
        if not path.is_file():
            raise ConfigError(f"stage 'supernet' needs the stage-A result {path}: run --stage heaviest (or both) "
                              "into the same --out first")
        stage_a = load_supernet(path, self.space).to(self.d.device)
        if state is None:
            model.load_state_dict(stage_a.state_dict())
            if self.config.warm_start:
                for blocks in model.stages:
                    for block in blocks:
                        block.inherit_from_largest()
        teacher = extract_child(stage_a, self.space.heaviest).to(memory_format=self.memory_format).eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
        return teacher

    def _finish_stage(self, stage: str) -> None:
        if self.d.is_main:
            acc = self._evaluate()
            self.results.update({f"{stage}_stage_{k}": v for k, v in acc.items()})
            self.results.update(acc)
            self.metrics.write({"stage": stage, "eval": acc})
            self.log(f"stage {stage} done: " + ", ".join(f"{k} {v:.4f}" for k, v in acc.items()))
            if stage == "heaviest":
                save_supernet(self._unwrapped(), self.out / STAGE_A_NAME, {"config": self.config.to_dict()})
        barrier(self.d)

    # ----------------------------------------------------------------- one step
    def _step(self, net: torch.nn.Module, optimizer: torch.optim.Optimizer, teacher: torch.nn.Module | None,
              stage: str, step: int, total: int) -> dict[str, Any]:
        c, t0 = self.config, time.perf_counter()
        seed = [c.seed, _STAGE_IDS[stage], step, self.d.rank]
        torch.manual_seed(int(np.random.default_rng(seed).integers(2**62)))  # dropout
        x, y = self._batch(stage, step, np.random.default_rng(seed + [1]))
        lr = cosine_lr(step, total, c.stage_lr(stage), c.warmup_steps)
        for group in optimizer.param_groups:
            group["lr"] = lr
        with self._autocast():
            if teacher is None:
                logits = net(x)
                parts = {"ce": F.cross_entropy(logits, y, label_smoothing=c.label_smoothing)}
            else:
                n = x.shape[0] if c.sampling == "per-image" else 1
                codes = sample_codes(self.space, np.random.default_rng(seed + [2]), n)
                logits, feats = net(x, codes, return_features=True)
                with torch.no_grad():
                    t_feats = teacher.forward_features(x)
                    t_logits = teacher.head(teacher.head_conv(t_feats[-1]))
                parts = distillation_loss(logits, feats, t_logits, t_feats, y, c)
            loss = sum(parts.values())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if not torch.isfinite(loss):
            raise ConfigError(f"the loss became {loss.item()} at {stage} step {step + 1}: lower --lr")
        row = {"stage": stage, "step": step + 1, "epoch": round((step + 1) / self._steps_per_epoch(), 4), "lr": lr,
               "loss": float(loss.detach()), **{k: float(v.detach()) for k, v in parts.items()}, "train_acc": accuracy(logits, y)}
        row["images_per_s"] = round(x.shape[0] * self.d.world_size / (time.perf_counter() - t0), 1)
        return row

    def _batch(self, stage: str, step: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        per_epoch = self._steps_per_epoch()
        epoch, i = divmod(step, per_epoch)
        bs = self.config.batch_size
        idx = self._epoch_order(stage, epoch)[i * bs:(i + 1) * bs]
        images = self.train_data.images[idx]
        if self.config.augment:
            images = augment_batch(images, rng)
        x = self.train_data.normalize(images).to(self.d.device, memory_format=self.memory_format)
        return x, self.train_data.labels[idx].to(self.d.device)

    def _epoch_order(self, stage: str, epoch: int) -> torch.Tensor:
        """This rank's image order for one epoch (a seeded DistributedSampler; cached per epoch)."""
        if getattr(self, "_order_key", None) != (stage, epoch):
            sampler = DistributedSampler(self.train_data, self.d.world_size, self.d.rank, shuffle=True,
                                         seed=self.config.seed * 10 + _STAGE_IDS[stage], drop_last=True)
            sampler.set_epoch(epoch)
            self._order_key, self._order = (stage, epoch), torch.tensor(list(sampler))
        return self._order

    # ----------------------------------------------------------------- helpers
    def _unwrapped(self) -> Supernet:
        return self.model

    def _ddp(self) -> torch.nn.Module:
        if not self.d.enabled:
            return self.model
        ids = [self.d.device.index] if self.d.device.type == "cuda" else None
        # Sampled paths leave parts of the supernet unused in a step, hence find_unused_parameters.
        return DistributedDataParallel(self.model, device_ids=ids, find_unused_parameters=True)

    def _optimizer(self) -> torch.optim.Optimizer:
        decay = [p for n, p in self.model.named_parameters() if p.ndim > 1]
        rest = [p for n, p in self.model.named_parameters() if p.ndim <= 1]
        groups = [{"params": decay, "weight_decay": self.config.weight_decay}, {"params": rest, "weight_decay": 0.0}]
        if self.config.optimizer == "adamw":
            return torch.optim.AdamW(groups, lr=self.config.lr)
        return torch.optim.SGD(groups, lr=self.config.lr, momentum=0.9, nesterov=True)

    def _autocast(self) -> Any:
        enabled = self.config.amp and self.d.device.type == "cuda"
        return torch.autocast("cuda", dtype=torch.bfloat16, enabled=enabled) if enabled else _Null()

    def _ema_init(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    @torch.no_grad()
    def _ema_update(self, ema: dict[str, torch.Tensor]) -> None:
        decay = self.config.ema_decay
        for key, value in self.model.state_dict().items():
            if value.is_floating_point():
                ema[key].mul_(decay).add_(value.detach(), alpha=1 - decay)
            else:
                ema[key].copy_(value)

    def _checkpoint(self, optimizer: torch.optim.Optimizer, ema: dict | None, state: TrainState) -> None:
        if self.d.is_main:
            save_checkpoint(self.out / CHECKPOINT_NAME, self.space, self.model, optimizer, ema, state,
                            self._settings())
            self.metrics.flush_csv()
        barrier(self.d)

    @torch.no_grad()
    def _evaluate(self) -> dict[str, float]:
        """Test accuracy of the heaviest and the smallest path (BN in eval mode)."""
        model, data, out = self._unwrapped(), self.eval_data, {}
        n_cal = min(self.config.bn_calibration_images, len(self.train_data))
        calib = self.train_data.normalize(self.train_data.images[:n_cal]).to(self.d.device,
                                                                             memory_format=self.memory_format)
        model.eval()
        for name, arch in (("heaviest", self.space.heaviest), ("smallest", self.space.smallest)):
            net = recalibrated(model, arch, calib) if n_cal else model
            correct = 0
            for start in range(0, len(data), 500):
                x = data.normalize(data.images[start:start + 500]).to(self.d.device, memory_format=self.memory_format)
                with self._autocast():
                    logits = net(x, arch)
                correct += int((logits.argmax(1).cpu() == data.labels[start:start + 500]).sum())
            out[f"{name}_acc"] = round(correct / len(data), 4)
        model.train()
        model.set_active(self.space.heaviest)
        return out


class _Null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


def cosine_lr(step: int, total: int, peak: float, warmup: int) -> float:
    """Linear warm-up (capped at a fifth of the stage), then cosine decay to zero."""
    warmup = min(warmup, total // 5)
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * peak * (1 + math.cos(math.pi * progress))


def augment_batch(images: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Random crop with 2-pixel zero padding and random horizontal flip, per image (uint8 B, C, H, W)."""
    b, _, h, w = images.shape
    padded = F.pad(images, (2, 2, 2, 2))
    oy, ox = (torch.from_numpy(rng.integers(0, 5, size=b)) for _ in range(2))
    rows = (oy[:, None] + torch.arange(h))[:, :, None]  # B, H, 1
    cols = (ox[:, None] + torch.arange(w))[:, None, :]  # B, 1, W
    flip = torch.from_numpy(rng.random(b) < 0.5)[:, None, None]
    cols = torch.where(flip, cols.flip(-1), cols)
    return padded[torch.arange(b)[:, None, None], :, rows, cols].permute(0, 3, 1, 2).contiguous()
