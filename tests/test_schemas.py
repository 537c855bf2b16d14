"""The JSON Schemas of the public formats (schemas/, docs/architecture.md "Public file formats") against real outputs.

Every file is made by the CLI on tiny settings (a toy supernet, synthetic data, a small user space),
validated against its schema, and then mutated so that the schema must reject it.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from typer.testing import CliRunner

from binas.cli import app
from binas.supernet.model import Supernet
from binas.supernet.store import save_supernet
from test_estimator_form import TOY, toy_space
from test_search_helpers import make_inputs, make_space, write_space

jsonschema = pytest.importorskip("jsonschema")
referencing = pytest.importorskip("referencing")

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = ROOT / "schemas"
GROUND_TRUTH = ROOT / "docs" / "ground-truth"
FIT_KINDS = ("linear", "bilinear", "quadratic", "mlp", "auto", "ensemble", "stack", "autobuild")
runner = CliRunner()


def invoke(*args: Any) -> Any:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


def _registry() -> Any:
    resources = [(p.name, referencing.Resource.from_contents(json.loads(p.read_text())))
                 for p in SCHEMAS.glob("*.schema.json")]
    return referencing.Registry().with_resources(resources)


def validator(name: str) -> Any:
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, registry=_registry())


def assert_valid(name: str, obj: Any) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator(name).iter_errors(obj)]
    assert not errors, errors[:5]


def assert_invalid(name: str, obj: Any) -> None:
    assert not validator(name).is_valid(obj)


def mutants(obj: dict[str, Any], required: str) -> list[dict[str, Any]]:
    """``obj`` with a wrong ``format`` and ``obj`` without ``required``."""
    wrong = {**obj, "format": "binas.other/1"}
    missing = {k: v for k, v in obj.items() if k != required}
    return [wrong, missing]


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> dict[str, Path]:
    """Real outputs of every public format, written by the CLI."""
    root = tmp_path_factory.mktemp("schemas")
    (root / "toy.yaml").write_text(yaml.safe_dump(TOY))
    torch.manual_seed(0)
    net = Supernet(toy_space())
    for p in net.parameters():
        p.data.normal_(0, 0.5)
    save_supernet(net, root / "sn.safetensors")
    files = {"samples": root / "s.jsonl", "lut": root / "lut.json"}
    invoke("estimator", "sample", "--supernet", root / "sn.safetensors", "--data", "synthetic", "--n", 12,
           "--seed", 1, "--out", files["samples"])
    for method in ("differences", "regression"):
        files[f"est-{method}"] = root / f"{method}.json"
        invoke("estimator", "build", "--supernet", root / "sn.safetensors", "--data", "synthetic", "--images", 8,
               "--method", method, "--out", files[f"est-{method}"])
    for kind in FIT_KINDS:
        files[f"est-{kind}"] = root / f"{kind}.json"
        invoke("estimator", "fit", "--space", root / "toy.yaml", "--samples", files["samples"], "--kind", kind,
               "--out", files[f"est-{kind}"], "--epochs", 2, "--members", 3)
    invoke("lut", "compute", "--space", root / "toy.yaml", "--resource", "macs", "--out", files["lut"])
    space_path = write_space(root, "small")
    form, lut, _ = make_inputs(make_space(root, "small"), 7)
    est, lat = form.save(root / "small-est.json"), lut.save(root / "small-lat.json")
    files["arch"], files["pareto"] = root / "arch.json", root / "front.json"
    invoke("search", "--estimator", est, "--space", space_path, "--lut", lat, "--out", files["arch"])
    invoke("pareto", "--estimator", est, "--space", space_path, "--lut", lat, "--out", files["pareto"])
    return files


def read(path: Path) -> Any:
    return json.loads(path.read_text())


def test_every_schema_is_a_valid_draft_2020_12_schema() -> None:
    names = sorted(p.name for p in SCHEMAS.glob("*.schema.json"))
    assert names == ["arch.schema.json", "estimator.schema.json", "lut.schema.json", "pareto.schema.json",
                     "samples-line.schema.json"]
    for name in names:
        jsonschema.Draft202012Validator.check_schema(json.loads((SCHEMAS / name).read_text()))


def test_lut(made) -> None:
    obj = read(made["lut"])
    assert_valid("lut", obj)
    for bad in mutants(obj, "blocks"):
        assert_invalid("lut", bad)
    negative = copy.deepcopy(obj)
    key = next(iter(negative["blocks"]))
    choice = next(iter(negative["blocks"][key]))
    negative["blocks"][key][choice] = -1.0
    assert_invalid("lut", negative)


@pytest.mark.parametrize("name", ["differences", "regression", *FIT_KINDS])
def test_estimator_kinds(made, name) -> None:
    obj = read(made[f"est-{name}"])
    expected = {"differences": "contributions", "regression": "contributions"}.get(name, name)
    assert obj["kind"] == expected
    assert_valid("estimator", obj)
    shape_key = {"quadratic": "parameters", "mlp": "parameters", "autobuild": "config", "stack": "form",
                 "differences": "Aa", "regression": "Aa", "ensemble": "ensemble"}.get(name, "Q")
    for bad in mutants(obj, shape_key):
        assert_invalid("estimator", bad)


def test_estimator_kind_selects_the_shape(made) -> None:
    """A weights-file kind is not a bilinear form, and a form's Q entries must be index triples."""
    mlp = read(made["est-mlp"])
    assert_invalid("estimator", {**mlp, "kind": "linear"})
    assert_invalid("estimator", {**mlp, "kind": "autobuild"})
    form = read(made["est-bilinear"])
    assert form["Q"], "the bilinear fit has interactions"
    assert_invalid("estimator", {**form, "Q": [[0, 1]] + form["Q"][1:]})
    assert_invalid("estimator", {**form, "kind": "mlp"})
    stack = read(made["est-stack"])
    assert_invalid("estimator", {**stack, **stack["form"]})  # a flat form would be read as a plain bilinear one


def test_arch(made) -> None:
    obj = read(made["arch"])
    assert_valid("arch", obj)
    for bad in mutants(obj, "depths"):
        assert_invalid("arch", bad)
    assert_invalid("arch", {**obj, "depths": ["2"]})


def test_samples_lines(made) -> None:
    lines = [json.loads(line) for line in made["samples"].read_text().splitlines()]
    assert len(lines) == 12 and all(line["format"] == "binas.sample/1" for line in lines)
    for line in lines:
        assert_valid("samples-line", line)
    assert_valid("samples-line", {k: v for k, v in lines[0].items() if k != "format"})  # older files
    assert_valid("samples-line", {**lines[0], "arch": lines[0]["arch"]["timm"]})  # timm string accepted
    for bad in mutants(lines[0], "accuracy"):
        assert_invalid("samples-line", bad)
    assert_invalid("samples-line", {**lines[0], "params": "many"})


def test_pareto_front(made) -> None:
    obj = read(made["pareto"])
    assert obj["format"] == "binas.pareto/1" and len(obj["front"]) > 1
    assert_valid("pareto", obj)
    for bad in mutants(obj, "front"):
        assert_invalid("pareto", bad)
    broken = copy.deepcopy(obj)
    del broken["front"][0]["arch"]["timm"]
    assert_invalid("pareto", broken)


def test_committed_ground_truth_files() -> None:
    lut = GROUND_TRUTH / "lut-latency.json"
    estimators = sorted((GROUND_TRUTH / "estimators").glob("*.json"))
    samples = GROUND_TRUTH / "estimators" / "samples-256.jsonl"
    if not (lut.is_file() and estimators and samples.is_file()):
        pytest.skip("docs/ground-truth artifacts are not present")
    assert_valid("lut", read(lut))
    kinds = set()
    for path in estimators:
        obj = read(path)
        kinds.add(obj["kind"])
        assert_valid("estimator", obj)
    assert {"contributions", "linear", "bilinear", "mlp", "autobuild"} <= kinds
    lines = [json.loads(line) for line in samples.read_text().splitlines() if line.strip()]
    assert len(lines) == 256
    for line in lines:
        assert_valid("samples-line", line)


def test_samples_reader_refuses_another_format(made, tmp_path) -> None:
    from binas.errors import FileFormatError
    from binas.estimator.samples import read_samples

    lines = made["samples"].read_text().splitlines()
    assert len(read_samples(made["samples"], toy_space())) == len(lines)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({**json.loads(lines[0]), "format": "binas.sample/2"}) + "\n")
    with pytest.raises(FileFormatError, match="line 1 is not a binas.sample/1 line"):
        read_samples(bad, toy_space())
