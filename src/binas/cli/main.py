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

# name: the module in binas.cli that holds it, in pipeline order (the order --help lists). A command is the
# module's function of that name; a group of subcommands is the module's Typer ``app``.
COMMANDS: dict[str, str] = {
    "demo": "demo_cmd", "space": "space_cmd", "arch": "arch_cmd", "supernet": "supernet_cmd", "lut": "lut_cmd",
    "estimator": "estimator_cmd", "search": "search_cmd", "pareto": "search_cmd", "insights": "insights_cmd",
    "autobuild": "autobuild_cmd", "export": "deploy_cmd", "finetune": "deploy_cmd", "evaluate": "deploy_cmd",
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
    for name, module_name in COMMANDS.items():
        if name not in wanted:
            continue
        module = importlib.import_module(f"binas.cli.{module_name}")
        if callable(getattr(module, name, None)):
            app.command(name)(getattr(module, name))
        else:
            app.add_typer(module.app, name=name)
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
