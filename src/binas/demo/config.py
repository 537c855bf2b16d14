"""The demo's settings (:class:`DemoConfig`), their validation, and the rule that a run continues only
with the settings it was started with (docs/demo.md)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from binas.deploy.finetune import FinetuneConfig
from binas.errors import BinasError
from binas.estimator.pipeline import METHODS
from binas.io import atomic_write_json, read_json
from binas.lut.measure import STATISTICS, MeasureSettings
from binas.lut.timing import CLOCKS
from binas.resume import check_same_settings, normalized
from binas.space import load_space
from binas.supernet.train.config import load_config

__all__ = ["SOURCE_FILE", "DemoConfig", "check_demo_config", "check_same_demo", "finetune_settings", "train_config"]

SOURCE_FILE = "source.json"  # in the supernet directory: which path made it


@dataclass
class DemoConfig:
    """What the demo runs; the defaults fit a quiet 2-core CPU in about 10 minutes (docs/demo.md)."""

    out: str = "runs/demo"  # run directory (every artifact goes here)
    space: str = "mobilenetv3-tiny"  # search space
    data: str = "fashion-mnist"  # data set
    data_dir: str | None = None  # where its files are
    train: bool = False  # True: train the supernet here ("train" path); False: the shipped one ("pretrained")
    pretrained: str | None = None  # a packed supernet file (None: the one shipped with binas)
    supernet: dict[str, Any] = field(default_factory=lambda: {  # supernet training of --train (binas.supernet.train.config)
        "heaviest_epochs": 0.3, "supernet_epochs": 0.15, "batch_size": 128, "optimizer": "adamw", "lr": 0.003,
        "weight_decay": 0.01, "warmup_steps": 20, "augment": False, "checkpoint_every": 50, "log_every": 10,
        "eval_images": 1000, "bn_calibration_images": 500})
    lut_repeats: int = 30  # timed rounds per LUT entry (PyTorch, 1 thread, batch 1)
    lut_calibration_networks: int = 12  # random whole networks timed to calibrate the LUT (0: no calibration)
    latency_clock: str = "cpu"  # cpu: the thread's CPU time (robust on a busy machine) | wall
    latency_statistic: str = "min"  # min: each entry's fastest round (steadiest on a shared VM, docs/lut.md) | median
    estimator_method: str = "regression"  # differences (the paper, with CRN) | regression (no CRN)
    estimator_images: int = 400  # held-out images per estimator measurement
    test_subnets: int = 80  # held-out random subnets that score the estimator (one-shot on test images)
    test_images: int = 1000  # test-split images per held-out subnet
    budget_quantiles: tuple[float, ...] = (0.2, 0.5, 0.8)  # budgets: these quantiles of the subnets' LUT latency
    verify_k: int = 8  # the exact top-K networks per budget, re-scored on the supernet (1: the estimator's argmax)
    verify_min_distance: int = 2  # the top-K differ pairwise in at least this many block positions
    verify_images: int = 1000  # held-out images (never test images) each candidate is scored on
    calibration_images: int = 500  # training images that recompute each candidate's BN statistics
    random_per_budget: int = 4  # random networks trained at each budget
    random_min_fraction: float = 0.9  # they use between this fraction and all of the budget (by the LUT)
    finetune_steps: int = 40  # the same training for every compared network: steps from inherited weights
    finetune_batch_size: int = 128  # images per step
    finetune_lr: float = 0.005  # peak learning rate of that training (SGD, cosine; docs/demo.md "The same training")
    eval_images: int | None = None  # test images per compared network (None: the whole test split)
    latency_repeats: int = 50  # interleaved timed rounds of the compared networks
    workers: int = 2  # processes that train the compared networks side by side (one thread each), and the
    # threads of the one-shot measurements (estimator, held-out subnets, verification)
    seed: int = 0


def train_config(cfg: DemoConfig, run: Path) -> Any:
    """The supernet training settings of the ``train`` path."""
    return load_config(None, space=cfg.space, data=cfg.data, data_dir=cfg.data_dir, out=str(run), seed=cfg.seed,
                       **cfg.supernet)


def finetune_settings(cfg: DemoConfig) -> dict[str, Any]:
    """The same training of every compared network (``binas.deploy.finetune.FinetuneConfig`` fields)."""
    return {"data": cfg.data, "data_dir": cfg.data_dir, "max_steps": cfg.finetune_steps, "augment": False,
            "batch_size": cfg.finetune_batch_size, "lr": cfg.finetune_lr, "seed": cfg.seed}


_COUNTS = ("lut_repeats", "estimator_images", "test_subnets", "test_images", "finetune_steps", "latency_repeats",
           "random_per_budget", "finetune_batch_size", "workers", "verify_k", "verify_min_distance",
           "verify_images")


def check_demo_config(cfg: DemoConfig) -> DemoConfig:
    """Validate every demo setting before any work (each stage's own checks included).

    Raises:
        BinasError: naming the first bad setting.
    """
    def whole(name: str, value: Any, least: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise BinasError(f"demo setting {name} must be a whole number >= {least}, got {value!r}")

    for name in _COUNTS:
        whole(name, getattr(cfg, name), 1)
    whole("seed", cfg.seed, 0)
    whole("calibration_images", cfg.calibration_images, 0)
    whole("lut_calibration_networks", cfg.lut_calibration_networks, 0)
    if cfg.lut_calibration_networks == 1:
        raise BinasError("demo setting lut_calibration_networks must be 0 (no calibration) or at least 2, got 1")
    if cfg.eval_images is not None:
        whole("eval_images", cfg.eval_images, 1)
    if not isinstance(cfg.supernet, dict):
        raise BinasError(f"demo setting supernet must be a mapping of training options, got {cfg.supernet!r}")
    if cfg.estimator_method not in METHODS:
        raise BinasError(f"demo setting estimator_method must be one of {list(METHODS)}, got {cfg.estimator_method!r}")
    q = cfg.budget_quantiles
    if not isinstance(q, (list, tuple)) or not 1 <= len(q) <= 10 or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < 1 for v in q):
        raise BinasError(f"demo setting budget_quantiles must list 1 to 10 numbers in (0, 1), got {q!r}")
    lr = cfg.finetune_lr
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr < float("inf"):
        raise BinasError(f"demo setting finetune_lr must be a positive number, got {lr!r}")
    frac = cfg.random_min_fraction
    if isinstance(frac, bool) or not isinstance(frac, (int, float)) or not 0 <= frac < 1:
        raise BinasError(f"demo setting random_min_fraction must be a number in [0, 1), got {frac!r}")
    if cfg.latency_clock not in CLOCKS:
        raise BinasError(f"demo setting latency_clock must be one of {sorted(CLOCKS)}, got {cfg.latency_clock!r}")
    if cfg.latency_statistic not in STATISTICS:
        raise BinasError(f"demo setting latency_statistic must be one of {list(STATISTICS)}, "
                         f"got {cfg.latency_statistic!r}")
    if not isinstance(cfg.train, bool):
        raise BinasError(f"demo setting train must be true or false, got {cfg.train!r}")
    for name in ("out", "space", "data"):
        if not isinstance(getattr(cfg, name), str) or not getattr(cfg, name):
            raise BinasError(f"demo setting {name} must be a non-empty string, got {getattr(cfg, name)!r}")
    load_space(cfg.space)
    train_config(cfg, Path(cfg.out) / "supernet")
    FinetuneConfig(**finetune_settings(cfg)).validate()
    MeasureSettings(backend="torch", threads=1, batch_size=1, repeats=cfg.lut_repeats, seed=cfg.seed,
                    clock=cfg.latency_clock).check()
    return cfg


def check_same_demo(cfg: DemoConfig, out: Path) -> None:
    """A demo continues only with the settings it was started with (recorded in ``demo_config.json``).

    Until its supernet step has finished nothing depends on them yet, so a demo whose first step failed
    (say, a mistyped ``--pretrained``) starts again with the new settings.
    """
    path = out / "demo_config.json"
    settings = {k: v for k, v in asdict(cfg).items() if k not in ("out", "workers")}
    if path.is_file() and (out / "supernet" / SOURCE_FILE).is_file():
        saved = read_json(path, "demo settings")
        check_same_settings(saved if isinstance(saved, dict) else {}, settings, f"the demo in {out}")
    else:
        atomic_write_json(path, normalized(settings))
