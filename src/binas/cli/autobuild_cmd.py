"""``binas autobuild``: build a network from the top-scored units and write a reduced space."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from binas.cli.common import OUTPUT_DIR, err_console, out_console, parse_max, print_json
from binas.cli.verify_opts import VerifyOptions, candidate_json, make_verifier, with_verify_options

if TYPE_CHECKING:
    from binas.space import SearchSpace

__all__ = ["autobuild"]


def _space_for(estimator: Path, space: str | None) -> SearchSpace:
    from binas.artifacts import read_format
    from binas.space import load_space, space_named_in

    if space is not None:
        return load_space(space)
    return space_named_in(read_format(estimator, "binas.estimator/1", "estimator file").get("space"),
                          f"estimator file {estimator}")


@with_verify_options
def autobuild(
    estimator: Annotated[Path, typer.Option("--estimator", "-e", help="AutoBuild model (binas estimator fit "
                         "--kind autobuild).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (arch.json, space.yaml, LUTs, "
                   "...)."), OUTPUT_DIR],
    lut: Annotated[Optional[list[Path]], typer.Option("--lut", help="LUT file(s) for budgets and for the reduced "
                   "space (repeatable).")] = None,
    max_: Annotated[Optional[list[str]], typer.Option("--max", help="Budget NAME=VALUE on a LUT's resource "
                    "(repeatable).")] = None,
    top_k: Annotated[int, typer.Option("--top-k", "-k", help="Units kept per stage in the reduced space.")] = 3,
    space: Annotated[Optional[str], typer.Option("--space", "-s", help="Space name or YAML file (default: the "
                     "model's).")] = None,
    rekey: Annotated[Optional[list[Path]], typer.Option("--rekey", help="Bilinear estimator(s) of the full space "
                     "to re-key for the reduced space (repeatable).")] = None,
    compare: Annotated[Optional[Path], typer.Option("--compare", help="A BINAS contributions (or other bilinear) "
                       "estimator to compare per-choice importance with.")] = None,
    pool: Annotated[int, typer.Option("--pool", help="Candidate units per stage by each score.")] = 256,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the context networks.")] = 0,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")] = False,
    *,
    opts: VerifyOptions,
) -> None:
    """Build the best network from top-scored units under budgets, and a reduced top-K search space."""
    from binas.autobuild import build_architecture, load_autobuild
    from binas.autobuild.build import AutoBuildError
    from binas.autobuild.outputs import write_outputs
    from binas.estimator.form import load_estimator
    from binas.lut.table import load_lut

    if pool < 1:
        raise AutoBuildError(f"--pool must be at least 1, got {pool}")
    opts.single_round("autobuild")
    sp = _space_for(estimator, space)
    predictor = load_autobuild(estimator, sp)
    tables = [load_lut(p, sp) for p in lut or []]
    budgets = parse_max(max_)
    forms = {p.stem: load_estimator(p, sp) for p in rekey or []}
    other = load_estimator(compare, sp) if compare is not None else None
    if not json_out:
        err_console.print(f"scoring the units of {len(sp.stages)} stages ...")
    result = build_architecture(predictor, tables, budgets, top_k=top_k, pool=pool, seed=seed)
    summary = write_outputs(predictor, result, out, tables, forms, other,
                            {"estimator": str(estimator), "top_k": top_k, "seed": seed})
    if opts.enabled:
        summary["verify"] = _verify_built(result, sp, tables, budgets, opts, opts.distance(opts.k), out)
    if json_out:
        print_json(summary)
        return
    _print(summary)


def _verify_built(result: Any, space: SearchSpace, tables: list, budgets: dict[str, float], opts: VerifyOptions,
                  distance: int, out: Path) -> dict:
    """Re-score the best distinct built networks; write the best verified one to ``OUT/verified.json``."""
    from binas.codec import arch_to_json
    from binas.errors import SpaceError
    from binas.io import atomic_write_json
    from binas.search.milp import position_distance
    from binas.search.verify import diversified, verify_candidates

    archs = [a for a, _ in result.ranked]
    picks = diversified(archs, lambda a, b: position_distance(space, a, b), distance, opts.k)
    rows = [(archs[i], result.ranked[i][1], {t.resource: t.value(space, archs[i]) for t in tables}) for i in picks]
    for _, _, res in rows:  # built from feasible unit combinations; checked again with the LUT sums
        over = [n for n, limit in budgets.items() if res[n] > limit]
        if over:
            raise SpaceError(f"a built candidate exceeds the {over[0]} budget (internal error)")
    verifier = make_verifier(opts, space)
    candidates, best, details = verify_candidates(rows, verifier)
    units = {t.resource: t.unit for t in tables}
    report = {"verifier": verifier.name, "min_distance": distance, "chosen": best, "details": details,
              "candidates": [candidate_json(space, c, units, None) for c in candidates]}
    win = candidates[best]
    atomic_write_json(out / "verified.json", arch_to_json(space, win.architecture, predicted={
        "accuracy": win.estimated, "verified_accuracy": win.verified, "verified_stderr": win.verified_stderr}))
    report["file"] = str(out / "verified.json")
    return report


def _print(summary: dict) -> None:
    arch, red = summary["architecture"], summary["reduced_space"]
    out_console.print(f"built network (predicted accuracy {arch['predicted']['accuracy']:.2f}%):")
    for s, (d, blocks) in enumerate(zip(arch["depths"], arch["blocks"])):
        out_console.print(f"  stage {s + 1}: depth {d}: {' '.join(blocks)}")
    for name, value in arch["predicted"].items():
        if name != "accuracy":
            limit = summary["budgets"].get(name)
            out_console.print(f"  {name}: {value:.6g}" + (f" (budget {limit:.6g})" if limit is not None else ""))
    out_console.print(f"reduced space {red['name']} ({red['space_hash']}): {red['size']:,} networks, "
                      f"units per stage {red['units_per_stage']}")
    out_console.print("feature importance: " + ", ".join(
        f"{r['feature']} {r['importance']:.2f}" for r in sorted(summary["features"], key=lambda r: -r["importance"])))
    comp = summary.get("comparison")
    if comp:
        stages = ", ".join(f"{r['choice_spearman']:.2f}" for r in comp["stages"])
        out_console.print(f"per-choice Spearman vs {comp['other_kind']}: {comp['choice_spearman']:.3f} "
                          f"(stages: {stages})")
    out_console.print(f"wrote {', '.join(Path(p).name for p in summary['files'].values())} to {summary['out']}")
    report = summary.get("verify")
    if report:
        c = report["candidates"][report["chosen"]]
        stderr = "" if c["verified_stderr"] is None else f" +- {c['verified_stderr']:.3g}"
        out_console.print(f"verified the {len(report['candidates'])} best distinct built networks with "
                          f"{report['verifier']}: #{c['rank']} wins (AutoBuild {c['estimated']:.4g}, verified "
                          f"{c['verified']:.4g}{stderr}); wrote {report['file']}")
