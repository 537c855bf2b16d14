"""CLI start-up benchmark: wall time of whole ``binas`` processes, medians of ``--repeats`` runs.

    .venv/bin/python benchmarks/bench_cli_startup.py [--repeats 10] [--out docs/cli-startup.json]

Times, as a user sees them (a fresh process each run, one untimed warm-up run first so that the
files are in the page cache and the bytecode cache is written, as after an installation, even where
``PYTHONDONTWRITEBYTECODE`` is set): ``binas --help``, ``python -m binas --help``, ``binas search --help``
and ``binas search`` on the built-in ``mobilenetv3`` space with the seeded synthetic latency LUT and
contributions estimator of ``benchmarks/make_synthetic.py`` (``--max latency=25``, exact MILP,
``--json``; the solve time the command reports is recorded too), and, for scale, a process that only
imports what ``binas search`` cannot do without (NumPy, ``scipy.optimize`` for the MILP, Typer with
Rich and pydantic). The machine's load average is
recorded before and after: on a shared machine the wall times grow with it, so the CPU time of each
process (user + system) is recorded as well: it is what the process would need of an idle machine.
"""

from __future__ import annotations

import argparse
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
from binas.resources.timing import cpu_name  # noqa: E402


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _time(argv: list[str], cwd: Path, repeats: int) -> tuple[list[float], list[float], str]:
    """Wall and CPU seconds of ``repeats`` runs of ``argv`` (after one warm-up) and the last run's stdout."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

    def once() -> tuple[float, float, str]:
        cpu, started = _cpu(), time.perf_counter()
        run = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env=env)
        seconds = time.perf_counter() - started
        if run.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed ({run.returncode}): {run.stderr.strip()}")
        return seconds, _cpu() - cpu, run.stdout

    once()
    runs = [once() for _ in range(repeats)]
    return [w for w, _, _ in runs], [c for _, c, _ in runs], runs[-1][2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path("docs/cli-startup.json"))
    args = parser.parse_args()
    binas = str(Path(sys.executable).with_name("binas"))
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        paths = make("mobilenetv3", 0, work)
        search = [binas, "search", "-e", str(paths["estimator"]), "-l", str(paths["latency"]), "--max", "latency=25",
                  "--json"]
        commands = {"binas --help": [binas, "--help"],
                    "python -m binas --help": [sys.executable, "-m", "binas", "--help"],
                    "binas search --help": [binas, "search", "--help"],
                    "binas search (mobilenetv3, milp)": search,
                    "floor: import numpy, scipy.optimize, typer, rich, pydantic":
                        [sys.executable, "-c", "import numpy, scipy.optimize, typer, rich.console, pydantic"]}
        results = {}
        for name, argv in commands.items():
            seconds, cpu, stdout = _time(argv, work, args.repeats)
            results[name] = {"median_s": statistics.median(seconds), "min_s": min(seconds), "max_s": max(seconds),
                             "cpu_median_s": statistics.median(cpu), "runs_s": seconds, "cpu_runs_s": cpu}
            if argv is search:
                results[name]["solve_s_last_run"] = json.loads(stdout)["seconds"]
            print(f"{name:60s} wall median {statistics.median(seconds):.3f} s (min {min(seconds):.3f}, "
                  f"max {max(seconds):.3f}), CPU median {statistics.median(cpu):.3f} s")
    report = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "repeats": args.repeats, "python": platform.python_version(), "platform": platform.platform(),
              "cpu": cpu_name(), "cores": os.cpu_count(), "loadavg_before": load_before,
              "loadavg_after": os.getloadavg(), "commands": results}
    atomic_write_json(args.out, report)
    print(f"load average before {load_before[0]:.2f}, after {report['loadavg_after'][0]:.2f}; wrote {args.out}")


if __name__ == "__main__":
    main()
