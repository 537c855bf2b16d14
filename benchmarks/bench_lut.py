"""Benchmark: measure a full latency LUT and validate it against whole networks (docs/lut.md).

Default: ``mobilenetv3``, 1 thread, batch 1, 224 px, PyTorch eager and ONNX Runtime. For every
backend it reports the time to measure the LUT and the fidelity of its sums over random networks
(median / max relative error, Kendall tau, fitted slope and intercept), with the machine's load
average before and after (these 2-core machines are shared: numbers taken at load > 2 are noisy).

    .venv/bin/python benchmarks/bench_lut.py [--backends torch,onnxruntime] [--samples 20] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from binas.lut.fidelity import plot_fidelity, validate_lut
from binas.lut.measure import MeasureSettings, measure_lut
from binas.space import load_space


def run_backend(space_name: str, backend: str, args: argparse.Namespace, out: Path) -> dict:
    space = load_space(space_name)
    settings = MeasureSettings(backend, args.threads, args.batch_size, args.resolution, args.repeats, args.warmup,
                               args.seed, args.clock)
    marks: dict[str, float] = {}

    def progress(phase: str, done: int, total: int) -> None:
        marks.setdefault(phase, time.perf_counter())

    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    lut = measure_lut(space, settings, None, progress)
    measure_s = time.perf_counter() - start
    lut.save(out / f"lut_{space_name}_{backend}.json")
    start = time.perf_counter()
    report = validate_lut(space, lut, args.samples, args.seed + 1, args.validate_repeats, args.warmup)
    validate_s = time.perf_counter() - start
    plot_fidelity(report, out / f"fidelity_{space_name}_{backend}.png")
    (out / f"fidelity_{space_name}_{backend}.json").write_text(json.dumps(report, indent=1))
    return {
        "space": space_name, "backend": backend, "clock": args.clock, "threads": args.threads,
        "batch_size": args.batch_size,
        "resolution": lut.meta["resolution"], "repeats": args.repeats,
        "measure_total_s": round(measure_s, 1),
        "measure_prepare_s": round(marks.get("measure", start) - marks.get("prepare", start), 1),
        "validate_s": round(validate_s, 1), "samples": args.samples,
        "median_abs_rel_err": round(report["median_abs_rel_err"], 4),
        "max_abs_rel_err": round(report["max_abs_rel_err"], 4),
        "kendall_tau": None if report["kendall_tau"] is None else round(report["kendall_tau"], 3),
        "slope": round(report["slope"], 4), "intercept_ms": round(report["intercept"], 3),
        "calibrated_median_abs_rel_err": round(report["calibrated_median_abs_rel_err"], 4),
        "measured_ms_range": [round(min(p["measured"] for p in report["pairs"]), 2),
                              round(max(p["measured"] for p in report["pairs"]), 2)],
        "fixed_ratio_now_vs_lut": round(report["reference"]["ratio"], 3),
        "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="mobilenetv3")
    parser.add_argument("--backends", default="torch,onnxruntime")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--resolution", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--validate-repeats", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--clock", default="wall", choices=["wall", "cpu"])
    parser.add_argument("--out", type=Path, default=None, help="Folder for LUTs, reports and plots (default: temp).")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="bench_lut_"))
    out.mkdir(parents=True, exist_ok=True)
    rows = [run_backend(args.space, b, args, out) for b in args.backends.split(",")]
    for row in rows:
        print(json.dumps(row))
    print(f"artifacts in {out}")


if __name__ == "__main__":
    main()
