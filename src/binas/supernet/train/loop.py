"""Supernet training (docs/supernet.md): stage A trains the heaviest network, stage B the whole supernet with
uniform sampling and distillation from the frozen stage-A heaviest network.

Everything random is derived from ``(seed, stage, step, rank)``: the data order comes from a
:class:`~torch.utils.data.DistributedSampler` seeded per stage and epoch, and the architecture sampling,
augmentation and dropout use generators re-seeded every step. A run resumed from a checkpoint therefore
replays exactly the steps an uninterrupted run would have taken, and ends with the same weights.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from binas.errors import DataError, FileFormatError
from binas.inference import batched_logits, recalibrate_bn
from binas.io import atomic_write_json, read_json
from binas.loaders import (DataSpec, Source, augment_batch, eval_batches, open_split, pick, steps_per_epoch,
                           train_batches)
from binas.runtime import Runtime, open_runtime
from binas.space import load_space
from binas.resume import ResumeError, check_same_settings
from binas.supernet.model import Supernet, extract_child, sample_codes
from binas.supernet.store import FINAL_NAME, load_supernet, save_supernet
from binas.supernet.train.checkpoint import TrainState, load_checkpoint, read_checkpoint_state, save_checkpoint
from binas.supernet.train.config import ConfigError, TrainConfig
from binas.supernet.train.losses import distillation_loss
from binas.supernet.train.metrics import MetricsLog, Progress, accuracy, write_config
from binas.supernet.train.pieces import cosine_lr, ema_init, ema_update, freeze, make_optimizer, set_lr, wrap_ddp

__all__ = ["CHECKPOINT_NAME", "STAGE_A_NAME", "augment_batch", "cosine_lr", "train_supernet"]  # augment_batch, cosine_lr: re-exports

RESULT_FORMAT = "binas.train-result/1"  # result.json of a finished run
CHECKPOINT_NAME = "checkpoint.safetensors"  # the resumable training state
STAGE_A_NAME = "stage_a.safetensors"  # supernet after stage A (the stage-B teacher comes from it)
_STAGE_IDS = {"heaviest": 1, "supernet": 2}
_RESUME_FREE = ("out", "stage", "checkpoint_every", "log_every")  # may change when resuming


def train_supernet(config: TrainConfig, *, resume: bool = False, progress: bool = True,
                   log: Callable[[str], None] | None = None,
                   on_step: Callable[[str, int], None] | None = None, rt: Runtime | None = None) -> dict[str, Any]:
    """Run the stages of ``config``; returns ``{"checkpoint", "steps", "resumed_from_step", "metrics"}``.

    Args:
        resume: continue from the run directory's last checkpoint, with exactly the settings it was started
            with (an error if there is none); a complete run returns its stored result with ``"complete": True``.
        progress: show a progress bar (rank 0 only).
        log: receives one-line messages (rank 0 only).
        on_step: called after every optimizer step with ``(stage, step)``.
        rt: the command's runtime (default: one built from ``config.device``, AMP and channels-last).

    Raises:
        BinasError: invalid configuration, missing data, or an existing run without ``resume``.
    """
    if rt is None:
        with open_config_runtime(config) as fresh:
            return train_supernet(config, resume=resume, progress=progress, log=log, on_step=on_step, rt=fresh)
    return _Trainer(config, rt, progress and rt.is_main, log if rt.is_main else None, on_step).run(resume)


def open_config_runtime(config: TrainConfig) -> Any:
    """The runtime a training config asks for (device, AMP, channels-last)."""
    return open_runtime(config.device, amp=config.amp, channels_last=config.channels_last)


class _Trainer:
    def __init__(self, config: TrainConfig, d: Runtime, progress: bool, log: Callable[[str], None] | None,
                 on_step: Callable[[str, int], None] | None) -> None:
        self.config, self.d, self.show_progress, self.on_step = config.validate(), d, progress, on_step
        self.log = log or (lambda _msg: None)
        self.out = Path(config.out)
        self.space = load_space(config.space)
        self.train_data = self._load("train")
        self.eval_data = self._load("test")
        if config.eval_images and len(self.eval_data) > config.eval_images:
            self.eval_data = self.eval_data.subset(pick(self.eval_data, config.eval_images))
        torch.manual_seed(config.seed)
        self.memory_format = d.memory_format
        self.model = Supernet(self.space).to(d.device, memory_format=self.memory_format)
        self.metrics = MetricsLog(self.out, enabled=d.is_main)
        self.results: dict[str, Any] = {}

    def _load(self, split: str) -> Source:
        sp, c = self.space, self.config
        data = open_split(DataSpec.for_space(c.data, c.data_dir, sp, c.workers), split)
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
        result = {"checkpoint": str(final), "steps": total, "resumed_from_step": resumed_from, "metrics": self.results}
        if self.d.is_main:
            save_supernet(self._unwrapped(), final, {"config": self.config.to_dict(), "steps": total})
            self.results.update(steps=total, wall_s=round(time.perf_counter() - started, 2))
            atomic_write_json(self.out / "result.json", {"format": RESULT_FORMAT, **result})
            self.metrics.close()
        self.d.barrier()
        return result

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
        if result.get("format", RESULT_FORMAT) != RESULT_FORMAT:  # runs finished before the key was added lack it
            raise FileFormatError(f"training result {self.out / 'result.json'} is not a {RESULT_FORMAT} file "
                                  f"(format: {result['format']!r})")
        self.log(f"run {self.out} is already complete ({result.get('steps')} steps): nothing to resume")
        return {**{k: v for k, v in result.items() if k != "format"}, "complete": True}

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
        try:
            return steps_per_epoch(len(self.train_data), self.d.world_size, self.config.batch_size)
        except DataError as exc:
            raise ConfigError(str(exc)) from None

    def _train_stage(self, stage: str, state: TrainState | None) -> int:
        """Train one stage (from ``state`` when resuming); returns its number of steps."""
        total = self._stage_steps(stage)
        teacher = self._prepare_stage(stage, state)
        c = self.config
        net = wrap_ddp(self.model, self.d, find_unused=True)  # sampled paths leave parts unused in a step
        optimizer = make_optimizer(self.model, c.optimizer, c.lr, c.weight_decay)
        ema = ema_init(self.model) if c.ema_decay > 0 else None
        start = 0
        if state is not None:
            start = load_checkpoint(self.out / CHECKPOINT_NAME, self.space, self._unwrapped(), optimizer, ema).step
        self.log(f"stage {stage}: {total} steps of {c.batch_size} images x {self.d.world_size} process(es)")
        bar = Progress(f"stage {stage}", total, start, enabled=self.show_progress)
        batches = train_batches(self.train_data, self.d, batch_size=c.batch_size, seed=c.seed,
                                stream=_STAGE_IDS[stage], start=start, stop=total, augment=c.augment, workers=c.workers)
        self._t_last = time.perf_counter()
        for step, (x, y) in zip(range(start, total), batches):
            row = self._step(net, optimizer, teacher, stage, step, total, x, y)
            if ema is not None:
                ema_update(ema, self.model, c.ema_decay)
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
        return freeze(extract_child(stage_a, self.space.heaviest).to(memory_format=self.memory_format))

    def _finish_stage(self, stage: str) -> None:
        acc = self._evaluate()  # every rank evaluates its share
        if self.d.is_main:
            self.results.update({f"{stage}_stage_{k}": v for k, v in acc.items()})
            self.results.update(acc)
            self.metrics.write({"stage": stage, "eval": acc})
            self.log(f"stage {stage} done: " + ", ".join(f"{k} {v:.4f}" for k, v in acc.items()))
            if stage == "heaviest":
                save_supernet(self._unwrapped(), self.out / STAGE_A_NAME, {"config": self.config.to_dict()})
        self.d.barrier()

    # ----------------------------------------------------------------- one step
    def _step(self, net: torch.nn.Module, optimizer: torch.optim.Optimizer, teacher: torch.nn.Module | None,
              stage: str, step: int, total: int, x: torch.Tensor, y: torch.Tensor) -> dict[str, Any]:
        c, t0 = self.config, self._t_last
        seed = [c.seed, _STAGE_IDS[stage], step, self.d.rank]
        torch.manual_seed(int(np.random.default_rng(seed).integers(2**62)))  # dropout
        lr = cosine_lr(step, total, c.stage_lr(stage), c.warmup_steps)
        set_lr(optimizer, lr)
        with self.d.autocast():
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
        self._t_last = time.perf_counter()  # the step time includes waiting for the batch
        row["images_per_s"] = round(x.shape[0] * self.d.world_size / (self._t_last - t0), 1)
        return row

    # ----------------------------------------------------------------- helpers
    def _unwrapped(self) -> Supernet:
        return self.model

    def _checkpoint(self, optimizer: torch.optim.Optimizer, ema: dict | None, state: TrainState) -> None:
        if self.d.is_main:
            save_checkpoint(self.out / CHECKPOINT_NAME, self.space, self.model, optimizer, ema, state,
                            self._settings())
            self.metrics.flush_csv()
        self.d.barrier()

    @torch.no_grad()
    def _evaluate(self) -> dict[str, float]:
        """Test accuracy of the heaviest and the smallest path, each with its BN statistics re-estimated on
        ``bn_calibration_images`` training images (evaluation protocol); images are shared out over ranks, in
        batches of twice the training batch."""
        model, data, out, rt = self._unwrapped(), self.eval_data, {}, self.d
        n_cal = min(self.config.bn_calibration_images, len(self.train_data))
        calib = pick(self.train_data, n_cal)[rt.rank::rt.world_size]
        mine = np.arange(len(data))[rt.rank::rt.world_size]
        workers = self.config.workers
        bs = 2 * self.config.batch_size  # no gradients are kept: fits wherever a training step fits
        for name, arch in (("heaviest", self.space.heaviest), ("smallest", self.space.smallest)):
            net = model
            if n_cal:
                net = copy.deepcopy(model)
                recalibrate_bn(net, eval_batches(self.train_data, rt, calib, batch_size=bs, workers=workers),
                               len(calib), rt,
                               forward=lambda x, net=net, arch=arch: net(x, arch))
            counts = torch.zeros(2, dtype=torch.float64, device=rt.device)
            for logits, y in batched_logits(net, eval_batches(data, rt, mine, batch_size=bs, workers=workers), rt,
                                            arch):
                counts += torch.tensor([float((logits.argmax(1) == y).sum()), y.shape[0]], dtype=torch.float64,
                                       device=rt.device)
            rt.sum_(counts)
            out[f"{name}_acc"] = round(float(counts[0] / counts[1]), 4)
        model.train()
        model.set_active(self.space.heaviest)
        return out
