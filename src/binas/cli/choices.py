"""The options that take one of a fixed set of values, as Enums: ``--help`` lists them, shell completion offers
them and Click refuses any other value as a usage error.

The values equal the library's own lists (a test compares them); they are spelled out here so that the
command line can show them without importing torch or SciPy.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["TIME_UNITS", "AnalyticResource", "Backend", "Clock", "Convention", "Device", "Method", "PredictorKind",
           "Sampling", "Solver", "Split", "Stage", "Statistic"]


def _choices(name: str, *values: str, doc: str) -> type[StrEnum]:
    """The StrEnum ``name`` of ``values``: each member is named like its value, with ``_`` for ``-``."""
    choices = StrEnum(name, [(value.replace("-", "_"), value) for value in values], module=__name__)
    choices.__doc__ = doc
    return choices


Solver = _choices("Solver", "milp", "bcfw", "bcfw-reference", "evolution", "random",
                  doc="``binas search --solver`` (``binas.search.SOLVERS``).")
Convention = _choices("Convention", "reference", "conditional",
                      doc="``binas estimator build --convention`` (``binas.estimator.contributions.CONVENTIONS``).")
Method = _choices("Method", "differences", "regression",
                  doc="``binas estimator build --method`` (``binas.estimator.pipeline.METHODS``).")
Split = _choices("Split", "heldout", "test",
                 doc="``binas estimator sample --split``.")
PredictorKind = _choices("PredictorKind", "linear", "bilinear", "quadratic", "mlp", "autobuild", "auto", "ensemble",
                         "stack",
                         doc="``binas estimator fit --kind`` (``binas.estimator.predictors.PREDICTORS``).")
Backend = _choices("Backend", "torch", "onnxruntime", "cuda",
                   doc="``binas lut measure --backend`` (``binas.lut.timing.BACKENDS``).")
Clock = _choices("Clock", "wall", "cpu",
                 doc="``binas lut measure --clock`` (``binas.lut.timing.CLOCKS``).")
Statistic = _choices("Statistic", "median", "min",
                     doc="``binas lut measure --statistic`` (``binas.lut.measure.STATISTICS``).")
AnalyticResource = _choices("AnalyticResource", "params", "macs",
                            doc="``binas lut compute --resource`` (``binas.space.cost.ANALYTIC_RESOURCES``).")
Stage = _choices("Stage", "heaviest", "supernet", "both",
                 doc="``binas supernet train --stage`` (``binas.supernet.train.config.STAGES``).")
Sampling = _choices("Sampling", "per-image", "per-batch",
                    doc="``binas supernet train --sampling`` (``binas.supernet.train.config.SAMPLING``).")
Device = _choices("Device", "auto", "cpu", "cuda",
                  doc="``--device`` of every command that computes on images (``binas.runtime.DEVICES``).")

TIME_UNITS = ("ms", "s", "us")  # ``binas lut import --unit`` of a latency (``binas.lut.onnx_blocks``)
