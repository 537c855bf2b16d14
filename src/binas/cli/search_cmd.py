"""``binas search`` and ``binas pareto``: constrained search over a space with LUTs and an estimator."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from binas.cli.common import claims, err_console, out_console, parse_max, print_error, print_json
from binas.codec import arch_to_json
from binas.io import atomic_write_bytes, atomic_write_json
from binas.search import DEFAULT_SOLVER, SOLVERS, build_problem, pareto_front, run_solver
from binas.search.inputs import load_any_search_inputs, load_search_inputs
from binas.search.problem import SearchError, SearchProblem, format_amount
from binas.search.result import STATUS_BUDGET_EXCEEDED, SearchResult
from binas.space import Architecture

__all__ = ["pareto", "search"]

EXIT_BUDGET_EXCEEDED = 3

EstimatorOpt = Annotated[Path, typer.Option("--estimator", "-e", help="binas.estimator/1 JSON file.")]
SpaceOpt = Annotated[Optional[str], typer.Option("--space", "-s", help="Space name or YAML file "
                     "(default: the space named in the estimator file).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]


def _predicted(accuracy: float, resources: dict[str, float]) -> dict[str, float]:
    return {"accuracy": accuracy, **resources}


def _result_json(problem: SearchProblem, result: SearchResult, provenance: dict[str, Any]) -> dict[str, Any]:
    predicted = _predicted(result.objective, result.resources)
    obj = {"arch": arch_to_json(problem.space, result.architecture, predicted=predicted, provenance=provenance),
           "predicted": predicted, "seconds": result.seconds, "solver": result.solver,
           "status": result.status, "message": result.message, "gap": result.gap}
    if result.alternatives:
        obj["top"] = [{"arch": arch_to_json(problem.space, result.architecture), "predicted": predicted}] + [
            {"arch": arch_to_json(problem.space, a), "predicted": _predicted(acc, res)}
            for a, acc, res in result.alternatives]
    return obj


def _show_arch(problem: SearchProblem, arch: Architecture, accuracy: float, resources: dict[str, float]) -> None:
    for s, (d, blocks) in enumerate(zip(arch.depths, arch.blocks)):
        out_console.print(f"  stage {s + 1}: depth {d}: {' '.join(blocks)}")
    parts = [f"accuracy {accuracy:.6g}"]
    for r in problem.resources:
        budget = f" (budget {format_amount(r.budget, r.unit)})" if r.budget is not None else ""
        parts.append(f"{r.name} {format_amount(resources[r.name], r.unit)}{budget}")
    out_console.print("  predicted " + ", ".join(parts))


def _show_result(problem: SearchProblem, result: SearchResult, timm: str) -> None:
    gap = f", gap {result.gap:.2g}" if result.gap is not None else ""
    out_console.print(f"{result.solver}: {result.status} in {result.seconds:.3f} s{gap}")
    _show_arch(problem, result.architecture, result.objective, result.resources)
    out_console.print(f"  timm: {timm}")
    for rank, (arch, acc, res) in enumerate(result.alternatives, start=2):
        out_console.print(f"#{rank}")
        _show_arch(problem, arch, acc, res)


@claims(files=('out',))
def search(
    estimator: EstimatorOpt,
    lut: Annotated[Optional[list[Path]], typer.Option("--lut", "-l", help="binas.lut/1 file (repeatable; one "
                   "per resource).")] = None,
    max_: Annotated[Optional[list[str]], typer.Option("--max", help="Budget NAME=VALUE in the LUT's unit, "
                    "e.g. latency=25 (repeatable; NAME is a LUT's resource).")] = None,
    solver: Annotated[str, typer.Option("--solver", help=f"One of: {', '.join(SOLVERS)}.")] = DEFAULT_SOLVER,
    top_k: Annotated[int, typer.Option("--top-k", help="The K best distinct networks (milp only).")] = 1,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the randomised solvers.")] = 0,
    space: SpaceOpt = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write the network as binas.arch/1 JSON.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Find the most accurate network within every --max budget (exact MILP by default)."""
    budgets = parse_max(max_)
    inputs = load_any_search_inputs(estimator, lut or [], space)
    problem = build_problem(inputs.space, inputs.form, inputs.luts, budgets)
    if not json_out:
        err_console.print(f"searching {inputs.space.name} with {solver} ...")
    result = run_solver(solver, problem, seed=seed, top_k=top_k, score=inputs.score)
    if result.architecture is None:
        raise SearchError(result.message)
    provenance = {"solver": solver, "budget": budgets, "estimator": str(estimator),
                  "luts": [str(p) for p in lut or []], "seed": seed}
    obj = _result_json(problem, result, provenance)
    if json_out:
        print_json(obj)
    else:
        _show_result(problem, result, obj["arch"]["timm"])
    if result.status == STATUS_BUDGET_EXCEEDED:
        print_error(f"{result.message} (the {solver} solver's final argmax broke the budget; use --solver milp "
                    "or bcfw)")
        raise typer.Exit(code=EXIT_BUDGET_EXCEEDED)
    if out is not None:
        atomic_write_json(out, obj["arch"])
        if not json_out:
            err_console.print(f"wrote {out}")


def _plot(path: Path, resource: str, unit: str, values: list[float], accuracy: list[float]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.step(values, accuracy, where="post", color="tab:blue")
    ax.plot(values, accuracy, ".", color="tab:blue", markersize=3)
    ax.set_xlabel(f"{resource} ({unit})")
    ax.set_ylabel("predicted accuracy")
    ax.set_title(f"exact Pareto front ({len(values)} networks)")
    ax.grid(alpha=0.3)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


@claims(files=('out', 'plot'))
def pareto(
    estimator: EstimatorOpt,
    lut: Annotated[Path, typer.Option("--lut", "-l", help="binas.lut/1 file of the resource on the x axis.")],
    space: SpaceOpt = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write the front as JSON.")] = None,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Write a PNG plot of the front.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Exact accuracy-vs-resource Pareto front of the whole space (answers every budget at once)."""
    sp, form, luts = load_search_inputs(estimator, [lut], space)
    problem = build_problem(sp, form, luts)
    front = pareto_front(problem)
    name = front.resource
    points = [{name: float(v), "accuracy": float(a), "arch": arch_to_json(sp, arch)}
              for v, a, arch in zip(front.values, front.accuracy, front.architectures)]
    obj = {"resource": name, "unit": front.unit, "front": points, "seconds": front.seconds}
    if out is not None:
        atomic_write_json(out, obj)
    if plot is not None:
        _plot(plot, name, front.unit, [p[name] for p in points], [p["accuracy"] for p in points])
    if json_out:
        print_json(obj)
        return
    table = Table(title=f"exact Pareto front: {len(points)} networks in {front.seconds:.3f} s")
    table.add_column(f"{name} ({front.unit})", justify="right")
    table.add_column("accuracy", justify="right")
    table.add_column("depths")
    step = max(1, len(points) // 20)
    for p in points[::step] + ([points[-1]] if (len(points) - 1) % step else []):
        table.add_row(format_amount(p[name], front.unit), f"{p['accuracy']:.5f}", str(p["arch"]["depths"]))
    out_console.print(table)
    for path in (out, plot):
        if path is not None:
            err_console.print(f"wrote {path}")
