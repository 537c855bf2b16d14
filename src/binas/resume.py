"""One rule for resuming: a run continues only with exactly the settings it was started with.

Every resumable job (supernet training, fine-tuning, LUT measurement, estimator build) records its
settings next to its partial state and calls :func:`check_same_settings` on resume; the first setting
that differs is named (docs/reliability.md).
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Mapping

from binas.errors import ResumeError

__all__ = ["ResumeError", "changed_settings", "check_same_settings", "normalized", "refusal"]


def normalized(settings: Mapping[str, Any]) -> dict[str, Any]:
    """``settings`` as they read back from JSON (tuples become lists, keys strings)."""
    return json.loads(json.dumps(dict(settings), sort_keys=True, default=str))


def changed_settings(saved: Mapping[str, Any], now: Mapping[str, Any],
                     ignore: Iterable[str] = ()) -> list[tuple[str, Any, Any]]:
    """``[(name, saved value, new value)]`` of every setting that differs (sorted by name)."""
    missing = object()
    a, b, skip = normalized(saved), normalized(now), set(ignore)
    return [(k, a.get(k), b.get(k)) for k in sorted((set(a) | set(b)) - skip)
            if a.get(k, missing) != b.get(k, missing)]


def check_same_settings(saved: Mapping[str, Any], now: Mapping[str, Any], what: str,
                        ignore: Iterable[str] = ()) -> None:
    """Refuse to resume ``what`` if any setting (but ``ignore``) differs, naming the first one.

    Raises:
        ResumeError: ``cannot resume <what> with other settings: <name> was <old>, now <new> ...``.
    """
    diff = changed_settings(saved, now, ignore)
    if diff:
        raise ResumeError(refusal(what, diff))


def refusal(what: str, diff: list[tuple[str, Any, Any]]) -> str:
    """The one sentence refusing to resume ``what`` because of ``diff`` (from :func:`changed_settings`)."""
    name, old, new = diff[0]
    more = f" (and {len(diff) - 1} more: {', '.join(d[0] for d in diff[1:4])})" if len(diff) > 1 else ""
    return (f"cannot resume {what} with other settings: {name} was {old!r}, now {new!r}{more}; resume with the "
            "settings it was started with, or choose a new --out")
