"""``binas autobuild``: build a network from the top-scored units and write a reduced space."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from binas.cli.common import claims, err_console, out_console, parse_max, print_json
from binas.io import read_format
from binas.space import SearchSpace, load_space, space_named_in

__all__ = ["autobuild"]


def _space_for(estimator: Path, space: str | None) -> SearchSpace:
    if space is not None:
        return load_space(space)
    return space_named_in(read_format(estimator, "binas.estimator/1", "estimator file").get("space"),
                          f"estimator file {estimator}")


@claims(dirs=('out',))
def autobuild(
    estimator: Annotated[Path, typer.Option("--estimator", "-e", help="AutoBuild model (binas estimator fit "
                         "--kind autobuild).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (arch.json, space.yaml, LUTs, ...).")],
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
) -> None:
    """Build the best network from top-scored units under budgets, and a reduced top-K search space."""
    from binas.autobuild import build_architecture, load_autobuild
    from binas.autobuild.build import AutoBuildError
    from binas.autobuild.outputs import write_outputs
    from binas.estimator.form import load_estimator
    from binas.resources.lut import load_lut

    if pool < 1:
        raise AutoBuildError(f"--pool must be at least 1, got {pool}")
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
    if json_out:
        print_json(summary)
        return
    _print(summary)


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
