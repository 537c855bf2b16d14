"""CLI start-up benchmark: wall time of whole ``binas`` processes, medians of ``--repeats`` runs.

    .venv/bin/python benchmarks/bench_cli_startup.py [--repeats 10] [--out docs/cli-startup.json]

Times, as a user sees them (a fresh process each run, one untimed warm-up run first so that the
files are in the page cache): ``binas --help``, ``python -m binas --help``, ``binas search --help``
and ``binas search`` on the built-in ``mobilenetv3`` space with the seeded synthetic latency LUT and
contributions estimator of ``benchmarks/make_synthetic.py`` (``--max latency=25``, exact MILP,
``--json``; the solve time the command reports is recorded too). The machine's load average is
recorded before and after: on a shared machine the wall times grow with it.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
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


def _time(argv: list[str], cwd: Path, repeats: int) -> tuple[list[float], str]:
    """Wall seconds of ``repeats`` runs of ``argv`` (after one warm-up) and the last run's stdout."""
    def once() -> tuple[float, str]:
        started = time.perf_counter()
        run = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if run.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed ({run.returncode}): {run.stderr.strip()}")
        return seconds, run.stdout

    once()
    runs = [once() for _ in range(repeats)]
    return [s for s, _ in runs], runs[-1][1]


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
                    "binas search (mobilenetv3, milp)": search}
        results = {}
        for name, argv in commands.items():
            seconds, stdout = _time(argv, work, args.repeats)
            results[name] = {"median_s": statistics.median(seconds), "min_s": min(seconds), "max_s": max(seconds),
                             "runs_s": seconds}
            if argv is search:
                results[name]["solve_s_last_run"] = json.loads(stdout)["seconds"]
            print(f"{name:34s} median {statistics.median(seconds):.3f} s  (min {min(seconds):.3f}, "
                  f"max {max(seconds):.3f})")
    report = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "repeats": args.repeats, "python": platform.python_version(), "platform": platform.platform(),
              "cpu": cpu_name(), "cores": os.cpu_count(), "loadavg_before": load_before,
              "loadavg_after": os.getloadavg(), "commands": results}
    atomic_write_json(args.out, report)
    print(f"load average before {load_before[0]:.2f}, after {report['loadavg_after'][0]:.2f}; wrote {args.out}")


if __name__ == "__main__":
    main()
