"""Training configuration: one dataclass, loaded from YAML and CLI options in one place."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from binas.errors import BinasError, ConfigError, FileFormatError
from binas.io import load_yaml, read_text

__all__ = ["STAGES", "TrainConfig", "check_finite_fields", "load_config", "load_dataclass", "resolve_data",
           "run_data"]

STAGES = ("heaviest", "supernet", "both")
SAMPLING = ("per-image", "per-batch")
OPTIMIZERS = ("sgd", "adamw")


@dataclass
class TrainConfig:
    """Everything that defines a supernet training run (stage A: heaviest; stage B: supernet + KD)."""

    space: str = "mobilenetv3-tiny"  # built-in space name or YAML file
    data: str = "fashion-mnist"  # fashion-mnist | cifar10 | imagefolder | synthetic | a directory
    data_dir: str | None = None  # where the data files are (searched first)
    out: str = "runs/supernet"  # run directory
    stage: str = "both"  # heaviest (A) | supernet (B) | both (A then B)
    epochs: float = 3.0  # epochs per stage (fractions allowed)
    heaviest_epochs: float | None = None  # stage A epochs (None: `epochs`)
    supernet_epochs: float | None = None  # stage B epochs (None: `epochs`)
    max_steps: int | None = None  # cap on optimizer steps per stage (None: no cap)
    train_subset: int | None = None  # use only this many training images (deterministic; None: all)
    batch_size: int = 128  # images per optimizer step per process
    optimizer: str = "sgd"  # sgd (Nesterov momentum 0.9) | adamw
    lr: float = 0.1  # peak learning rate (scaled by nothing; set it for your global batch)
    supernet_lr: float | None = None  # stage B peak learning rate (None: `lr`)
    weight_decay: float = 4e-5  # on conv/linear weights only (not BN, not biases)
    warmup_steps: int = 50  # linear warm-up steps, then cosine decay to 0 (per stage)
    label_smoothing: float = 0.1  # for the cross-entropy term
    ema_decay: float = 0.0  # exponential moving average of the weights (0 = off); final weights = EMA
    sampling: str = "per-image"  # stage B sampling: per-image (multipath) | per-batch
    kd_weight: float = 1.0  # stage B: weight of KL(teacher || student) on logits
    kd_temperature: float = 1.0  # softmax temperature of the KL term
    feature_weight: float = 0.02  # stage B: weight of the MSE on every stage output (1/50, the reference)
    augment: bool = True  # random crop (pad 2) and horizontal flip
    seed: int = 0  # seeds data order, sampling, augmentation and initialisation
    checkpoint_every: int = 200  # write the resumable checkpoint every N steps (and at stage ends)
    log_every: int = 20  # write a metrics row every N steps
    eval_images: int | None = 2000  # test images for the end-of-stage accuracies (None: all)
    bn_calibration_images: int = 2000  # training images to recompute BN statistics per evaluated path (0: off)
    warm_start: bool = True  # stage B: start smaller kernels / BN3s from the largest choice's trained weights
    amp: bool = True  # bfloat16 autocast on CUDA (ignored on CPU)
    channels_last: bool = True  # NHWC memory format (about 1.5-2x faster convolutions on CPU)
    device: str = "auto"  # auto (CUDA when available) | cpu | cuda
    workers: int | None = None  # loader worker processes for image folders (None: CPUs per local rank, <= 8)

    def stage_epochs(self, stage: str) -> float:
        """Epochs of stage ``heaviest`` or ``supernet``."""
        value = self.heaviest_epochs if stage == "heaviest" else self.supernet_epochs
        return self.epochs if value is None else value

    def stage_lr(self, stage: str) -> float:
        """Peak learning rate of stage ``heaviest`` or ``supernet``."""
        return self.supernet_lr if stage == "supernet" and self.supernet_lr is not None else self.lr

    def validate(self) -> "TrainConfig":
        """Check every field; raise :class:`ConfigError` naming the first bad one."""
        _one_of("stage", self.stage, STAGES)
        _one_of("sampling", self.sampling, SAMPLING)
        _one_of("optimizer", self.optimizer, OPTIMIZERS)
        _one_of("device", self.device, ("auto", "cpu", "cuda"))
        if self.workers is not None and self.workers < 0:
            raise ConfigError(f"workers must be >= 0, got {self.workers}")
        check_finite_fields(self, ConfigError)
        for name in ("epochs", "heaviest_epochs", "supernet_epochs"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ConfigError(f"{name} must be > 0, got {value}")
        for name in ("batch_size", "checkpoint_every", "log_every", "max_steps", "train_subset", "eval_images"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"{name} must be >= 1, got {value}")
        if self.bn_calibration_images < 0:
            raise ConfigError(f"bn_calibration_images must be >= 0, got {self.bn_calibration_images}")
        if not self.lr > 0 or not self.weight_decay >= 0 or self.warmup_steps < 0:
            raise ConfigError("lr must be > 0, weight_decay and warmup_steps >= 0")
        if self.supernet_lr is not None and not self.supernet_lr > 0:
            raise ConfigError(f"supernet_lr must be > 0, got {self.supernet_lr}")
        if not 0 <= self.label_smoothing < 1 or not 0 <= self.ema_decay < 1:
            raise ConfigError("label_smoothing and ema_decay must be in [0, 1)")
        if not self.kd_weight >= 0 or not self.feature_weight >= 0 or not self.kd_temperature > 0:
            raise ConfigError("kd_weight and feature_weight must be >= 0 and kd_temperature > 0")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_finite_fields(config: Any, error: type[BinasError]) -> None:
    """Refuse NaN or infinite values in any float field of a config dataclass, naming the field."""
    for f in fields(config):
        value = getattr(config, f.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise error(f"{f.name} must be a finite number, got {value}")


def _one_of(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {list(allowed)}, got {value!r}")


def load_config(path: str | Path | None = None, **overrides: Any) -> TrainConfig:
    """Defaults <- YAML file (if any) <- ``overrides`` whose value is not None; validated.

    Raises:
        ConfigError: unreadable YAML, unknown keys or invalid values.
    """
    return load_dataclass(TrainConfig, path, "training", **overrides)


def load_dataclass(cls: Any, path: str | Path | None, what: str, **overrides: Any) -> Any:
    """An instance of the config dataclass ``cls``: defaults <- YAML ``path`` <- non-None ``overrides``;
    validated with its ``validate()``. ``what`` names the config in messages."""
    values: dict[str, Any] = {}
    if path is not None:
        try:
            data = load_yaml(read_text(path, f"{what} config"), f"{what} config {path}") or {}
        except FileFormatError as exc:
            raise ConfigError(str(exc)) from None
        if not isinstance(data, dict):
            raise ConfigError(f"{what} config {path} must be a mapping of option: value")
        values.update(data)
    values.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"unknown {what} option(s) {unknown} (known: {sorted(known)})")
    try:
        config = cls(**{k: _coerce(known[k].type, v, k) for k, v in values.items()})
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid {what} config: {exc}") from None
    return config.validate()


def _coerce(type_name: Any, value: Any, key: str) -> Any:
    """Convert YAML/CLI scalars to the field's declared type (annotations are strings here)."""
    text = str(type_name)
    if value is None:
        if "None" not in text:
            raise ValueError(f"{key} may not be null")
        return None
    if text.startswith("bool"):
        if not isinstance(value, bool):
            raise ValueError(f"{key} must be true or false")
        return value
    if text.startswith("int"):
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError(f"{key} must be an integer")
        return int(value)
    if text.startswith("float"):
        if isinstance(value, bool):
            raise ValueError(f"{key} must be a number")
        return float(value)
    return str(value)


def run_data(run: str | Path) -> tuple[str | None, str | None]:
    """``(data, data_dir)`` named in a run directory's ``config.yaml`` (or ``config.json``); Nones if absent.

    ``run`` may also be a weights file inside a run directory.
    """
    run = Path(run)
    folder = run if run.is_dir() else run.parent
    for name in ("config.yaml", "config.json"):
        path = folder / name
        if path.is_file():
            try:
                obj = load_yaml(read_text(path, "run config"), f"run config {path}")
            except FileFormatError:
                raise ConfigError(f"cannot read the run config {path}; pass --data") from None
            if not isinstance(obj, dict):
                return None, None
            found = obj.get("data")
            found = found.get("name") if isinstance(found, dict) else found
            return (str(found) if found else None), obj.get("data_dir")
    return None, None


def resolve_data(data: str | None, data_dir: str | None, run: str | Path | None) -> tuple[str, str | None]:
    """The data a stage reads: ``--data``/``--data-dir`` when given, else what the supernet run was trained on.

    Raises:
        ConfigError: no data given and none found in the run.
    """
    if data is None and run is not None:
        data, found_dir = run_data(run)
        data_dir = data_dir if data_dir is not None else found_dir
    if not data:
        raise ConfigError("say which data set to use with --data (e.g. fashion-mnist, or imagefolder with "
                          "--data-dir); it could not be read from the supernet run")
    return data, data_dir
