"""Any additive resource: ``lut import --resource NAME --unit UNIT`` and several ``--max`` at once."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from binas.cli import app
from binas.lut.table import load_lut, lut_key
from test_search_helpers import BruteForce, make_inputs, make_space, write_space

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def write_csv(space, path: Path, rng: np.random.Generator) -> tuple[Path, dict]:
    """A CSV of positive random values for every block and the fixed part; returns the values too."""
    values = {("fixed", ""): float(rng.uniform(5, 10))}
    for s, stage in enumerate(space.stages):
        for j, choices in enumerate(stage.positions):
            for c in choices:
                values[(lut_key(s, j), c.id)] = float(rng.uniform(1, 4))
    lines = ["key,choice,value"] + [f"{k},{c},{v!r}" for (k, c), v in values.items()]
    path.write_text("\n".join(lines) + "\n")
    return path, values


@pytest.fixture
def setup(tmp_path):
    space_path = write_space(tmp_path, "small")
    space = make_space(tmp_path, "small")
    form, lut, _ = make_inputs(space, 3)
    rng = np.random.default_rng(0)
    energy_csv, energy = write_csv(space, tmp_path / "energy.csv", rng)
    flops_csv, _ = write_csv(space, tmp_path / "flops.csv", rng)
    return tmp_path, space_path, space, form, lut, (energy_csv, energy), flops_csv


def test_import_energy_and_flops_and_search_under_three_budgets(setup) -> None:
    tmp, space_path, space, form, lut, (energy_csv, energy), flops_csv = setup
    r = invoke("lut", "import", "--space", space_path, "--csv", energy_csv, "--resource", "energy", "--unit", "uJ",
               "--out", tmp / "energy.json", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["unit"] == "mJ"
    e = load_lut(tmp / "energy.json", space)
    assert e.resource == "energy" and e.unit == "mJ" and e.meta["source_unit"] == "uJ"
    assert e.fixed == pytest.approx(energy[("fixed", "")] * 1e-3)
    r = invoke("lut", "import", "--space", space_path, "--csv", flops_csv, "--resource", "flops", "--unit", "MFLOPs",
               "--out", tmp / "flops.json")
    assert r.exit_code == 0 and "flops LUT (MFLOPs)" in r.stdout, r.output
    lat = lut.save(tmp / "lat.json")
    brute = BruteForce(space, form, [lut, e, load_lut(tmp / "flops.json", space)])
    budgets = {name: float(np.quantile(brute.res[name], 0.6)) for name in ("latency", "energy", "flops")}
    args = ["search", "-e", form.save(tmp / "est.json"), "-s", space_path, "-l", lat, "-l", tmp / "energy.json",
            "-l", tmp / "flops.json"] + [f"--max={k}={v!r}" for k, v in budgets.items()]
    r = invoke(*args, "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["predicted"]["accuracy"] == pytest.approx(brute.best(budgets)[0], abs=1e-9)
    assert all(data["predicted"][k] <= v for k, v in budgets.items())
    assert data["units"] == {"latency": "ms", "energy": "mJ", "flops": "MFLOPs"}
    human = invoke(*args)
    assert human.exit_code == 0 and " mJ (budget " in human.stdout and " MFLOPs (budget " in human.stdout


@pytest.mark.parametrize("resource, unit, text", [("energy", "ms", "not a unit of energy"),
                                                  ("flops", None, "give the unit"),
                                                  ("bad name", "x", "must be a name"),
                                                  ("latency", "min", "not a time unit")])
def test_import_unit_errors(setup, resource, unit, text) -> None:
    tmp, space_path, _, _, _, (energy_csv, _), _ = setup
    args = ["lut", "import", "--space", space_path, "--csv", energy_csv, "--resource", resource,
            "--out", tmp / "x.json"] + (["--unit", unit] if unit else [])
    r = invoke(*args)
    assert r.exit_code == 2 and text in r.stderr, r.output
    assert not (tmp / "x.json").exists()
