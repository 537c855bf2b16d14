"""Shared test fixtures: one torch thread (2-core CI machine), fixed seeds, example spaces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_ARCHS = ROOT / "tests" / "data" / "binas_archs.json"  # copy of shared/reference/binas_archs.json
EXAMPLE_SPACES = sorted((ROOT / "configs" / "spaces").glob("*.yaml"))

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
    np.random.seed(0)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
