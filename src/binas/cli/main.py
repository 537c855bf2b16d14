"""Entry point: ``binas`` and its command groups, in pipeline order.

``binas NAME ...`` builds the command line with the one command (or group) ``NAME`` only: Typer turns
every registered command into a Click command (its parameters, their types and coercion) before it
parses anything, so a run of ``binas search`` would otherwise import and build all 22 commands
(docs/cli-startup.json). ``binas --help``, a name that is not a command, and shell completion build
them all; so does :data:`app`, the full command line that the tests invoke.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any, Iterable

import typer

from binas import __version__
from binas.cli.common import BinasGroup, BinasTyper

__all__ = ["COMMANDS", "build_app", "main"]

# name: (module in binas.cli, attribute, a group of subcommands?), in pipeline order (the order --help lists)
COMMANDS: dict[str, tuple[str, str, bool]] = {
    "demo": ("demo_cmd", "demo", False),
    "space": ("space_cmd", "app", True),
    "arch": ("arch_cmd", "app", True),
    "supernet": ("supernet_cmd", "app", True),
    "lut": ("lut_cmd", "app", True),
    "estimator": ("estimator_cmd", "app", True),
    "search": ("search_cmd", "search", False),
    "pareto": ("search_cmd", "pareto", False),
    "insights": ("insights_cmd", "insights", False),
    "autobuild": ("autobuild_cmd", "autobuild", False),
    "export": ("deploy_cmd", "export", False),
    "finetune": ("deploy_cmd", "finetune", False),
    "evaluate": ("deploy_cmd", "evaluate", False),
}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"binas {__version__}")
        raise typer.Exit()


def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """BINAS: hardware-constrained, interpretable neural architecture search."""


def build_app(names: Iterable[str] = COMMANDS) -> typer.Typer:
    """The ``binas`` command line with the commands ``names`` (all by default), importing only their modules."""
    app = BinasTyper(
        cls=BinasGroup,
        name="binas",
        help="BINAS: hardware-constrained, interpretable neural architecture search.",
        no_args_is_help=True,
        pretty_exceptions_show_locals=False,
    )
    wanted = set(names)
    for name, (module, attribute, group) in COMMANDS.items():
        if name not in wanted:
            continue
        target = getattr(importlib.import_module(f"binas.cli.{module}"), attribute)
        if group:
            app.add_typer(target, name=name)
        else:
            app.command(name)(target)
    app.callback()(_root)
    return app


def _completing() -> bool:
    """Whether the shell asks for completions (Click's ``_PROG_COMPLETE`` variable is set)."""
    return any(key.startswith("_") and key.endswith("_COMPLETE") for key in os.environ)


def main() -> None:
    """Console-script entry point."""
    name = sys.argv[1] if len(sys.argv) > 1 else ""
    build_app([name] if name in COMMANDS and not _completing() else COMMANDS)()


def __getattr__(name: str) -> Any:
    """``app``: the full command line, built on first use."""
    if name == "app":
        globals()["app"] = build_app()
        return globals()["app"]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
