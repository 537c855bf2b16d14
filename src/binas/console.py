"""The process's two Rich consoles: progress bars and messages on stderr, results on stdout.

Library code that shows progress (training, measurement) and the CLI share them, so a progress bar
and an error line never interleave on two consoles.
"""

from __future__ import annotations

from rich.console import Console

__all__ = ["err_console", "out_console"]

err_console = Console(stderr=True, markup=False)
out_console = Console(highlight=False, soft_wrap=True, markup=False)
