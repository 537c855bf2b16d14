"""The command line itself: lazy imports, ``python -m binas``, choices, completion, ``space list --json``, exit 64.

Start-up time is measured by ``benchmarks/bench_cli_startup.py``, not here; these tests check what makes it
fast (which modules a command imports).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from binas.cli import app, choices
from binas.space import builtin_spaces, load_space

runner = CliRunner()
HEAVY = ("torch", "scipy", "matplotlib", "onnx", "onnxruntime", "numpy", "yaml")
SRC = str(Path(__file__).resolve().parents[1] / "src")


def _python(code: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, *(["-c", code] if code else []), *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=300)


def _imported_by(argv: list[str], cwd: Path | None = None, modules: bool = False) -> set[str]:
    """The top-level packages (every module with ``modules``) a fresh interpreter has imported after running
    ``binas ARGV``."""
    name = "m" if modules else "m.split('.')[0]"
    code = ("import sys\nfrom binas.cli import main\nsys.argv = ['binas', *sys.argv[1:]]\n"
            "try:\n    main()\nexcept SystemExit as e:\n    code = e.code\n"
            f"print('\\nIMPORTED', code, ' '.join(sorted({{{name} for m in sys.modules}})))")
    run = _python(code, *argv, cwd=cwd)
    line = run.stdout.strip().splitlines()[-1].split()
    assert line[0] == "IMPORTED" and line[1] in ("0", "None"), run.stdout + run.stderr
    return set(line[2:])


def test_help_imports_nothing_heavy() -> None:
    for argv in (["--help"], ["search", "--help"], ["estimator", "build", "--help"], ["lut", "--help"]):
        heavy = _imported_by(argv) & set(HEAVY)
        assert not heavy, (argv, heavy)


def test_search_imports_neither_torch_nor_matplotlib(tmp_path: Path) -> None:
    from binas.lut.table import analytic_lut
    from binas.search.synthetic import random_bilinear, synthetic_contributions, synthetic_lut

    space, rng = load_space("mobilenetv3"), np.random.default_rng(0)
    synthetic_contributions(space, rng).save(tmp_path / "est.json")
    synthetic_lut(space, rng).save(tmp_path / "lat.json")
    analytic_lut(space, "params").save(tmp_path / "par.json")
    random_bilinear(space, rng).save(tmp_path / "coupled.json")
    one = ["search", "-e", "est.json", "-l", "lat.json", "--max", "latency=25", "--json"]
    imported = _imported_by(one, cwd=tmp_path)
    assert "scipy" not in imported  # one budget, stage-separable: the enumeration, NumPy only
    assert not imported & {"torch", "matplotlib", "onnx", "onnxruntime"}, imported
    two = _imported_by([*one, "-l", "par.json", "--max", "params=1e12"], cwd=tmp_path)
    assert "scipy" not in two  # two budgets: still enumerated
    from binas.estimator.predictors import encode_archs
    from binas.estimator.stacking import StackPredictor
    from binas.estimator.store import save_predictor

    archs = [space.sample(rng) for _ in range(40)]
    save_predictor(StackPredictor(space).fit(encode_archs(space, archs), rng.normal(70, 1, 40)), tmp_path / "stack.json")
    for judge in ("est.json", "stack.json"):  # a form or a stack file judges without torch or SciPy
        verified = _imported_by([*one, "--verify", "5", "--verify-with", judge], cwd=tmp_path)
        assert not verified & {"torch", "scipy", "matplotlib"}, (judge, verified & {"torch", "scipy"})
    coupled = _imported_by(["search", "-e", "coupled.json", *one[3:]], cwd=tmp_path)
    assert "scipy" in coupled  # a form coupling stages: the MILP
    assert not coupled & {"torch", "matplotlib", "onnx", "onnxruntime"}, coupled


def test_search_builds_and_loads_only_what_it_runs(tmp_path: Path) -> None:
    """``binas search`` builds the search command only, loads no other solver, claims no output it lacks."""
    from binas.search.synthetic import synthetic_contributions, synthetic_lut

    space, rng = load_space("mobilenetv3"), np.random.default_rng(0)
    synthetic_contributions(space, rng).save(tmp_path / "est.json")
    synthetic_lut(space, rng).save(tmp_path / "lat.json")
    imported = _imported_by(["search", "-e", "est.json", "-l", "lat.json", "--max", "latency=25", "--json"],
                            cwd=tmp_path, modules=True)
    assert {"binas.cli.search_cmd", "binas.search.exact", "binas.search.kbest"} <= imported
    assert "binas.search.milp" not in imported  # enumerated: HiGHS is not needed
    unwanted = {"binas.cli.lut_cmd", "binas.cli.estimator_cmd", "binas.cli.deploy_cmd", "binas.search.bcfw",
                "binas.search.evolution", "binas.search.random_search", "binas.claims"}
    assert not imported & unwanted, imported & unwanted
    assert "binas.cli.lut_cmd" in _imported_by(["--help"], modules=True)  # the full command line


def test_python_m_binas() -> None:
    from binas import __version__

    version = _python("", "-m", "binas", "--version")
    assert version.returncode == 0 and version.stdout.strip() == f"binas {__version__}"
    usage = _python("", "-m", "binas", "space", "list", "--bogus")
    assert usage.returncode == 64 and usage.stderr.startswith("error: No such option: --bogus")


def test_choices_equal_the_library_lists() -> None:
    from binas.estimator.contributions import CONVENTIONS
    from binas.estimator.pipeline import METHODS
    from binas.estimator.predictors import PREDICTORS
    from binas.lut.onnx_blocks import TIME_UNITS
    from binas.lut.measure import STATISTICS
    from binas.lut.timing import BACKENDS, CLOCKS
    from binas.runtime import DEVICES
    from binas.search import SOLVERS
    from binas.space.cost import ANALYTIC_RESOURCES
    from binas.supernet.train.config import SAMPLING, STAGES

    pairs = [(choices.Solver, SOLVERS), (choices.Convention, CONVENTIONS), (choices.Method, METHODS),
             (choices.PredictorKind, PREDICTORS), (choices.Backend, BACKENDS), (choices.Clock, CLOCKS),
             (choices.AnalyticResource, ANALYTIC_RESOURCES), (choices.Stage, STAGES),
             (choices.Sampling, SAMPLING), (choices.Device, DEVICES), (choices.Statistic, STATISTICS)]
    for enum, library in pairs:
        assert [c.value for c in enum] == list(library), enum.__name__
    assert list(choices.TIME_UNITS) == list(TIME_UNITS)


@pytest.mark.parametrize("argv, listed", [
    (["search", "--help"], "milp|bcfw|bcfw-reference|evolution|random"),
    (["estimator", "build", "--help"], "differences|regression"),
    (["estimator", "fit", "--help"], "linear|bilinear|quadratic|mlp|autobuild|auto|ensemble"),
    (["lut", "measure", "--help"], "torch|onnxruntime|cuda"),
    (["supernet", "train", "--help"], "per-image|per-batch"),
    (["export", "--help"], "auto|cpu|cuda"),
])
def test_help_lists_the_choices(argv: list[str], listed: str) -> None:
    result = runner.invoke(app, argv, env={"COLUMNS": "200"})
    assert result.exit_code == 0 and listed in result.output, result.output


def test_shell_completion_offers_the_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    # Typer detects the user's shell from the parent processes (none when the suite runs detached);
    # its test switch, read when the command is built, makes --show-completion take the shell as a value.
    monkeypatch.setenv("_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION", "1")
    script = runner.invoke(app, ["--show-completion", "bash"], prog_name="binas")
    assert script.exit_code == 0 and "_BINAS_COMPLETE=complete_bash" in script.output, (script.output, script.exception)
    env = {"_BINAS_COMPLETE": "complete_bash", "COMP_WORDS": "binas search --solver ", "COMP_CWORD": "3"}
    offered = runner.invoke(app, [], env=env, prog_name="binas")
    assert offered.output.split() == ["milp", "bcfw", "bcfw-reference", "evolution", "random"]
    env = {"_BINAS_COMPLETE": "complete_bash", "COMP_WORDS": "binas lut ", "COMP_CWORD": "2"}
    assert {"measure", "compute", "validate"} <= set(runner.invoke(app, [], env=env, prog_name="binas").output.split())


def test_space_list_json() -> None:
    result = runner.invoke(app, ["space", "list", "--json"])
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert [r["name"] for r in rows] == builtin_spaces()
    big = rows[builtin_spaces().index("mobilenetv3")]
    space = load_space("mobilenetv3")
    assert big == {"name": "mobilenetv3", "space_hash": space.space_hash, "input_size": 224, "in_channels": 3,
                   "num_classes": 1000, "stages": 5, "positions": 20, "choices": 240, "depth_options": 15,
                   "size": space.size}
    text = runner.invoke(app, ["space", "list"])
    assert text.exit_code == 0 and text.stdout.split() == builtin_spaces()


def test_bare_command_shows_help_and_exits_64() -> None:
    for argv in ([], ["lut"]):
        result = runner.invoke(app, argv)
        assert result.exit_code == 64 and "Commands" in result.output and "error:" not in result.output


def test_usage_and_data_errors_differ(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("stages: [1, 2\n")
    usage = runner.invoke(app, ["space", "show", "--spaces", str(bad)])
    data = runner.invoke(app, ["space", "show", "--space", str(bad)])
    assert usage.exit_code == 64 and usage.output.startswith("error: No such option: --spaces")
    assert data.exit_code == 2 and data.output.startswith("error: ") and str(bad) in data.output
    for result in (usage, data):
        assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
