"""Running the contribution measurements on a supernet: per-image subnets, common random numbers,
persistence after every measurement (resume after a kill) and ``torchrun`` sharding.

Randomness: with common random numbers (CRN) every measurement uses the same ``images`` held-out
images and the same per-image context (the random values of all undecided decisions), drawn once
from ``seed``; measurements then differ only in the decisions they fix, so their differences are
paired. Without CRN measurement ``k`` draws its own images and contexts from ``(seed, k)``. Either
way a measurement's result depends only on the seed, its index, the weights and the data, never on
the order of evaluation, which is what makes resuming and sharding exact.
"""

from __future__ import annotations

import base64
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from binas.errors import DataError, FileFormatError
from binas.estimator.contributions import Measurement, codes_for_contexts, measurement_plan, sample_contexts
from binas.io import atomic_write_json, read_json
from binas.inference import batched_logits
from binas.loaders import image_batches
from binas.resume import changed_settings, refusal
from binas.runtime import Runtime
from binas.space import SearchSpace

__all__ = ["PARTIAL_FORMAT", "BuildConfig", "evaluate_codes", "image_outcomes", "measure_contributions",
           "measurement_inputs", "pack_outcomes", "partial_path", "rank_world", "unpack_outcomes"]

PARTIAL_FORMAT = "binas.estimator-partial/1"


@dataclass(frozen=True)
class BuildConfig:
    """Settings of one estimator build (all stored in the partial file and compared on resume)."""

    images: int = 500  # held-out images per measurement
    crn: bool = True  # common random numbers across measurements
    seed: int = 0  # source of image subsets and per-image contexts
    batch_size: int = 2000  # images per forward pass (does not change results; larger per-choice groups run faster)


def partial_path(out: str | Path, rank: int = 0, world: int = 1) -> Path:
    """The sidecar holding finished measurements of a build writing ``out`` (one per rank when sharded)."""
    out = Path(out)
    suffix = f".rank{rank}of{world}" if world > 1 else ""
    return out.with_name(out.name + f"{suffix}.partial.json")


def measurement_inputs(space: SearchSpace, index: int, m: Measurement, available: int,
                       cfg: BuildConfig) -> tuple[np.ndarray, np.ndarray]:
    """``(image indices, codes)`` of measurement number ``index`` (see the module docstring)."""
    if cfg.images < 2 or cfg.images > available:
        raise DataError(f"--images must be between 2 and the {available} held-out images, got {cfg.images}")
    rng = np.random.default_rng([cfg.seed] if cfg.crn else [cfg.seed, index])
    idx = rng.permutation(available)[: cfg.images]
    return idx, codes_for_contexts(space, m, sample_contexts(space, cfg.images, rng))


def _batched_logits(net: torch.nn.Module, x: Any, codes: np.ndarray, batch_size: int, rt: Runtime | None = None):
    """``(start, logits)`` of ``net`` (eval mode) per batch, image i routed through ``codes[i]``.

    ``x``: normalised images on the model's device, or :class:`~binas.loaders.LazyImages` (decoded on demand).
    """
    start = 0
    for logits, _ in batched_logits(net, ((b, None) for b in image_batches(x, batch_size)), rt, codes):
        yield start, logits
        start += logits.shape[0]


@torch.no_grad()
def evaluate_codes(net: torch.nn.Module, x: Any, y: torch.Tensor, codes: np.ndarray,
                   batch_size: int = 256, rt: Runtime | None = None) -> np.ndarray:
    """Per-image top-1 correctness (bool array) of ``net`` with image i routed through ``codes[i]``."""
    return np.concatenate([(logits.argmax(dim=1).cpu() == y[s:s + logits.shape[0]].cpu()).numpy()
                           for s, logits in _batched_logits(net, x, codes, batch_size, rt)])


@torch.no_grad()
def image_outcomes(net: torch.nn.Module, x: Any, y: torch.Tensor, codes: np.ndarray,
                   batch_size: int = 256, rt: Runtime | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(correct, p_true)`` per image: top-1 correctness (bool) and the softmax probability of the
    true class (float32), for analyses that need both (:func:`evaluate_codes` skips the softmax)."""
    correct, p_true = [], []
    for s, logits in _batched_logits(net, x, codes, batch_size, rt):
        labels = y[s:s + logits.shape[0]].to(logits.device)
        correct.append((logits.argmax(dim=1) == labels).cpu().numpy())
        p_true.append(torch.softmax(logits.float(), dim=1).gather(1, labels[:, None])[:, 0].cpu().numpy())
    return np.concatenate(correct), np.concatenate(p_true)


def pack_outcomes(correct: np.ndarray) -> str:
    """Per-image 0/1 outcomes as base64 of their packed bits (what the partial file keeps)."""
    return base64.b64encode(np.packbits(np.asarray(correct, dtype=bool)).tobytes()).decode("ascii")


def unpack_outcomes(text: str, n: int) -> np.ndarray:
    """Inverse of :func:`pack_outcomes` for ``n`` images."""
    try:
        bits = np.unpackbits(np.frombuffer(base64.b64decode(text, validate=True), dtype=np.uint8))
    except (ValueError, TypeError):
        raise FileFormatError("a partial estimator build holds corrupt per-image outcomes") from None
    if bits.size < n:
        raise FileFormatError("a partial estimator build holds truncated per-image outcomes")
    return bits[:n].astype(bool)


def _load_partial(path: Path, config: dict[str, Any], resume: bool) -> dict[str, list[Any]]:
    if not path.exists():
        return {}
    if not resume:
        raise DataError(f"a partial build exists at {path}; pass --resume to continue it or delete it")
    obj = read_json(path, "partial estimator build")
    if not isinstance(obj, dict) or obj.get("format") != PARTIAL_FORMAT or not isinstance(obj.get("results"), dict):
        raise FileFormatError(f"{path} is not a partial estimator build ({PARTIAL_FORMAT})")
    diff = changed_settings(obj.get("config") if isinstance(obj.get("config"), dict) else {}, config)
    if diff:
        raise DataError(refusal(f"the estimator build in {path} (or delete it)", diff))
    return obj["results"]


def rank_world() -> tuple[int, int]:
    """This process's rank and the world size (1 unless a runtime joined a ``torchrun`` group)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _chunks(pending: list[tuple[int, Measurement]], cfg: BuildConfig) -> list[list[tuple[int, Measurement]]]:
    """Measurements grouped so that one forward pass holds up to ``batch_size`` images (at least one
    measurement each): every measurement routes each image on its own, so evaluating several together
    gives the same per-image outcomes with larger per-choice groups (faster on a CPU)."""
    per = max(1, cfg.batch_size // cfg.images)
    return [pending[i:i + per] for i in range(0, len(pending), per)]


def measure_contributions(
    net: torch.nn.Module, space: SearchSpace, x: Any, y: torch.Tensor, cfg: BuildConfig,
    out: str | Path, *, resume: bool = False, meta: dict[str, Any] | None = None,
    on_measured: Callable[[int, int], None] | None = None, rt: Runtime | None = None,
) -> tuple[dict[str, float], dict[str, float], dict[str, np.ndarray]]:
    """Run (or finish) every measurement of :func:`measurement_plan` on held-out ``x, y``.

    Args:
        net: the supernet; ``net(x, codes)`` gives logits with image i routed through ``codes[i]``.
        x, y: held-out images (N, C, H, W; a tensor on the model's device or
            :class:`~binas.loaders.LazyImages`) and labels (N,).
        out: the estimator file the build will write; finished measurements go to its partial sidecar.
        resume: continue from the sidecar (its settings must match), else refuse to overwrite it.
        meta: extra settings that must match on resume (data set, supernet fingerprint...).
        on_measured: called as ``on_measured(done, total)`` after each measurement of this rank.
        rt: the runtime (autocast; under ``torchrun`` rank ``r`` of ``w`` runs measurements ``k % w == r``
            on its own device, and the results are gathered on every rank).

    Returns:
        ``(accuracy %, standard error %, per-image correctness)`` keyed by measurement key, all
        measurements (every rank); the correctness arrays follow :func:`measurement_inputs`' order.
    """
    if rt is None:
        rank, world = rank_world()
        rt = Runtime(rank=rank, world_size=world)
    rank, world = rt.rank, rt.world_size
    config = {"space_hash": space.space_hash, **asdict(cfg), "world": world, **(meta or {})}
    config.pop("batch_size")
    path = partial_path(out, rank, world)
    results = _load_partial(path, config, resume)
    mine = [(k, m) for k, m in enumerate(measurement_plan(space)) if k % world == rank]
    done = sum(m.key in results for _, m in mine)
    if on_measured is not None and done:
        on_measured(done, len(mine))
    for chunk in _chunks([(k, m) for k, m in mine if m.key not in results], cfg):
        inputs = [measurement_inputs(space, k, m, x.shape[0], cfg) for k, m in chunk]
        t = torch.from_numpy(np.concatenate([idx for idx, _ in inputs]))
        ok_all = evaluate_codes(net, x.index_select(0, t), y.index_select(0, t),
                                np.concatenate([codes for _, codes in inputs]), cfg.batch_size, rt)
        for (_, m), ok in zip(chunk, np.split(ok_all, len(chunk))):
            se = float(ok.std(ddof=1) / np.sqrt(ok.size)) * 100.0
            results[m.key] = [float(ok.mean()) * 100.0, se, pack_outcomes(ok)]
        atomic_write_json(path, {"format": PARTIAL_FORMAT, "config": config, "results": results})
        done += len(chunk)
        if on_measured is not None:
            on_measured(done, len(mine))
    merged = {k: v for part in rt.gather_objects(results) for k, v in part.items()}
    if any(not isinstance(v, list) or len(v) != 3 for v in merged.values()):
        raise FileFormatError(f"{path} holds malformed measurements; delete it and build again")
    return ({k: v[0] for k, v in merged.items()}, {k: v[1] for k, v in merged.items()},
            {k: unpack_outcomes(v[2], cfg.images) for k, v in merged.items()})
