"""Write a seeded synthetic latency LUT, an analytic params LUT and a contributions estimator.

    .venv/bin/python benchmarks/make_synthetic.py [--space mobilenetv3] [--seed 0] [--out DIR]

The latency LUT is built from each block's exact MACs (0.12 ms per MMAC), per-layer and SE
overheads and 8% log-normal noise (see ``binas.search.synthetic``); the estimator follows docs/estimator.md
(contributions form, conditional convention) with larger blocks and deeper stages gaining accuracy
with diminishing, noisy returns. Files: latency_lut.json, params_lut.json, estimator.json.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from binas.lut.table import analytic_lut
from binas.search.synthetic import synthetic_contributions, synthetic_lut
from binas.space import load_space


def make(space_name: str, seed: int, out: Path) -> dict[str, Path]:
    """Write the three files into ``out`` and return their paths."""
    space = load_space(space_name)
    rng = np.random.default_rng(seed)
    paths = {"latency": out / "latency_lut.json", "params": out / "params_lut.json",
             "estimator": out / "estimator.json"}
    synthetic_lut(space, rng).save(paths["latency"])
    analytic_lut(space, "params").save(paths["params"])
    synthetic_contributions(space, rng).save(paths["estimator"])
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="mobilenetv3")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/synthetic"))
    args = parser.parse_args()
    for name, path in make(args.space, args.seed, args.out).items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    main()
