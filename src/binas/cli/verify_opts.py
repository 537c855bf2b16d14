"""The ``--verify K`` options shared by ``binas search`` and ``binas pareto``, and their verifier."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from binas.errors import BinasError
from binas.space import SearchSpace

__all__ = ["VerifyOptions", "candidate_json", "make_verifier", "min_distance_for"]

VerifyOpt = Annotated[int, typer.Option("--verify", help="Re-score the exact top-K networks (diversified, see "
                      "--min-distance) with --verify-with or the supernet (--run/--supernet) and return the best "
                      "verified one (0: off).")]
VerifyWithOpt = Annotated[Optional[Path], typer.Option("--verify-with", help="Predictor file (any kind 'binas "
                          "estimator fit' writes) used as the second opinion.")]
MinDistanceOpt = Annotated[Optional[int], typer.Option("--min-distance", help="Top-K networks differ pairwise at "
                           "this many block positions or more (default 2 with --verify, else 1).")]
VerifyRunOpt = Annotated[Optional[str], typer.Option("--run", help="Supernet training run: verify by one-shot "
                         "accuracy with per-candidate BN recalibration.")]
VerifySupernetOpt = Annotated[Optional[str], typer.Option("--supernet", help="Supernet .safetensors file "
                              "(instead of --run).")]
VerifyDataOpt = Annotated[Optional[str], typer.Option("--data", help="Data set of the supernet (default: the "
                          "run's config).")]
VerifyDataDirOpt = Annotated[Optional[str], typer.Option("--data-dir", help="Where the data files are.")]
VerifyImagesOpt = Annotated[int, typer.Option("--verify-images", help="Held-out images, the same for every "
                            "candidate.")]
CalibrationOpt = Annotated[int, typer.Option("--calibration-images", help="Training images to recompute each "
                           "candidate's BN statistics on (0: keep the supernet's).")]

DEFAULT_VERIFY_IMAGES = 2000
DEFAULT_CALIBRATION_IMAGES = 500


def min_distance_for(min_distance: int | None, verify: int) -> int:
    """The one place the ``--min-distance`` default lives: 2 when verifying (no one-block variants), else 1."""
    if min_distance is not None:
        return min_distance
    return 2 if verify > 1 else 1


class VerifyOptions:
    """The parsed verification options of one command."""

    def __init__(self, k: int, verify_with: Path | None, run: str | None, supernet: str | None, data: str | None,
                 data_dir: str | None, images: int, calibration_images: int, seed: int) -> None:
        self.k, self.verify_with, self.run, self.supernet = k, verify_with, run, supernet
        self.data, self.data_dir, self.images, self.calibration_images = data, data_dir, images, calibration_images
        self.seed = seed
        if k < 0:
            raise BinasError(f"--verify must be 0 (off) or a number of networks, got {k}")
        judges = (verify_with is not None) + (run is not None or supernet is not None)
        if k and judges != 1:
            raise BinasError("--verify K needs exactly one second opinion: --verify-with PREDICTOR.json, or "
                             "--run RUN (or --supernet FILE) for a one-shot measurement")
        if not k and judges:
            raise BinasError("--verify-with / --run / --supernet are used only with --verify K")

    @property
    def enabled(self) -> bool:
        return self.k > 0


def make_verifier(opts: VerifyOptions, space: SearchSpace) -> Any:
    """The verifier the options describe (a predictor file, or the supernet with its data)."""
    from binas.search.verify import PredictorVerifier

    if opts.verify_with is not None:
        from binas.estimator.store import load_predictor

        from binas.estimator.shrinkage import ensemble_spread_fn
        from binas.estimator.form import form_from_json
        from binas.io import read_format

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
