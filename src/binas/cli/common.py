"""Shared CLI plumbing: the stderr console, JSON output and the one place errors become exit codes."""

from __future__ import annotations

import json
from typing import Annotated, Any, Optional

import typer
import typer.core
from rich.console import Console

from binas.errors import BinasError

__all__ = ["BinasGroup", "DeviceOpt", "WorkersOpt", "err_console", "out_console", "print_json", "parse_max"]

# Options shared by every command that computes on images (one runtime, one data layer).
DeviceOpt = Annotated[str, typer.Option("--device", help="auto (CUDA when available) | cpu | cuda; under torchrun "
                      "each rank uses GPU LOCAL_RANK.")]
WorkersOpt = Annotated[Optional[int], typer.Option("--workers", help="Loader worker processes for image folders "
                       "(default: CPUs per local rank, at most 8).", min=0)]

err_console = Console(stderr=True)
out_console = Console(highlight=False, soft_wrap=True)


class BinasGroup(typer.core.TyperGroup):
    """Top-level command group: any :class:`BinasError` becomes one red line on stderr and exit code 2."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except BinasError as exc:
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=2) from None
        except KeyboardInterrupt:
            err_console.print("[bold red]interrupted[/]")
            raise typer.Exit(code=130) from None


def print_json(obj: Any) -> None:
    """The machine-readable result: one JSON document on stdout, nothing else there."""
    typer.echo(json.dumps(obj, indent=1, allow_nan=False))


def parse_max(items: list[str] | None) -> dict[str, float]:
    """Parse repeated ``--max NAME=VALUE`` options into ``{name: value}``."""
    budgets: dict[str, float] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
        if not sep or not name.strip() or number != number or number in (float("inf"), float("-inf")):
            raise BinasError(f"--max {item!r} must look like NAME=VALUE with a finite number, e.g. latency=25")
        if name.strip() in budgets:
            raise BinasError(f"--max gives {name.strip()!r} twice")
        budgets[name.strip()] = number
    return budgets
