"""Empirical-Bayes shrinkage of the paper's measured contributions (``binas estimator shrink``).

Each measured accuracy ``A_i`` of one group (the choices of one block position, or the depths of one
stage) is modelled as ``mu + theta_i + eps_i`` with ``theta_i ~ N(0, tau^2)`` (real differences) and
``eps_i ~ N(0, se_i^2)`` (measurement noise, the stored standard error). With ``mu`` the group mean
and ``tau^2 = max(0, var(A) - mean(se^2))`` (method of moments), the posterior mean is

    A_i' = mu + (A_i - mu) * tau^2 / (tau^2 + se_i^2),

so differences smaller than their noise shrink towards the group mean and a maximiser is not drawn to
lucky measurements. The estimator is then rebuilt from the shrunk accuracies with the paper's
formulas (docs/estimator.md) unchanged (:func:`binas.estimator.contributions.contributions_form`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from binas.errors import FileFormatError
from binas.estimator.contributions import CONVENTIONS, contributions_form, measurement_plan, raw_from_form
from binas.estimator.form import BilinearForm
from binas.space import SearchSpace

__all__ = ["shrink_contributions", "shrink_group"]


def shrink_group(values: np.ndarray, stderr: np.ndarray) -> tuple[np.ndarray, float]:
    """Posterior means of one group and the estimated spread ``tau^2`` of its true values."""
    values, stderr = np.asarray(values, dtype=float), np.asarray(stderr, dtype=float)
    if values.size < 2:
        return values.copy(), float("nan")
    mu = float(values.mean())
    tau2 = max(0.0, float(values.var(ddof=1)) - float(np.mean(stderr**2)))
    weight = np.where(stderr > 0, tau2 / np.maximum(tau2 + stderr**2, 1e-300), 1.0)
    return mu + (values - mu) * weight, tau2


def shrink_contributions(form: BilinearForm, space: SearchSpace) -> tuple[BilinearForm, dict[str, Any]]:
    """The contributions estimator rebuilt from empirical-Bayes-shrunk measurements.

    Raises:
        FileFormatError: not a contributions estimator with raw tables in a paper convention.
    """
    convention = form.extra.get("convention")
    if convention not in CONVENTIONS:
        raise FileFormatError(f"only contributions estimators in the {' or '.join(CONVENTIONS)} convention can be "
                              f"shrunk (this one: kind {form.kind!r}, convention {convention!r})")
    acc, err = raw_from_form(space, form)
    groups: dict[tuple, list[str]] = {}
    for m in measurement_plan(space)[1:]:
        groups.setdefault((m.kind, m.stage, m.position), []).append(m.key)
    shrunk, report = dict(acc), []
    for (kind, stage, position), keys in groups.items():
        new, tau2 = shrink_group(np.array([acc[k] for k in keys]), np.array([err[k] for k in keys]))
        shrunk.update(zip(keys, (float(v) for v in new)))
        report.append({"group": f"{kind} {stage + 1}" + (f".{position + 1}" if kind == "a" else ""),
                       "tau": None if np.isnan(tau2) else float(np.sqrt(tau2)),
                       "mean_stderr": float(np.mean([err[k] for k in keys]))})
    meta = dict(form.extra.get("measurement", {}))
    out = contributions_form(space, shrunk, err, convention, meta)
    summary = {"method": "empirical-bayes", "groups": report}
    return BilinearForm(out.space, out.space_hash, out.kind, out.const, out.p_alpha, out.p_beta, out.Q,
                        {**out.extra, "shrinkage": summary}), summary
