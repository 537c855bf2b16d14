"""Everything ``binas autobuild`` writes into its output folder, and the importance comparison.

Folder layout (all written atomically)::

    arch.json                    the directly built network (binas.arch/1, predicted accuracy/resources)
    space.yaml                   the reduced space (top-K units per stage, product form)
    units.json                   the exact kept units per stage (a choice mask for exhaustive evaluation)
    lut-<resource>.json          every given LUT re-keyed for the reduced space
    estimator.json (+ sidecar)   the AutoBuild model re-keyed for the reduced space (evolution search)
    estimator-<name>.json        every --rekey bilinear estimator re-keyed for the reduced space
    scores.json                  feature importance, top units per stage, per-choice contributions
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from binas.autobuild.build import BuildResult
from binas.autobuild.io import save_autobuild
from binas.autobuild.predictor import AutoBuildPredictor
from binas.autobuild.reduce import reduced_space, restrict_form, restrict_lut, write_space
from binas.autobuild.scores import choice_contributions, feature_importance
from binas.estimator.metrics import spearman
from binas.codec import arch_to_json
from binas.estimator.form import BilinearForm
from binas.io import atomic_write_json
from binas.lut.table import Lut
from binas.space import SearchSpace

__all__ = ["choice_values", "compare_importance", "top_units", "write_outputs"]


def top_units(result: BuildResult, space: SearchSpace, luts: list[Lut], n: int = 10) -> list[list[dict[str, Any]]]:
    """Per stage, the ``n`` candidate units with the largest contribution (plus norm and resources)."""
    rows = []
    for st in result.stages:
        order = np.argsort(-st.contribution, kind="stable")[:n]
        rows.append([{"depth": int(st.table.depths[st.candidates[i]]),
                      "blocks": list(st.table.blocks(space, int(st.candidates[i]))),
                      "contribution": float(st.contribution[i]), "norm": float(st.norm[i]),
                      **{lut.resource: float(st.costs[i, r]) for r, lut in enumerate(luts)}} for i in order])
    return rows


def kept_units(result: BuildResult, space: SearchSpace) -> list[list[tuple[int, tuple[str, ...]]]]:
    """The kept ``(depth, choice ids)`` units per stage, the built network's first."""
    return [[(int(st.table.depths[st.candidates[i]]), st.table.blocks(space, int(st.candidates[i])))
             for i in kept] for st, kept in zip(result.stages, result.kept)]


def choice_values(space: SearchSpace, form: BilinearForm) -> np.ndarray:
    """Value of every alpha variable at its stage's maximum depth: ``p_alpha[a] + Q[a, (s, d_max)]``."""
    v = form.p_alpha.copy()
    for s, stage in enumerate(space.stages):
        b = space.beta_index(s, stage.depths[-1])
        for j, choices in enumerate(stage.positions):
            a0 = space.alpha_offsets[s][j]
            v[a0:a0 + len(choices)] += form.Q[a0:a0 + len(choices), b]
    return v


def compare_importance(space: SearchSpace, autobuild: BilinearForm, other: BilinearForm) -> dict[str, Any]:
    """Rank agreement of per-choice (and per-depth) values of two contributions forms, overall and per stage."""
    va, vo = choice_values(space, autobuild), choice_values(space, other)
    per_stage = []
    for s, stage in enumerate(space.stages):
        a0 = space.alpha_offsets[s][0]
        a1 = a0 + sum(len(c) for c in stage.positions)
        b0 = space.beta_offsets[s]
        da, do = autobuild.p_beta[b0:b0 + len(stage.depths)], other.p_beta[b0:b0 + len(stage.depths)]
        per_stage.append({"stage": s + 1, "choice_spearman": spearman(va[a0:a1], vo[a0:a1]),
                          "best_depth": {"autobuild": int(stage.depths[int(np.argmax(da))]),
                                         "other": int(stage.depths[int(np.argmax(do))])}})
    return {"other_kind": other.kind, "choice_spearman": spearman(va, vo), "stages": per_stage}



def write_outputs(predictor: AutoBuildPredictor, result: BuildResult, out: str | Path, luts: list[Lut],
                  rekey: dict[str, BilinearForm], compare: BilinearForm | None = None,
                  provenance: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write the folder described in the module docstring; returns the summary (JSON-able)."""
    out, space = Path(out), predictor.space
    reduced = reduced_space(space, kept_units(result, space), f"{space.name}-autobuild")
    files = {"arch": out / "arch.json", "space": out / "space.yaml", "units": out / "units.json",
             "estimator": out / "estimator.json", "scores": out / "scores.json"}
    predicted = {"accuracy": result.predicted_accuracy, **result.resources}
    atomic_write_json(files["arch"], arch_to_json(space, result.architecture, predicted=predicted,
                                                  provenance={"solver": "autobuild", "budget": result.budgets,
                                                              **(provenance or {})}))
    write_space(files["space"], reduced, f"AutoBuild reduced space of {space.name} ({space.space_hash}): "
                f"top-{max(len(k) for k in result.kept)} units per stage, product form")
    units = [[{"depth": d, "blocks": list(b)} for d, b in stage] for stage in kept_units(result, space)]
    atomic_write_json(files["units"], {"format": "binas.autobuild-units/1", "space": space.name,
                                       "space_hash": space.space_hash, "reduced_space_hash": reduced.space_hash,
                                       "units": units})
    for lut in luts:
        files[f"lut-{lut.resource}"] = restrict_lut(lut, space, reduced).save(out / f"lut-{lut.resource}.json")
    for name, form in rekey.items():
        files[f"estimator-{name}"] = restrict_form(form, space, reduced).save(out / f"estimator-{name}.json")
    save_autobuild(predictor.with_space(reduced), files["estimator"],
                   {"reduced_from": {"space": space.name, "space_hash": space.space_hash}})
    mine = choice_contributions(predictor)
    scores = {"features": feature_importance(predictor), "units": top_units(result, space, luts),
              "choices": {"p_alpha": mine.p_alpha.tolist(), "p_beta": mine.p_beta.tolist(),
                          "const": mine.const, "choice_values": choice_values(space, mine).tolist()}}
    if compare is not None:
        scores["comparison"] = compare_importance(space, mine, compare)
    atomic_write_json(files["scores"], scores)
    return {"out": str(out), "architecture": arch_to_json(space, result.architecture, predicted=predicted),
            "budgets": result.budgets, "evaluated": result.evaluated, "exhaustive": result.exhaustive,
            "reduced_space": {"name": reduced.name, "space_hash": reduced.space_hash, "size": reduced.size,
                              "units_per_stage": [len(k) for k in result.kept]},
            "features": [{k: r[k] for k in ("feature", "importance", "permutation_delta")} for r in scores["features"]],
            "comparison": scores.get("comparison"), "files": {k: str(v) for k, v in files.items()}}
