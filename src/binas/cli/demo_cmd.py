"""``binas demo``: the whole pipeline on Fashion-MNIST and this CPU, with a Markdown report."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from binas.cli.common import OUTPUT_DIR, err_console, print_result
from binas.errors import BinasError


def _config(path: Path | None, **overrides: Any):
    from binas.demo import DemoConfig, check_demo_config
    from binas.io import load_yaml, read_text

    values: dict[str, Any] = {}
    if path is not None:
        values = load_yaml(read_text(path, "demo config"), f"demo config {path}") or {}
        if not isinstance(values, dict):
            raise BinasError(f"demo config {path} must be a mapping of option: value")
    known = {f.name for f in fields(DemoConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise BinasError(f"unknown demo option(s) {unknown} (known: {sorted(known)})")
    defaults = DemoConfig()
    if "supernet" in values:  # merge over the default training settings
        if not isinstance(values["supernet"] or {}, dict):
            raise BinasError(f"demo config {path}: 'supernet' must be a mapping of training options")
        values["supernet"] = {**defaults.supernet, **(values["supernet"] or {})}
    if isinstance(values.get("budget_quantiles"), list):
        values["budget_quantiles"] = tuple(values["budget_quantiles"])
    if isinstance(values.get("budget_quantiles"), (int, float)) and not isinstance(values["budget_quantiles"], bool):
        values["budget_quantiles"] = (values["budget_quantiles"],)
    values.update({k: v for k, v in overrides.items() if v is not None})
    return check_demo_config(DemoConfig(**values))


def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory (a killed demo resumes from it)."),
                   OUTPUT_DIR] = Path("runs/demo"),
    train: Annotated[bool, typer.Option("--train", help="Train the supernet here first (the full pipeline, "
                     "path 'train') instead of using the pretrained supernet shipped with binas.")] = False,
    pretrained: Annotated[Optional[Path], typer.Option("--pretrained", help="A packed supernet file to use "
                          "instead of the shipped one.")] = None,
    data: Annotated[Optional[str], typer.Option("--data", help="Data set (default: fashion-mnist).")] = None,
    data_dir: Annotated[Optional[str], typer.Option("--data-dir", help="Where the data files are.")] = None,
    workers: Annotated[Optional[int], typer.Option("--workers", help="Processes training the compared networks "
                       "side by side (default 2).")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="YAML overriding demo settings "
                      "(see binas.demo.DemoConfig).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the headline numbers (path, estimator_tau, "
                        "budgets) and artifact paths as JSON.")] = False,
) -> None:
    """Run BINAS end to end on this CPU and compare its networks with a hand-scaled baseline and random ones."""
    from binas.demo import run_demo

    if train and pretrained is not None:
        raise BinasError("give --train or --pretrained, not both")
    cfg = _config(config, out=str(out), data=data, data_dir=data_dir, workers=workers,
                  pretrained=str(pretrained) if pretrained else None, train=True if train else None)
    log = (lambda _m: None) if json_out else (lambda m: err_console.print(m, markup=False, highlight=False))
    result = run_demo(cfg, log=log, quiet=json_out)
    print_result(result, json_out, lambda: f"report: {result['report']}")
