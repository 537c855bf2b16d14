"""Search at a few latency budgets with every method under comparison; append the networks to train.

For each budget (ms on the ground truth's CPU-clock LUT) this runs, through the ``binas`` CLI:

* ``binas``: the exact MILP search on the bilinear estimator (``--estimator``);
* ``binas-verify``: the same search, its top ``--verify`` networks re-scored by one-shot accuracy
  with per-candidate BN recalibration on the supernet (``--run``);
* ``evolution-mlp``: evolutionary search on an MLP predictor fitted to one-shot samples of the same
  measurement cost (``--mlp``);
* ``scaled``: the hand-scaled baseline (one block choice and depth everywhere, the largest that fits).

Each network is appended to ``docs/ground-truth/extra-archs.jsonl`` as
``{"kind": "found:METHOD@BUDGET", "arch": ...}``; ``ground_truth.py`` then trains those it has not
trained yet (a network found by several methods is trained once). Methods already in the file are
skipped, so the script resumes after a kill.

    python benchmarks/ground_truth_search.py --estimator docs/ground-truth/estimators/regression.json \
        --mlp docs/ground-truth/estimators/fit-mlp.json --run runs/fm-full --budgets 5.5 6.0 6.5
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ground_truth import DEFAULT_EXTRA, DEFAULT_LUT, append_line, read_lines, run_main  # noqa: E402

from binas.baselines import scaled_baseline  # noqa: E402
from binas.codec import format_timm  # noqa: E402
from binas.errors import SearchError  # noqa: E402
from binas.lut.table import load_lut  # noqa: E402
from binas.space import load_space  # noqa: E402


def cli_search(args: list[str]) -> dict:
    """Run ``binas search ... --json`` and return its result (raises with the CLI's message on failure)."""
    proc = subprocess.run([sys.executable, "-m", "binas", "search", *args, "--json"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SearchError(f"binas search {' '.join(args)} failed: {proc.stderr.strip()}")
    return json.loads(proc.stdout)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--estimator", type=Path, required=True, help="bilinear estimator file (binas's search)")
    p.add_argument("--mlp", type=Path, required=True, help="MLP predictor fitted on one-shot samples")
    p.add_argument("--run", type=Path, required=True, help="supernet run directory (for --verify)")
    p.add_argument("--space", default="mobilenetv3-tiny", help="as in ground_truth.py")
    p.add_argument("--lut", type=Path, default=DEFAULT_LUT)
    p.add_argument("--budgets", type=float, nargs="+", default=[5.5, 6.0, 6.5])
    p.add_argument("--verify", type=int, default=10, help="networks re-scored by the supernet")
    p.add_argument("--extra", type=Path, default=DEFAULT_EXTRA)
    args = p.parse_args(argv)
    space = load_space(args.space)
    lut = load_lut(args.lut, space)
    done = {row["kind"] for row in read_lines(args.extra)}
    for budget in args.budgets:
        common = ["--lut", str(args.lut), "--max", f"latency={budget:g}"]
        methods = {
            "binas": ["-e", str(args.estimator), *common],
            "binas-verify": ["-e", str(args.estimator), *common, "--verify", str(args.verify), "--run", str(args.run)],
            "evolution-mlp": ["-e", str(args.mlp), *common, "--solver", "evolution", "--seed", "0"],
        }
        for method, cli_args in methods.items():
            kind = f"found:{method}@{budget:g}"
            if kind in done:
                continue
            result = cli_search(cli_args)
            append_line(args.extra, {"kind": kind, "arch": result["arch"]["timm"],
                                     "predicted": result["predicted"], "seconds": result["seconds"]})
            print(f"{kind}: predicted {result['predicted']}", file=sys.stderr, flush=True)
        kind = f"scaled@{budget:g}"
        if kind not in done:
            arch = scaled_baseline(space, [lut], [budget])
            if arch is not None:
                append_line(args.extra, {"kind": kind, "arch": format_timm(space, arch),
                                         "predicted": {"latency": lut.value(space, arch)}})
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
