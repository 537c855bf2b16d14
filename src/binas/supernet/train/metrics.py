"""Run-directory logging: metrics as JSONL (+ CSV, + TensorBoard when installed), the config, progress."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import torch
import yaml
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
from rich.progress import Progress as RichProgress

from binas.console import err_console
from binas.errors import FileFormatError
from binas.io import atomic_write_text, read_text
from binas.supernet.train.config import TrainConfig

__all__ = ["MetricsLog", "Progress", "accuracy", "write_config"]


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 accuracy of a batch."""
    return round(float((logits.argmax(1) == labels).float().mean()), 4)


def write_config(out: Path, config: TrainConfig) -> None:
    """The resolved configuration as ``out/config.yaml`` (re-usable with --config)."""
    atomic_write_text(out / "config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False))


class MetricsLog:
    """Appends rows to ``metrics.jsonl`` (one line per row); ``metrics.csv`` is rewritten from it at
    checkpoints and the end.

    On resume, rows logged after the checkpoint being resumed are dropped (one rewrite of the file) when
    the first replayed step is logged; a line cut short by a kill is ignored when reading.
    """

    def __init__(self, out: Path, enabled: bool) -> None:
        self.enabled, self.path, self.out = enabled, out / "metrics.jsonl", out
        self.rows: list[dict[str, Any]] = []
        self.tb: Any = False  # created at the first row (nothing is written before the run starts)
        if not enabled:
            return
        if self.path.is_file():
            lines = read_text(self.path, "metrics log").splitlines()
            for n, line in enumerate(lines):
                if not line.strip():
                    continue
                try:
                    self.rows.append(json.loads(line))
                except ValueError:
                    if n < len(lines) - 1:  # only the last line may be torn (a kill while appending)
                        raise FileFormatError(f"metrics log {self.path} is corrupt (line {n + 1})") from None
        self._rewrite_pending = self.path.is_file()  # drop stale rows (and a torn line) before appending

    def _tensorboard(self) -> Any:
        if self.tb is False:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(self.out / "tensorboard"))
            except ImportError:  # TensorBoard is optional
                self.tb = None
        return self.tb

    def write(self, row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        self._tensorboard()
        if self._rewrite_pending:
            if "step" in row:  # rows a killed run wrote past its last checkpoint
                self.rows = [r for r in self.rows if not (r.get("stage") == row["stage"] and
                                                          r.get("step", 0) >= row["step"])]
            atomic_write_text(self.path, "".join(json.dumps(r) + "\n" for r in self.rows))
            self._rewrite_pending = False
        self.rows.append(row)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            f.write(json.dumps(row) + "\n")
        if self.tb and "step" in row:
            for key, value in row.items():
                if isinstance(value, (int, float)) and key != "step":
                    self.tb.add_scalar(f"{row['stage']}/{key}", value, row["step"])

    def flush_csv(self) -> None:
        """Rewrite ``metrics.csv`` (step rows only) from the JSONL rows."""
        if not self.enabled:
            return
        rows = [r for r in self.rows if "step" in r]
        keys = list(dict.fromkeys(k for r in rows for k in r))
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(self.path.with_suffix(".csv"), buf.getvalue())

    def close(self) -> None:
        self.flush_csv()
        if self.tb:
            self.tb.close()


class Progress:
    """A Rich progress bar on stderr for one stage (a no-op when disabled)."""

    def __init__(self, title: str, total: int, start: int, enabled: bool) -> None:
        self.bar = None
        if enabled:
            self.bar = RichProgress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                    TextColumn("loss {task.fields[loss]:.3f}"), TimeRemainingColumn(),
                                    console=err_console, transient=False)
            self.bar.start()
            self.task = self.bar.add_task(title, total=total, completed=start, loss=float("nan"))

    def advance(self, loss: float) -> None:
        if self.bar is not None:
            self.bar.update(self.task, advance=1, loss=loss)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
