"""Seeded synthetic LUTs and estimators for tests and benchmarks (no supernet, no device needed).

The latency LUT is derived from the exact analytic MACs/params of each block plus per-layer and
SE overheads and log-normal noise, so its ranking looks like a measured CPU table. The
``contributions`` estimator gives larger blocks and deeper stages more accuracy with diminishing,
noisy returns, in the exact form of the contributions estimator (docs/estimator.md).
"""

from __future__ import annotations

import datetime as _dt

import numpy as np

from binas.estimator.form import BilinearForm
from binas.lut.table import RESOURCE_UNITS, Lut, lut_key
from binas.search.problem import block_form
from binas.space import SearchSpace
from binas.space.cost import block_cost, fixed_cost

__all__ = ["random_bilinear", "synthetic_contributions", "synthetic_lut"]


def synthetic_lut(space: SearchSpace, rng: np.random.Generator, *, resource: str = "latency",
                  ms_per_mmac: float = 0.12, noise: float = 0.08) -> Lut:
    """A plausible CPU latency LUT (ms): MACs x speed + per-layer / SE overheads, seeded noise."""
    blocks = {}
    for s, stage in enumerate(space.stages):
        for j, choices in enumerate(stage.positions):
            row = {}
            for choice in choices:
                spec = space.position_spec(s, j, choice)
                macs = block_cost(spec)["macs"] / 1e6
                base = 0.02 + ms_per_mmac * macs + (0.04 if choice.se else 0.0) + 0.002 * spec.kernel_size
                row[choice.id] = float(base * rng.lognormal(0.0, noise))
            blocks[lut_key(s, j)] = row
    fixed = 0.5 + ms_per_mmac * fixed_cost(space)["macs"] / 1e6
    meta = {"backend": "synthetic", "date": _dt.date.today().isoformat(), "batch_size": 1,
            "resolution": space.input_size, "note": "seeded synthetic table for tests/benchmarks"}
    return Lut(space.name, space.space_hash, resource, RESOURCE_UNITS.get(resource, "ms"), float(fixed),
               blocks, meta)


def synthetic_contributions(space: SearchSpace, rng: np.random.Generator, *, a0: float = 55.0,
                            noise: float = 0.2) -> BilinearForm:
    """A ``contributions`` estimator (docs/estimator.md, accuracy in %) with realistic trends."""
    t = np.zeros(space.num_alpha)
    p_beta = np.zeros(space.num_beta)
    n_stages = len(space.stages)
    for s, stage in enumerate(space.stages):
        weight = 0.4 * (1.0 + s / max(n_stages - 1, 1))  # later stages pay a little more
        for k, d in enumerate(stage.depths):
            p_beta[space.beta_offsets[s] + k] = weight * 2.0 * np.log1p(d - stage.min_depth) + rng.normal(0, noise)
        for j, choices in enumerate(stage.positions):
            macs = np.array([block_cost(space.position_spec(s, j, c))["macs"] + 1.0 for c in choices])
            gain = weight * np.log(macs / macs.min()) / (1.0 + 0.3 * j)
            gain += np.array([0.2 if c.se else 0.0 for c in choices])
            t[space.alpha_offsets[s][j] + np.arange(len(choices))] = gain + rng.normal(0.0, noise, size=len(choices))
    p_alpha, q = block_form(space, t)  # cumulative depth semantics: optional positions go to Q
    extra = {"convention": "conditional", "note": "synthetic, seeded"}
    return BilinearForm(space.name, space.space_hash, "contributions", a0, p_alpha, p_beta, q, extra)


def random_bilinear(space: SearchSpace, rng: np.random.Generator, *, density: float = 0.3,
                    scale: float = 0.01) -> BilinearForm:
    """A general fitted-style bilinear form: random p and a sparse Q coupling any alpha with any beta."""
    p_alpha = rng.normal(0.0, scale, space.num_alpha)
    p_beta = rng.normal(0.0, scale, space.num_beta)
    mask = rng.random((space.num_alpha, space.num_beta)) < density
    q = np.where(mask, rng.normal(0.0, scale, (space.num_alpha, space.num_beta)), 0.0)
    return BilinearForm(space.name, space.space_hash, "bilinear", 0.5, p_alpha, p_beta, q, {})
