"""CLI start-up benchmark: wall time of whole ``binas`` processes, medians of ``--repeats`` runs.

    .venv/bin/python benchmarks/bench_cli_startup.py [--repeats 10] [--importtime-runs 5] [--out docs/cli-startup.json]

Times, as a user sees them (a fresh process each run, one untimed warm-up run first so that the
files are in the page cache and the bytecode cache is written, as after an installation, even where
``PYTHONDONTWRITEBYTECODE`` is set): ``binas --help``, ``python -m binas --help``, ``binas search --help``,
``binas search`` on the built-in ``mobilenetv3`` space with the seeded synthetic latency LUT and
contributions estimator of ``benchmarks/make_synthetic.py`` (``--max latency=25``, ``--json``: one
budget, so the exact answer comes from the best-first enumeration, NumPy only) and the same search
with a second, binding budget (``--max params=4.7e6``, about the median network's: still enumerated,
with a Lagrangian bound; before, the HiGHS MILP, which imports ``scipy.optimize``); the
solve time each reports is recorded too. For scale, processes that only import what ``binas
search`` cannot do without, one layer at a time: Python itself, NumPy, Typer with the pydantic it
validates every option with, and the whole floor (those, Rich and PyYAML, which reads the built-in
space), plus ``import numpy, scipy.optimize`` (what the MILP adds). The commands run round-robin,
one round after another, so that a change in the machine's load hits all of them alike.

Where the time of ``binas search`` goes: ``--importtime-runs`` runs under ``python -X importtime``,
each import's own time summed by top-level package (medians over the runs). ``-X importtime``
itself slows imports down, so these are shares, not wall times.

The machine's load average is recorded before and after: on a shared machine the wall times grow with
it, so the CPU time of each process (user + system) is recorded as well.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_synthetic import make  # noqa: E402

from binas.io import atomic_write_json  # noqa: E402
from binas.lut.timing import cpu_name  # noqa: E402

SEARCH = "binas search (mobilenetv3, one budget: enumeration)"
SEARCH_TWO = "binas search (mobilenetv3, two budgets: enumeration)"
FLOOR = "floor: import numpy, typer + pydantic, rich, yaml"
PACKAGES = ("scipy", "numpy", "typer", "pydantic", "pydantic_core", "annotated_types", "rich", "yaml", "binas")


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _once(argv: list[str], cwd: Path) -> tuple[float, float, str, str]:
    """Wall and CPU seconds, stdout and stderr of one run of ``argv``."""
    cpu, started = _cpu(), time.perf_counter()
    run = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env=_env())
    seconds = time.perf_counter() - started
    if run.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({run.returncode}): {run.stderr.strip()}")
    return seconds, _cpu() - cpu, run.stdout, run.stderr


def _time_all(commands: dict[str, list[str]], cwd: Path, repeats: int) -> dict[str, dict]:
    """Every command once untimed, then ``repeats`` rounds of all of them; medians and all runs."""
    for argv in commands.values():
        _once(argv, cwd)
    runs: dict[str, list[tuple[float, float, str]]] = {name: [] for name in commands}
    for _ in range(repeats):
        for name, argv in commands.items():
            wall, cpu, stdout, _ = _once(argv, cwd)
            runs[name].append((wall, cpu, stdout))
    results = {}
    for name, rows in runs.items():
        wall, cpu = [w for w, _, _ in rows], [c for _, c, _ in rows]
        results[name] = {"median_s": statistics.median(wall), "min_s": min(wall), "max_s": max(wall),
                         "cpu_median_s": statistics.median(cpu), "runs_s": wall, "cpu_runs_s": cpu}
        if name in (SEARCH, SEARCH_TWO):
            results[name]["solve_s_median"] = statistics.median(json.loads(s)["seconds"] for _, _, s in rows)
        print(f"{name:70s} wall median {results[name]['median_s']:.3f} s (min {min(wall):.3f}, max {max(wall):.3f}), "
              f"CPU median {results[name]['cpu_median_s']:.3f} s")
    return results


def _importtime(text: str) -> dict[str, float]:
    """Own import ms by top-level package of one ``-X importtime`` report."""
    own: dict[str, float] = collections.Counter()
    for line in text.splitlines():
        if not line.startswith("import time:") or "|" not in line or "self [us]" in line:
            continue
        self_us, _, name = line[len("import time:"):].split("|")
        top = name.strip().split(".")[0]
        own[top if top in PACKAGES else "Python's standard library and others"] += int(self_us) / 1000
    return dict(own)


def _breakdown(argv: list[str], cwd: Path, runs: int) -> dict:
    """Medians over ``runs`` of :func:`_importtime` for ``argv`` under ``-X importtime``."""
    own_runs = [_importtime(_once([argv[0], "-X", "importtime", *argv[1:]], cwd)[3]) for _ in range(runs)]
    names = {k for r in own_runs for k in r}
    own = {k: statistics.median(r.get(k, 0.0) for r in own_runs) for k in names}
    own = dict(sorted(own.items(), key=lambda kv: -kv[1]))
    return {"runs": runs, "own_import_ms_by_package": own, "total_import_ms": sum(own.values())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--importtime-runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("docs/cli-startup.json"))
    args = parser.parse_args()
    binas, python = str(Path(sys.executable).with_name("binas")), sys.executable
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        paths = make("mobilenetv3", 0, work)
        search = ["search", "-e", str(paths["estimator"]), "-l", str(paths["latency"]), "--max", "latency=25",
                  "--json"]
        search_two = [*search, "-l", str(paths["params"]), "--max", "params=4.7e6"]
        commands = {"binas --help": [binas, "--help"],
                    "python -m binas --help": [python, "-m", "binas", "--help"],
                    "binas search --help": [binas, "search", "--help"],
                    SEARCH: [binas, *search],
                    SEARCH_TWO: [binas, *search_two],
                    "python -c pass": [python, "-c", "pass"],
                    "import numpy": [python, "-c", "import numpy"],
                    "import numpy, scipy.optimize": [python, "-c", "import numpy, scipy.optimize"],
                    "import typer + pydantic (typer._adapters)": [python, "-c", "import typer._adapters"],
                    FLOOR: [python, "-c", "import numpy, typer._adapters, rich.console, rich.text, yaml"]}
        results = _time_all(commands, work, args.repeats)
        breakdown = _breakdown([python, "-m", "binas", *search], work, args.importtime_runs)
    over = results[SEARCH]["median_s"] - results[FLOOR]["median_s"]
    print(f"binas search over the import floor: {over:+.3f} s wall (median vs median)")
    for name, ms in breakdown["own_import_ms_by_package"].items():
        print(f"  imports of {name:40s} {ms:7.1f} ms (under -X importtime)")
    report = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "repeats": args.repeats, "python": platform.python_version(), "platform": platform.platform(),
              "cpu": cpu_name(), "cores": os.cpu_count(), "loadavg_before": load_before,
              "loadavg_after": os.getloadavg(), "commands": results,
              "search_over_floor_s": over, "search_importtime": breakdown}
    atomic_write_json(args.out, report)
    print(f"load average before {load_before[0]:.2f}, after {report['loadavg_after'][0]:.2f}; wrote {args.out}")


if __name__ == "__main__":
    main()
