"""CLI: `binas space show`, `binas arch info`, help, and one-sentence errors with exit code 2."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from binas import __version__
from binas.cli import app
from binas.lut.table import analytic_lut
from binas.space import load_space
from conftest import EXAMPLE_SPACES, REFERENCE_ARCHS

runner = CliRunner()
REFERENCE = json.loads(REFERENCE_ARCHS.read_text())["models"]


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_help_and_version() -> None:
    result = invoke("--help")
    assert result.exit_code == 0 and "space" in result.output and "arch" in result.output
    assert invoke("--version").output.strip() == f"binas {__version__}"
    for group in ("space", "arch"):
        assert invoke(group, "--help").exit_code == 0


def test_space_show_json() -> None:
    result = invoke("space", "show", "--space", "mobilenetv3", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["name"] == "mobilenetv3" and (data["num_alpha"], data["num_beta"]) == (240, 15)
    assert abs(data["size"] / 5.9e21 - 1) < 0.01
    assert data["space_hash"] == load_space("mobilenetv3").space_hash
    assert data["heaviest"]["params"] == 8_949_984 and data["smallest"]["params"] == 3_246_072
    assert round(data["heaviest"]["macs"] / 1e6) == 521 and round(data["smallest"]["macs"] / 1e6) == 137
    assert data["heaviest"]["timm"].startswith("[['ds_r1_k3_s1_e1_c16_nre']")


@pytest.mark.parametrize("space", ["mobilenetv3-tiny", str(EXAMPLE_SPACES[0])])
def test_space_show_human(space: str) -> None:
    result = invoke("space", "show", "--space", space)
    assert result.exit_code == 0 and "alpha" in result.output and "heaviest" in result.output


@pytest.mark.parametrize("model", REFERENCE, ids=[m["name"] for m in REFERENCE])
def test_arch_info_reference(model: dict) -> None:
    result = invoke("arch", "info", model["timm"], "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert set(data) == {"depths", "choices", "params", "macs", "timm"}
    assert data["timm"] == model["timm"]
    assert data["params"] > 5_000_000 and len(data["choices"]) == 5


def test_arch_info_json_file_and_lut(tmp_path) -> None:
    space = load_space("mobilenetv3")
    arch_file = tmp_path / "arch.json"
    arch_file.write_text(json.dumps({"format": "binas.arch/1", "space": "mobilenetv3", "timm": REFERENCE[0]["timm"]}))
    lut = analytic_lut(space, "params").save(tmp_path / "params.json")
    result = invoke("arch", "info", str(arch_file), "--lut", str(lut), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["predicted"]["params"] == data["params"] == 5_165_144
    human = invoke("arch", "info", str(arch_file))
    assert human.exit_code == 0 and "5,165,144" in human.output


@pytest.mark.parametrize("args, message", [
    (["space", "show", "--space", "nope"], "unknown search space 'nope'"),
    (["arch", "info", REFERENCE[0]["timm"].replace("k5_s2_e3_c24", "k7_s2_e3_c24")], "'k7' is not allowed"),
    (["arch", "info", "[['ds_r1_k3_s1_e1_c16_nre'"], "malformed architecture string"),
    (["arch", "info", REFERENCE[0]["timm"], "--space", "mobilenetv3-tiny"], "does not match the space's fixed block"),
])
def test_user_errors_are_one_line_exit_2(args: list[str], message: str) -> None:
    result = invoke(*args)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert message in " ".join(result.output.split()) or message in result.output


def test_lut_for_another_space_is_refused(tmp_path) -> None:
    tiny_lut = analytic_lut(load_space("mobilenetv3-tiny"), "macs").save(tmp_path / "tiny.json")
    result = invoke("arch", "info", REFERENCE[0]["timm"], "--lut", str(tiny_lut))
    assert result.exit_code == 2 and "was made for space 'mobilenetv3-tiny'" in result.output
