"""``binas insights``: interpret an estimator (which decisions buy accuracy where)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from binas.cli.common import OUTPUT_DIR, print_result


def insights(
    estimator: Annotated[Path, typer.Option("--estimator", "-e", help="binas.estimator/1 file (bilinear form).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder for plots, insights.json, "
                   "report.md."), OUTPUT_DIR],
    lut: Annotated[Optional[Path], typer.Option("--lut", help="LUT for costs, gain per unit and the Pareto front.")] = None,
    space: Annotated[Optional[str], typer.Option("--space", "-s", help="Space name or YAML (default: the estimator's).")] = None,
    autobuild: Annotated[Optional[Path], typer.Option("--autobuild", help="An AutoBuild model (estimator fit --kind "
                         "autobuild) whose scores to show beside the estimator's.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the written paths and summary as JSON.")] = False,
) -> None:
    """Plot and summarise which design decisions buy accuracy where (and per resource unit)."""
    from binas.estimator.form import load_estimator
    from binas.artifacts import read_format
    from binas.insights.report import write_insights
    from binas.lut.table import load_lut
    from binas.search.pareto import pareto_front
    from binas.search.problem import build_problem
    from binas.space import load_space, space_named_in

    sp = load_space(space) if space else space_named_in(
        read_format(estimator, "binas.estimator/1", "estimator file").get("space"), f"estimator file {estimator}")
    form = load_estimator(estimator, sp)
    table = load_lut(lut, sp) if lut is not None else None

    problem = build_problem(sp, form, [table]) if table is not None else None

    def front() -> tuple[list[float], list[float]]:
        result = pareto_front(problem)
        return list(result.values), list(result.accuracy)

    separable = problem is not None and problem.stage_separable  # else no exact front to draw
    paths = write_insights(sp, form, table, out, front if separable else None,
                           _autobuild_scores(autobuild, sp, form) if autobuild is not None else None)
    summary = (out / "report.md").read_text().split("## Plots")[0]
    print_result({k: str(v) for k, v in paths.items()}, json_out, lambda: [
        summary.strip(), f"\nwrote {', '.join(p.name for p in paths.values())} to {out}"])


def _autobuild_scores(path: Path, space, form) -> dict:
    from binas.autobuild.io import load_autobuild  # torch-heavy: only when asked
    from binas.autobuild.outputs import compare_importance
    from binas.autobuild.scores import choice_contributions, feature_importance

    model = load_autobuild(path, space)
    mine = choice_contributions(model)
    return {"form": mine, "features": feature_importance(model), "comparison": compare_importance(space, mine, form)}
