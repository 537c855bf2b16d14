"""The ``--verify K`` options shared by ``binas search``, ``binas pareto`` and ``binas autobuild``, and their
verifier."""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Callable, Optional, TypeVar

import typer

from binas.errors import BinasError

if TYPE_CHECKING:
    from binas.space import SearchSpace

__all__ = ["VerifyOptions", "candidate_json", "make_verifier", "with_verify_options"]

F = TypeVar("F", bound=Callable[..., Any])


def _option(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default, annotation=annotation)


# The options in the order of VerifyOptions' fields (which add the command's own --seed).
VERIFY_OPTIONS = (
    _option("verify", Annotated[int, typer.Option("--verify", help="Re-score the exact top-K networks (diversified, "
            "see --min-distance) with --verify-with or the supernet (--run/--supernet) and return the best verified "
            "one (0: off).")], 0),
    _option("verify_with", Annotated[Optional[Path], typer.Option("--verify-with", help="Predictor file (any kind "
            "'binas estimator fit' writes) used as the second opinion.")], None),
    _option("min_distance", Annotated[Optional[int], typer.Option("--min-distance", help="Top-K networks differ "
            "pairwise at this many block positions or more (default 2 with --verify, else 1).")], None),
    _option("run", Annotated[Optional[str], typer.Option("--run", help="Supernet training run: verify by one-shot "
            "accuracy with per-candidate BN recalibration.")], None),
    _option("supernet", Annotated[Optional[str], typer.Option("--supernet", help="Supernet .safetensors file "
            "(instead of --run).")], None),
    _option("data", Annotated[Optional[str], typer.Option("--data", help="Data set of the supernet (default: the "
            "run's config).")], None),
    _option("data_dir", Annotated[Optional[str], typer.Option("--data-dir", help="Where the data files are.")], None),
    _option("verify_images", Annotated[int, typer.Option("--verify-images", help="Held-out images, the same for "
            "every candidate.")], 2000),
    _option("calibration_images", Annotated[int, typer.Option("--calibration-images", help="Training images to "
            "recompute each candidate's BN statistics on (0: keep the supernet's).")], 500),
    _option("rounds", Annotated[int, typer.Option("--verify-rounds", help="Spend the K verifications in R rounds, "
            "refitting the estimator on --samples plus the networks verified so far between rounds (search "
            "only).")], 1),
)


@dataclass(frozen=True)
class VerifyOptions:
    """The parsed verification options of one command."""

    k: int
    verify_with: Path | None
    min_distance: int | None
    run: str | None
    supernet: str | None
    data: str | None
    data_dir: str | None
    images: int
    calibration_images: int
    rounds: int
    seed: int

    def __post_init__(self) -> None:
        if self.k < 0:
            raise BinasError(f"--verify must be 0 (off) or a number of networks, got {self.k}")
        judges = (self.verify_with is not None) + (self.run is not None or self.supernet is not None)
        if self.k and judges != 1:
            raise BinasError("--verify K needs exactly one second opinion: --verify-with PREDICTOR.json, or "
                             "--run RUN (or --supernet FILE) for a one-shot measurement")
        if not self.k and (judges or self.rounds != 1):
            raise BinasError("--verify-with / --run / --supernet / --verify-rounds are used only with --verify K")
        if self.k and not 1 <= self.rounds <= self.k:
            raise BinasError(f"--verify-rounds must be between 1 and --verify K ({self.k}), got {self.rounds}")

    @property
    def enabled(self) -> bool:
        return self.k > 0

    def single_round(self, command: str) -> None:
        """Refuse ``--verify-rounds`` in a command that verifies in one round only."""
        if self.rounds != 1:
            raise BinasError(f"--verify-rounds is for 'binas search' (with --samples); {command} verifies in one "
                             "round")

    def distance(self, k: int) -> int:
        """The one place the ``--min-distance`` default lives: 2 when verifying K > 1 networks (no one-block
        variants), else 1."""
        if self.min_distance is not None:
            return self.min_distance
        return 2 if k > 1 else 1


def with_verify_options(fn: F) -> F:
    """Add the ``--verify`` options to a command, just before its ``--json``; the command receives them as one
    ``opts: VerifyOptions`` argument (seeded by the command's own ``--seed``)."""
    signature = inspect.signature(fn, eval_str=True)
    own = [p for p in signature.parameters.values() if p.name != "opts"]
    at = [p.name for p in own].index("json_out")

    @functools.wraps(fn)
    def run(**kwargs: Any) -> Any:
        values = [kwargs.pop(p.name) for p in VERIFY_OPTIONS]
        return fn(**kwargs, opts=VerifyOptions(*values, seed=kwargs["seed"]))

    run.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*own[:at], *VERIFY_OPTIONS, *own[at:]])
    return run  # type: ignore[return-value]


def make_verifier(opts: VerifyOptions, space: SearchSpace) -> Any:
    """The verifier the options describe (a predictor file, or the supernet with its data)."""
    from binas.search.verify import PredictorVerifier

    if opts.verify_with is not None:
        from binas.estimator.store import load_predictor

        from binas.estimator.shrinkage import ensemble_spread_fn
        from binas.estimator.form import form_from_json
        from binas.artifacts import read_format

        pred = load_predictor(opts.verify_with, space)
        obj = read_format(opts.verify_with, "binas.estimator/1", "estimator file")
        spread = ensemble_spread_fn(form_from_json(obj, space), space) if "p_alpha" in obj else None
        return PredictorVerifier(pred.predict_archs, f"predictor {opts.verify_with}", spread)
    from binas.search.verify_supernet import load_supernet_verifier

    verifier = load_supernet_verifier(opts.run, opts.supernet, opts.data, opts.data_dir, images=opts.images,
                                      calibration_images=opts.calibration_images, seed=opts.seed)
    if verifier.net.space.space_hash != space.space_hash:
        raise BinasError(f"the supernet is for space {verifier.net.space.name!r}, not {space.name!r}")
    return verifier


def candidate_json(space: SearchSpace, cand: Any, units: dict[str, str], spread: float | None) -> dict[str, Any]:
    """One verified candidate as JSON (both opinions, uncertainty, resources with units)."""
    from binas.codec import arch_to_json

    return {"rank": cand.rank, "arch": arch_to_json(space, cand.architecture), "estimated": cand.estimated,
            "estimated_spread": spread, "verified": cand.verified, "verified_stderr": cand.verified_stderr,
            "resources": cand.resources, "units": units}
