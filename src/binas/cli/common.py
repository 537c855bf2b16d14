"""Shared CLI plumbing: the consoles, JSON output and the one place errors become exit codes.

Exit codes (docs/reliability.md): 0 success (also "this run is already complete"); 1 the machine
failed us (disk full, out of memory); 2 bad input data or values (one sentence on stderr); 3 the
``bcfw-reference`` solver broke its budget; 64 a usage error: unknown option, missing option, a value
of the wrong type or not among the choices (EX_USAGE of sysexits.h; one sentence on stderr);
130 interrupted (Ctrl-C); 143 terminated (SIGTERM).
This module is imported by ``binas --help``: it imports nothing heavier than Typer and Rich.
Both consoles have Rich markup off: text from files and the command line is printed verbatim
(``[...]`` is never taken for a style); styles are given with ``style=`` only.
"""

from __future__ import annotations

import functools
import inspect
import json
import signal
from dataclasses import dataclass
from typing import Annotated, Any, Callable, Iterable, NoReturn, Optional, TypeVar

import typer
import typer.core
from rich.text import Text

from binas.cli.choices import Device
from binas.console import err_console, out_console
from binas.errors import BinasError

__all__ = ["OUTPUT_DIR", "OUTPUT_FILE", "BinasGroup", "BinasTyper", "DeviceOpt", "EXIT_BAD_INPUT", "EXIT_FAILURE",
           "EXIT_USAGE", "Output", "WorkersOpt", "claiming", "err_console", "out_console", "parse_max", "print_error",
           "print_json", "print_result", "print_warning"]

# Options shared by every command that computes on images (one runtime, one data layer).
DeviceOpt = Annotated[Device, typer.Option("--device", help="auto: CUDA when available; under torchrun each rank "
                      "uses GPU LOCAL_RANK.")]
WorkersOpt = Annotated[Optional[int], typer.Option("--workers", help="Loader worker processes for image folders "
                       "(default: CPUs per local rank, at most 8).", min=0)]

EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
EXIT_USAGE = 64
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143
F = TypeVar("F", bound=Callable[..., Any])
MAX_MESSAGE = 600  # characters of one error sentence (a hostile file cannot flood the terminal)



def _short(message: str) -> str:
    message = " ".join(str(message).split())
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 3] + "..."


def print_error(message: Any) -> None:
    """``error: MESSAGE`` on stderr, verbatim (no markup), on one line of bounded length."""
    err_console.print(Text.assemble(("error: ", "bold red"), _short(message)), highlight=False, soft_wrap=True)


def print_warning(message: Any) -> None:
    """``warning: MESSAGE`` on stderr, verbatim."""
    err_console.print(Text.assemble(("warning: ", "yellow"), _short(message)), highlight=False, soft_wrap=True)


@dataclass(frozen=True)
class Output:
    """Marks an option that names something the command writes (a ``"file"`` or a ``"dir"``), as the last item
    of its ``Annotated[...]``; a :class:`BinasTyper` command claims its marked outputs before it runs."""

    kind: str


OUTPUT_FILE = Output("file")
OUTPUT_DIR = Output("dir")


def claiming(fn: F) -> F:
    """``fn`` with its :class:`Output` options checked, locked and cleaned (:func:`binas.claims.claim_outputs`)
    before it does any work; the claim's messages name the option (``--calibrated-out`` for ``calibrated_out``)."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        signature = inspect.signature(fn, eval_str=True)
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        outputs: dict[str, dict[str, Any]] = {"file": {}, "dir": {}}
        for param in signature.parameters.values():
            for mark in getattr(param.annotation, "__metadata__", ()):
                if isinstance(mark, Output) and bound.arguments[param.name] is not None:
                    outputs[mark.kind]["--" + param.name.replace("_", "-")] = bound.arguments[param.name]
        if not outputs["file"] and not outputs["dir"]:  # none given (e.g. search without --out)
            return fn(*args, **kwargs)
        from binas.claims import claim_outputs

        with claim_outputs(outputs["file"], outputs["dir"]):
            return fn(*args, **kwargs)

    return run  # type: ignore[return-value]


class BinasTyper(typer.Typer):
    """A Typer app whose every command claims its :class:`Output` options (:func:`claiming`)."""

    def command(self, *args: Any, **kwargs: Any) -> Callable[[F], F]:  # type: ignore[override]
        register = super().command(*args, **kwargs)

        def decorator(fn: F) -> F:
            register(claiming(fn))
            return fn

        return decorator


# Click's UsageError (unknown or missing option, a value of the wrong type or not a choice): the base class of
# BadParameter, found this way because recent Typer versions vendor Click instead of depending on it.
UsageError: type[Exception] = typer.BadParameter.__bases__[0]


def _usage_error(exc: Any) -> NoReturn:
    """Exit ``EXIT_USAGE`` with Click's message as one ``error:`` sentence (a bare group still shows its help)."""
    if type(exc).__name__ == "NoArgsIsHelpError":  # Typer has printed the help already
        raise typer.Exit(code=EXIT_USAGE) from None
    ctx = getattr(exc, "ctx", None)
    hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
    print_error(f"{exc.format_message()}{hint}")
    raise typer.Exit(code=EXIT_USAGE) from None


def _terminated(signum: int, frame: Any) -> None:
    raise SystemExit(EXIT_TERMINATED)  # unwinds: temporary files are removed, locks released


class BinasGroup(typer.core.TyperGroup):
    """Top-level command group: one place where failures become one line on stderr and an exit code."""

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        try:  # the top-level options are parsed here; every subcommand's, inside ``invoke``
            return super().make_context(info_name, args, parent, **extra)
        except UsageError as exc:
            _usage_error(exc)

    def invoke(self, ctx: Any) -> Any:
        try:
            previous = signal.signal(signal.SIGTERM, _terminated)
        except ValueError:  # not the main thread (e.g. an embedding application)
            previous = None
        try:
            return super().invoke(ctx)
        except UsageError as exc:
            _usage_error(exc)
        except BinasError as exc:
            print_error(exc)
            raise typer.Exit(code=EXIT_BAD_INPUT) from None
        except KeyboardInterrupt:
            print_error("interrupted")
            raise typer.Exit(code=EXIT_INTERRUPTED) from None
        except MemoryError:
            print_error("out of memory")
            raise typer.Exit(code=EXIT_FAILURE) from None
        except OSError as exc:  # the environment, not the input: disk full, I/O error...
            where = f": {exc.filename}" if getattr(exc, "filename", None) else ""
            print_error(f"{exc.strerror or exc}{where}")
            raise typer.Exit(code=EXIT_FAILURE) from None
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)


def print_json(obj: Any) -> None:
    """The machine-readable result: one JSON document on stdout, nothing else there."""
    typer.echo(json.dumps(obj, indent=1, allow_nan=False))


def print_result(result: Any, json_out: bool, summary: Callable[[], str | Iterable[str]]) -> None:
    """A command's result on stdout: with ``--json`` the JSON document (:func:`print_json`), else the line or
    lines that ``summary()`` gives, for a person (it runs only then, so it may format what JSON leaves raw)."""
    if json_out:
        print_json(result)
        return
    text = summary()
    for line in [text] if isinstance(text, str) else text:
        out_console.print(line)


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
