"""Entry point: ``binas`` and its command groups, in pipeline order."""

from __future__ import annotations

import typer

from binas import __version__
from binas.cli import (arch_cmd, autobuild_cmd, demo_cmd, deploy_cmd, estimator_cmd, insights_cmd, lut_cmd,
                       search_cmd, space_cmd, supernet_cmd)
from binas.cli.common import BinasGroup, BinasTyper

app = BinasTyper(
    cls=BinasGroup,
    name="binas",
    help="BINAS: hardware-constrained, interpretable neural architecture search.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.command("demo")(demo_cmd.demo)
app.add_typer(space_cmd.app, name="space")
app.add_typer(arch_cmd.app, name="arch")
app.add_typer(supernet_cmd.app, name="supernet")
app.add_typer(lut_cmd.app, name="lut")
app.add_typer(estimator_cmd.app, name="estimator")
app.command("search")(search_cmd.search)
app.command("pareto")(search_cmd.pareto)
app.command("insights")(insights_cmd.insights)
app.command("autobuild")(autobuild_cmd.autobuild)
app.command("export")(deploy_cmd.export)
app.command("finetune")(deploy_cmd.finetune)
app.command("evaluate")(deploy_cmd.evaluate)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"binas {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """BINAS: hardware-constrained, interpretable neural architecture search."""


def main() -> None:
    """Console-script entry point."""
    app()
