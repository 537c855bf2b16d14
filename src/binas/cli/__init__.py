"""The ``binas`` command line (Typer): one sub-app per command group."""

from binas.cli.main import app, main

__all__ = ["app", "main"]
