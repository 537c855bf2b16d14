"""Interpretation of a bilinear accuracy estimator (docs/estimator.md): which decisions buy accuracy where.

Pure functions turn a :class:`~binas.estimator.form.BilinearForm` (and optionally a LUT) into
per-decision numbers; :mod:`binas.insights.report` draws and writes them.

- ``choice_values[s][j][c]``: the accuracy (points) that choice c adds at stage s, position j when
  the block is present. For the contributions estimator this is exactly Da_{s,j,c}; for any other
  bilinear form it is ``p_alpha + mean over the depths at which the block is present of Q``.
- ``depth_values[s][d]``: Db_{s,d} (= ``p_beta``), the value of stage depth d itself.
- ``gain_per_unit``: for each choice, (value - value of the cheapest choice) / (cost difference):
  accuracy bought per unit of resource, relative to the cheapest option at that position.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from binas.estimator.form import BilinearForm
from binas.lut.table import Lut
from binas.space import SearchSpace
from binas.space.encoding import present_betas

__all__ = ["MIN_COST_STEP", "Insights", "compute_insights", "summarise"]

MIN_COST_STEP = 0.05  # relative cost difference below which gain-per-unit ratios are noise


@dataclass(frozen=True)
class Insights:
    """Per-decision numbers of one estimator (and one LUT), indexed [stage][position][choice]."""

    space: SearchSpace
    choice_values: list[list[np.ndarray]]
    depth_values: list[np.ndarray]
    costs: list[list[np.ndarray]] | None
    resource: str | None
    unit: str | None

    def gain_per_unit(self, s: int, j: int) -> np.ndarray:
        """Accuracy per resource unit of each choice vs the cheapest at (s, j); NaN where the cost step is
        below :data:`MIN_COST_STEP` of the cheapest choice's cost (the cheapest itself included)."""
        if self.costs is None:
            raise ValueError("gain per unit needs a LUT")
        v, t = self.choice_values[s][j], self.costs[s][j]
        cheapest = int(np.argmin(t))
        dt = t - t[cheapest]
        # a cost step below 5% of the cheapest choice is within measurement noise: no meaningful ratio
        meaningful = dt > max(MIN_COST_STEP * t[cheapest], 1e-12)
        return np.where(meaningful, (v - v[cheapest]) / np.where(meaningful, dt, 1.0), np.nan)


def compute_insights(space: SearchSpace, form: BilinearForm, lut: Lut | None = None) -> Insights:
    """Per-decision values of ``form`` (and costs from ``lut``) for ``space``."""
    form.check_space(space)
    values, depth_values, costs = [], [], []
    t = lut.alpha_vector(space) if lut is not None else None
    for s, stage in enumerate(space.stages):
        betas = [space.beta_index(s, d) for d in stage.depths]
        stage_values, stage_costs = [], []
        for j, choices in enumerate(stage.positions):
            rows = np.arange(space.alpha_offsets[s][j], space.alpha_offsets[s][j] + len(choices))
            present = present_betas(space, s, j)
            q = form.Q[np.ix_(rows, present)].mean(axis=1) if present else 0.0
            stage_values.append(form.p_alpha[rows] + q)
            if t is not None:
                stage_costs.append(t[rows])
        values.append(stage_values)
        costs.append(stage_costs)
        depth_values.append(form.p_beta[betas])
    return Insights(space, values, depth_values, costs if lut is not None else None,
                    lut.resource if lut else None, lut.unit if lut else None)


def _mean_gain(ins: Insights, s: int, j: int, attr: str) -> float | None:
    """Mean value difference between the largest and smallest setting of one choice attribute."""
    choices = ins.space.stages[s].positions[j]
    values = ins.choice_values[s][j]
    levels = sorted({getattr(c, attr) for c in choices if not c.is_skip})
    if len(levels) < 2:
        return None
    lo = [v for c, v in zip(choices, values) if not c.is_skip and getattr(c, attr) == levels[0]]
    hi = [v for c, v in zip(choices, values) if not c.is_skip and getattr(c, attr) == levels[-1]]
    return float(np.mean(hi) - np.mean(lo))


def _per_stage(ins: Insights, attr: str) -> list[list[float | None]]:
    return [[_mean_gain(ins, s, j, attr) for j in range(st.num_positions)] for s, st in enumerate(ins.space.stages)]


def _best(values: list[float], labels: list[str]) -> str:
    return labels[int(np.argmax(values))]


def summarise(ins: Insights) -> list[str]:
    """A short text summary judged from the numbers (the paper's headline questions)."""
    space = ins.space
    stage_labels = [f"stage {s + 1}" for s in range(len(space.stages))]
    lines = []
    depth_gain = [float(dv[-1] - dv[0]) for dv in ins.depth_values]
    lines.append(
        f"Depth: going from the shallowest to the deepest option adds "
        + ", ".join(f"{g:+.2f}" for g in depth_gain)
        + f" points in stages 1..{len(space.stages)}; it pays most in {_best(depth_gain, stage_labels)}."
    )
    for attr, word in (("expand_ratio", "Width (largest vs smallest expansion)"),
                       ("kernel_size", "Kernel size (largest vs smallest)"), ("se", "Squeeze-excite (on vs off)")):
        table = _per_stage(ins, attr)
        stage_means = [float(np.mean([g for g in row if g is not None])) if any(g is not None for g in row)
                       else float("nan") for row in table]
        if all(np.isnan(stage_means)):
            continue
        finite = [m if not np.isnan(m) else -np.inf for m in stage_means]
        lines.append(f"{word}: " + ", ".join("n/a" if np.isnan(m) else f"{m:+.2f}" for m in stage_means)
                     + f" points per block by stage; it pays most in {_best(finite, stage_labels)}.")
        if attr == "expand_ratio":
            first = [row[0] for s, row in enumerate(table) if space.stages[s].stride > 1 and row[0] is not None]
            rest = [g for s, row in enumerate(table) if space.stages[s].stride > 1 for g in row[1:] if g is not None]
            if first and rest:
                verdict = "more" if np.mean(first) > np.mean(rest) else "less"
                lines.append(
                    f"At the start of a resolution stage (first block of a stride-2 stage), width pays {verdict} "
                    f"({np.mean(first):+.2f} points) than in the following blocks ({np.mean(rest):+.2f})."
                )
    late, early = depth_gain[len(depth_gain) // 2:], depth_gain[: len(depth_gain) // 2]
    if early and late:
        lines.append(f"Depth pays {'more' if np.mean(late) > np.mean(early) else 'less'} in the later stages "
                     f"({np.mean(late):+.2f} vs {np.mean(early):+.2f} points on average).")
    if ins.costs is not None:
        best = []
        for s, st in enumerate(space.stages):
            for j, choices in enumerate(st.positions):
                gains = ins.gain_per_unit(s, j)
                for c, g in enumerate(gains):
                    if np.isfinite(g) and g > 0:
                        best.append((g, s, j, choices[c].id))
        best.sort(reverse=True)
        if best:
            top = "; ".join(f"{cid} at stage {s + 1} position {j + 1} ({g:.3g} points/{ins.unit})"
                            for g, s, j, cid in best[:3])
            lines.append(f"Best accuracy per {ins.resource} unit (buy first): {top}.")
    return lines
