"""The options that take one of a fixed set of values, as Enums: ``--help`` lists them, shell completion offers
them and Click refuses any other value as a usage error.

The values equal the library's own lists (a test compares them); they are spelled out here so that the
command line can show them without importing torch or SciPy.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["TIME_UNITS", "AnalyticResource", "Backend", "Clock", "Convention", "Device", "Method", "PredictorKind",
           "Sampling", "Solver", "Split", "Stage"]


class Solver(StrEnum):
    """``binas search --solver`` (``binas.search.SOLVERS``)."""

    milp = "milp"
    bcfw = "bcfw"
    bcfw_reference = "bcfw-reference"
    evolution = "evolution"
    random = "random"


class Convention(StrEnum):
    """``binas estimator build --convention`` (``binas.estimator.contributions.CONVENTIONS``)."""

    reference = "reference"
    conditional = "conditional"


class Method(StrEnum):
    """``binas estimator build --method`` (``binas.estimator.pipeline.METHODS``)."""

    differences = "differences"
    regression = "regression"


class Split(StrEnum):
    """``binas estimator sample --split``."""

    heldout = "heldout"
    test = "test"


class PredictorKind(StrEnum):
    """``binas estimator fit --kind`` (``binas.estimator.predictors.PREDICTORS``)."""

    linear = "linear"
    bilinear = "bilinear"
    quadratic = "quadratic"
    mlp = "mlp"
    autobuild = "autobuild"
    auto = "auto"
    ensemble = "ensemble"


class Backend(StrEnum):
    """``binas lut measure --backend`` (``binas.resources.timing.BACKENDS``)."""

    torch = "torch"
    onnxruntime = "onnxruntime"
    cuda = "cuda"


class Clock(StrEnum):
    """``binas lut measure --clock`` (``binas.resources.timing.CLOCKS``)."""

    wall = "wall"
    cpu = "cpu"


class AnalyticResource(StrEnum):
    """``binas lut compute --resource`` (``binas.resources.analytic.ANALYTIC_RESOURCES``)."""

    params = "params"
    macs = "macs"


class Stage(StrEnum):
    """``binas supernet train --stage`` (``binas.train.config.STAGES``)."""

    heaviest = "heaviest"
    supernet = "supernet"
    both = "both"


class Sampling(StrEnum):
    """``binas supernet train --sampling`` (``binas.train.config.SAMPLING``)."""

    per_image = "per-image"
    per_batch = "per-batch"


class Device(StrEnum):
    """``--device`` of every command that computes on images (``binas.runtime.DEVICES``)."""

    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


TIME_UNITS = ("ms", "s", "us")  # ``binas lut import --unit`` of a latency (``binas.resources.onnx_blocks``)
