"""``binas search`` and ``binas pareto``: constrained search over a space with LUTs and an estimator."""

from __future__ import annotations

import io
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from binas.cli.choices import Solver
from binas.cli.common import OUTPUT_FILE, err_console, out_console, parse_max, print_error, print_json
from binas.cli.verify_opts import VerifyOptions, candidate_json, make_verifier, with_verify_options

if TYPE_CHECKING:
    from binas.search.problem import SearchProblem
    from binas.search.result import SearchResult
    from binas.space import Architecture

# The solvers, estimators and plots are imported inside the commands: ``binas --help`` stays fast and
# ``binas search`` never imports torch for a bilinear estimator.

__all__ = ["pareto", "search"]

EXIT_BUDGET_EXCEEDED = 3
PARETO_FORMAT = "binas.pareto/1"  # the file of ``binas pareto --out`` (schemas/pareto.schema.json)
SURROGATE_TOP_K = 20  # surrogate candidates re-ranked by a non-bilinear predictor without --verify

EstimatorOpt = Annotated[Path, typer.Option("--estimator", "-e", help="binas.estimator/1 JSON file.")]
SpaceOpt = Annotated[Optional[str], typer.Option("--space", "-s", help="Space name or YAML file "
                     "(default: the space named in the estimator file).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]


def _predicted(accuracy: float, resources: dict[str, float]) -> dict[str, float]:
    return {"accuracy": accuracy, **resources}


def _units(problem: SearchProblem) -> dict[str, str]:
    return {r.name: r.unit for r in problem.resources}


def _budgets(problem: SearchProblem) -> dict[str, dict[str, Any]]:
    return {r.name: {"max": r.budget, "unit": r.unit} for r in problem.constrained}


def _result_json(problem: SearchProblem, result: SearchResult, provenance: dict[str, Any]) -> dict[str, Any]:
    from binas.codec import arch_to_json

    predicted = _predicted(result.objective, result.resources)
    obj = {"arch": arch_to_json(problem.space, result.architecture, predicted=predicted, provenance=provenance),
           "predicted": predicted, "units": _units(problem), "budgets": _budgets(problem),
           "seconds": result.seconds, "solver": result.solver,
           "status": result.status, "message": result.message, "gap": result.gap}
    if result.alternatives:
        obj["top"] = [{"arch": arch_to_json(problem.space, result.architecture), "predicted": predicted}] + [
            {"arch": arch_to_json(problem.space, a), "predicted": _predicted(acc, res)}
            for a, acc, res in result.alternatives]
    return obj


def _show_arch(problem: SearchProblem, arch: Architecture, accuracy: float, resources: dict[str, float],
               label: str = "predicted") -> None:
    from binas.search.problem import format_amount

    for s, (d, blocks) in enumerate(zip(arch.depths, arch.blocks)):
        out_console.print(f"  stage {s + 1}: depth {d}: {' '.join(blocks)}")
    parts = [f"accuracy {accuracy:.6g}"]
    for r in problem.resources:
        budget = f" (budget {format_amount(r.budget, r.unit)})" if r.budget is not None else ""
        parts.append(f"{r.name} {format_amount(resources[r.name], r.unit)}{budget}")
    out_console.print(f"  {label} " + ", ".join(parts))


def _show_result(problem: SearchProblem, result: SearchResult, timm: str, verified: bool = False) -> None:
    gap = f", gap {result.gap:.2g}" if result.gap is not None else ""
    out_console.print(f"{result.solver}: {result.status} in {result.seconds:.3f} s{gap}")
    _show_arch(problem, result.architecture, result.objective, result.resources)
    out_console.print(f"  timm: {timm}")
    if verified:  # the candidates are listed with both opinions instead
        return
    for rank, (arch, acc, res) in enumerate(result.alternatives, start=2):
        out_console.print(f"#{rank}")
        _show_arch(problem, arch, acc, res)


def _pm(value: float | None) -> str:
    return "" if value is None else f" +- {value:.3g}"


def _show_verified(problem: SearchProblem, report: dict[str, Any]) -> None:
    from binas.search.problem import format_amount

    rounds = report.get("details", {}).get("rounds")
    how = f" in {len(rounds)} rounds, the estimator refitted between them" if rounds else ""
    out_console.print(f"verified the top {len(report['candidates'])} networks{how} (min distance "
                      f"{report['min_distance']}) with {report['verifier']} in {report['seconds']:.3f} s:")
    for i, c in enumerate(report["candidates"]):
        mark = "*" if i == report["chosen"] else " "
        res = ", ".join(f"{k} {format_amount(v, c['units'][k])}" for k, v in c["resources"].items())
        out_console.print(f" {mark} #{c['rank']}: estimated {c['estimated']:.5g}{_pm(c['estimated_spread'])}, "
                          f"verified {c['verified']:.5g}{_pm(c['verified_stderr'])}; {res}")


def _verify(problem: SearchProblem, result: SearchResult, verifier: Any, min_distance: int,
            spread: Any) -> tuple[SearchResult, dict[str, Any]]:
    """Re-score the result's networks; the best verified one becomes the result."""
    from binas.search.verify import verify_result

    started = time.perf_counter()
    return _verified_result(problem, result, *verify_result(problem, result, verifier), verifier, min_distance,
                            spread, started)


def _verified_result(problem: SearchProblem, result: SearchResult, candidates: list, best: int,
                     verdict_extra: dict[str, Any], verifier: Any, min_distance: int, spread: Any,
                     started: float) -> tuple[SearchResult, dict[str, Any]]:
    """The best verified candidate as the result, and the ``verify`` report of all candidates."""
    units = _units(problem)
    spreads = spread([c.architecture for c in candidates]) if spread is not None else [None] * len(candidates)
    report = {"verifier": verifier.name, "min_distance": min_distance, "chosen": best,
              "candidates": [candidate_json(problem.space, c, units, None if v is None else float(v))
                             for c, v in zip(candidates, spreads)],
              "seconds": time.perf_counter() - started}
    if verdict_extra:
        report["details"] = verdict_extra
    win = candidates[best]
    rest = tuple((c.architecture, c.estimated, c.resources) for i, c in enumerate(candidates) if i != best)
    chosen = replace(result, architecture=win.architecture, objective=win.estimated, resources=win.resources,
                     alternatives=rest, message=f"best of {len(candidates)} verified networks: estimated "
                     f"{win.estimated:.6g}, verified {win.verified:.6g}{_pm(win.verified_stderr)}")
    return chosen, report


def _verify_rounds(problem: SearchProblem, result: SearchResult, verifier: Any, opts: VerifyOptions,
                   min_distance: int, spread: Any, samples: list) -> tuple[SearchResult, dict[str, Any]]:
    """``--verify K --verify-rounds R``: the estimator refitted (``auto``) on the samples plus the networks
    verified so far between rounds (:mod:`binas.search.rounds`)."""
    import numpy as np

    from binas.estimator.predictors import encode_archs
    from binas.search.rounds import auto_refit, verify_in_rounds

    refit = auto_refit(problem.space, encode_archs(problem.space, [s.arch for s in samples]),
                       np.array([s.accuracy for s in samples], dtype=float))
    started = time.perf_counter()
    candidates, best, extra = verify_in_rounds(problem, verifier, opts.k, opts.rounds, min_distance, refit)
    return _verified_result(problem, result, candidates, best, extra, verifier, min_distance, spread, started)


def _search_inputs(estimator: Path, lut: list[Path], space: str | None, samples: Path | None, seed: int,
                   solver: str, rounds: int) -> tuple[Any, Any, Any, list | None]:
    """``(inputs, surrogate form or None, predictor verifier of a non-bilinear file or None, samples or
    None)``."""
    from binas.estimator.samples import read_samples
    from binas.search.inputs import load_any_search_inputs
    from binas.search.problem import SearchError

    inputs = load_any_search_inputs(estimator, lut, space)
    if rounds > 1 and samples is None:
        raise SearchError("--verify-rounds needs --samples FILE: the measured networks the estimator is refitted "
                          "on between rounds")
    data = read_samples(samples, inputs.space) if samples is not None else None
    if inputs.score is None or solver != "milp":
        if samples is not None and rounds == 1:
            raise SearchError("--samples is used only to fit the bilinear surrogate of a non-bilinear predictor, "
                              "or with --verify-rounds")
        return inputs, None, None, data
    from binas.search.surrogate import distill_bilinear, fit_bilinear
    from binas.search.verify import PredictorVerifier

    kind = inputs.form.kind
    if data is not None:
        form = fit_bilinear(inputs.space, [d.arch for d in data], [d.accuracy for d in data], kind)
    else:
        form = distill_bilinear(inputs.space, inputs.score, kind, seed=seed)
    return inputs, form, PredictorVerifier(inputs.score, f"the predictor {estimator}"), data


@with_verify_options
def search(
    estimator: EstimatorOpt,
    lut: Annotated[Optional[list[Path]], typer.Option("--lut", "-l", help="binas.lut/1 file (repeatable; one "
                   "per resource).")] = None,
    max_: Annotated[Optional[list[str]], typer.Option("--max", help="Budget NAME=VALUE in the LUT's unit, "
                    "e.g. latency=25 (repeatable; NAME is a LUT's resource).")] = None,
    solver: Annotated[Solver, typer.Option("--solver", help="milp: exact; bcfw, bcfw-reference, evolution, random: "
                      "heuristics.")] = Solver.milp,
    top_k: Annotated[int, typer.Option("--top-k", help="The K best distinct networks (milp only).")] = 1,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the randomised solvers.")] = 0,
    space: SpaceOpt = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write the network as binas.arch/1 JSON."),
                   OUTPUT_FILE] = None,
    samples: Annotated[Optional[Path], typer.Option("--samples", help="Measured samples (JSONL) to fit the "
                       "bilinear surrogate of a non-bilinear predictor on (default: distil it).")] = None,
    json_out: JsonOpt = False,
    *,
    opts: VerifyOptions,
) -> None:
    """Find the most accurate network within every --max budget (exact MILP by default)."""
    from binas.estimator.shrinkage import ensemble_spread_fn
    from binas.search import build_problem, run_solver
    from binas.search.problem import SearchError
    from binas.search.result import STATUS_BUDGET_EXCEEDED

    solver = solver.value
    budgets = parse_max(max_)
    inputs, surrogate, own, data = _search_inputs(estimator, lut or [], space, samples, seed, solver, opts.rounds)
    form = surrogate if surrogate is not None else inputs.form
    problem = build_problem(inputs.space, form, inputs.luts, budgets)
    verifier = make_verifier(opts, inputs.space) if opts.enabled else own
    k = opts.k if opts.enabled else (SURROGATE_TOP_K if own is not None else top_k)  # default K for predictors
    if verifier is not None and top_k > 1 and not opts.enabled:
        k = top_k
    distance = opts.distance(k if verifier is not None else 1)
    if verifier is not None and solver != "milp":
        raise SearchError(f"--verify needs --solver milp (the exact top-K); {solver} returns one network")
    if not json_out:
        how = f" (top {k} re-scored by {verifier.name})" if verifier is not None else ""
        err_console.print(f"searching {inputs.space.name} with {solver}{how} ...")
    score = None if surrogate is not None else inputs.score
    rounds = opts.rounds > 1  # the rounds search their own candidates: here only the argmax (feasibility)
    result = run_solver(solver, problem, seed=seed, top_k=1 if rounds else k, min_distance=distance, score=score)
    if result.architecture is None:
        raise SearchError(result.message)
    report = None
    if verifier is not None and rounds:
        result, report = _verify_rounds(problem, result, verifier, opts, distance,
                                        ensemble_spread_fn(inputs.form, inputs.space), data)
    elif verifier is not None:
        result, report = _verify(problem, result, verifier, distance, ensemble_spread_fn(inputs.form, inputs.space))
    provenance = {"solver": solver, "budget": budgets, "estimator": str(estimator),
                  "luts": [str(p) for p in lut or []], "seed": seed}
    obj = _result_json(problem, result, provenance)
    spread = ensemble_spread_fn(inputs.form, inputs.space)
    if spread is not None:
        obj["spread"] = float(spread([result.architecture])[0])
    if report is not None:
        obj["verify"] = report
        win = report["candidates"][report["chosen"]]
        obj["verified"] = {"accuracy": win["verified"], "stderr": win["verified_stderr"]}
        if surrogate is not None:
            obj["surrogate"] = {"kind": surrogate.kind, **surrogate.extra.get("fit", {})}
    if json_out:
        print_json(obj)
    else:
        _show_result(problem, result, obj["arch"]["timm"], verified=report is not None)
        if report is not None:
            _show_verified(problem, report)
    if result.status == STATUS_BUDGET_EXCEEDED:
        print_error(f"{result.message} (the {solver} solver's final argmax broke the budget; use --solver milp "
                    "or bcfw)")
        raise typer.Exit(code=EXIT_BUDGET_EXCEEDED)
    if out is not None:
        from binas.io import atomic_write_json

        atomic_write_json(out, obj["arch"])
        if not json_out:
            err_console.print(f"wrote {out}")


def _plot(path: Path, resource: str, unit: str, values: list[float], accuracy: list[float]) -> None:
    from binas.figures import new_figure
    from binas.io import atomic_write_bytes

    fig, ax = new_figure(figsize=(6, 4))
    ax.step(values, accuracy, where="post", color="tab:blue")
    ax.plot(values, accuracy, ".", color="tab:blue", markersize=3)
    ax.set_xlabel(f"{resource} ({unit})")
    ax.set_ylabel("predicted accuracy")
    ax.set_title(f"exact Pareto front ({len(values)} networks)")
    ax.grid(alpha=0.3)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    atomic_write_bytes(path, buffer.getvalue())


def _verify_front(problem: SearchProblem, front: Any, opts: VerifyOptions, distance: int, points: int,
                  spread: Any) -> list[dict[str, Any]]:
    """At ``points`` front networks (evenly spaced), verify the exact top-K under that network's resource."""
    import numpy as np

    from binas.search import build_problem, run_solver
    from binas.search.problem import SearchError

    if points < 1:
        raise SearchError(f"--points must be at least 1, got {points}")
    verifier = make_verifier(opts, problem.space)
    name, n = front.resource, len(front.values)
    picks = sorted({int(round(i)) for i in np.linspace(0, n - 1, min(points, n))})
    rows = []
    for i in picks:
        budget = float(front.values[i])
        sub = build_problem(problem.space, problem.accuracy, list(problem.luts), {name: budget})
        result = run_solver("milp", sub, top_k=opts.k, min_distance=distance)
        if result.architecture is None:
            raise SearchError(result.message)
        chosen, report = _verify(sub, result, verifier, distance, spread)
        rows.append({"budget": {name: budget}, "front_accuracy": float(front.accuracy[i]),
                     "chosen": report["candidates"][report["chosen"]], "verify": report})
    return rows


@with_verify_options
def pareto(
    estimator: EstimatorOpt,
    lut: Annotated[Path, typer.Option("--lut", "-l", help="binas.lut/1 file of the resource on the x axis.")],
    space: SpaceOpt = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write the front as JSON."), OUTPUT_FILE] = None,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Write a PNG plot of the front."), OUTPUT_FILE] = None,
    points: Annotated[int, typer.Option("--points", help="With --verify: front networks (evenly spaced) whose "
                      "resource is used as a budget for a verified top-K search.")] = 10,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the verification images.")] = 0,
    json_out: JsonOpt = False,
    *,
    opts: VerifyOptions,
) -> None:
    """Exact accuracy-vs-resource Pareto front of the whole space (answers every budget at once)."""
    from rich.table import Table

    from binas.codec import arch_to_json
    from binas.estimator.shrinkage import ensemble_spread_fn
    from binas.io import atomic_write_json
    from binas.search import build_problem, pareto_front
    from binas.search.inputs import load_search_inputs
    from binas.search.problem import format_amount

    opts.single_round("pareto")
    sp, form, luts = load_search_inputs(estimator, [lut], space)
    problem = build_problem(sp, form, luts)
    front = pareto_front(problem)
    name = front.resource
    points_json = [{name: float(v), "accuracy": float(a), "arch": arch_to_json(sp, arch)}
                   for v, a, arch in zip(front.values, front.accuracy, front.architectures)]
    obj: dict[str, Any] = {"format": PARETO_FORMAT, "resource": name, "unit": front.unit, "front": points_json,
                           "seconds": front.seconds}
    if opts.enabled:
        obj["verified"] = _verify_front(problem, front, opts, opts.distance(opts.k), points,
                                        ensemble_spread_fn(form, sp))
    if out is not None:
        atomic_write_json(out, obj)
    if plot is not None:
        _plot(plot, name, front.unit, [p[name] for p in points_json], [p["accuracy"] for p in points_json])
    if json_out:
        print_json(obj)
        return
    table = Table(title=f"exact Pareto front: {len(points_json)} networks in {front.seconds:.3f} s")
    table.add_column(f"{name} ({front.unit})", justify="right")
    table.add_column("accuracy", justify="right")
    table.add_column("depths")
    step = max(1, len(points_json) // 20)
    for p in points_json[::step] + ([points_json[-1]] if (len(points_json) - 1) % step else []):
        table.add_row(format_amount(p[name], front.unit), f"{p['accuracy']:.5f}", str(p["arch"]["depths"]))
    out_console.print(table)
    for row in obj.get("verified", []):
        c = row["chosen"]
        out_console.print(f"{name} <= {format_amount(row['budget'][name], front.unit)}: verified best #{c['rank']} of "
                          f"{len(row['verify']['candidates'])}: estimated {c['estimated']:.5g}, verified "
                          f"{c['verified']:.5g}{_pm(c['verified_stderr'])}, {name} "
                          f"{format_amount(c['resources'][name], front.unit)}")
    for path in (out, plot):
        if path is not None:
            err_console.print(f"wrote {path}")
