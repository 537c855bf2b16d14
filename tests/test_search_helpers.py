"""Shared helpers of the search tests: small YAML spaces, seeded inputs, brute force (no tests here)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from binas.lut.table import analytic_lut
from binas.search.problem import SearchProblem, build_problem
from binas.search.synthetic import random_bilinear, synthetic_contributions, synthetic_lut
from binas.space import SearchSpace, load_space

SMALL = {  # 2 stages, depths {1,2,3} and {2,3}, 3-4 choices: 3,120 networks
    "name": "small-test", "input_size": 16, "in_channels": 3, "num_classes": 10,
    "stem": {"out_channels": 8, "kernel_size": 3, "stride": 2},
    "stages": [
        {"out_channels": 8, "stride": 1, "depths": [1, 2, 3], "choices": ["e3k3", "e3k5", "e6k3se"]},
        {"out_channels": 16, "stride": 2, "depths": [2, 3], "choices": ["e3k3", "e4k5", "e6k3", "e6k5se"]},
    ],
    "head": {"features": 32},
}
PERLAYER = {  # one position per stage with skip: 4 * 4 * 3 * 4 = 192 networks
    "name": "perlayer-test", "input_size": 16, "in_channels": 1, "num_classes": 10,
    "stem": {"out_channels": 8, "stride": 1},
    "stages": [
        {"out_channels": 16, "stride": 2, "depths": [1], "choices": ["skip", "e3k3", "e6k3", "e3k5"]},
        {"out_channels": 16, "stride": 1, "depths": [1], "choices": ["skip", "e3k3", "e6k5se", "e4k3"]},
        {"out_channels": 24, "stride": 2, "depths": [1], "choices": ["skip", "e3k3", "e6k5se"]},
        {"out_channels": 24, "stride": 1, "depths": [1], "choices": ["skip", "e3k3", "e6k3", "e6k5"]},
    ],
    "head": {"features": 32},
}
SPACES = {"small": SMALL, "perlayer": PERLAYER}


def write_space(tmp: Path, key: str) -> Path:
    path = tmp / f"{key}.yaml"
    path.write_text(yaml.safe_dump(SPACES[key]))
    return path


def make_space(tmp: Path, key: str) -> SearchSpace:
    return load_space(write_space(tmp, key))


def make_inputs(space: SearchSpace, seed: int, kind: str = "contributions"):
    """(form, latency LUT, params LUT) for ``space``, seeded."""
    rng = np.random.default_rng(seed)
    lut = synthetic_lut(space, rng)
    form = synthetic_contributions(space, rng) if kind == "contributions" else random_bilinear(space, rng)
    return form, lut, analytic_lut(space, "params")


class BruteForce:
    """Every network of a small space with its accuracy and LUT sums."""

    def __init__(self, space: SearchSpace, form, luts) -> None:
        self.archs = list(space.enumerate())
        self.acc = np.array([form.predict(space, a) for a in self.archs])
        self.res = {lut.resource: np.array([lut.value(space, a) for a in self.archs]) for lut in luts}

    def feasible(self, budgets: dict[str, float]) -> np.ndarray:
        mask = np.ones(len(self.archs), dtype=bool)
        for name, value in budgets.items():
            mask &= self.res[name] <= value
        return mask

    def best(self, budgets: dict[str, float], k: int = 1) -> np.ndarray:
        values = self.acc[self.feasible(budgets)]
        return np.sort(values)[::-1][:k]


def problem_for(space, form, luts, budgets) -> SearchProblem:
    return build_problem(space, form, list(luts), budgets)
