"""The ``binas`` command line (Typer): one sub-app per command group."""

import importlib
from typing import Any

from binas.cli.main import main

__all__ = ["app", "main"]


def __getattr__(name: str) -> Any:
    """``app``: the full command line (:data:`binas.cli.main.app`), built on first use."""
    if name == "app":
        return importlib.import_module("binas.cli.main").app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
