"""Tables of bad inputs over every command group (docs/reliability.md).

Each row runs the CLI in-process and asserts: the exit code (2 for bad data or values, 64 for a usage
error: an unknown or missing option, a value of the wrong type, out of range or not among the choices),
no traceback (the only exception is the CLI's own exit), exactly one ``error:`` line that names the
file, field, option or value, and nothing created, changed or left anywhere in the workspace (outputs,
locks, temporary files, folders).
"""

from __future__ import annotations

import json
import os
import re
import struct
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch
from typer.testing import CliRunner

from binas.cli import app
from binas.codec import arch_to_json
from binas.deploy.export import save_model
from binas.deploy.finetune import FinetuneConfig, finetune
from binas.estimator.samples import Sample, write_samples
from binas.lut.table import analytic_lut
from binas.search.synthetic import synthetic_contributions, synthetic_lut
from binas.space import load_space
from binas.supernet.model import Supernet, extract_child
from binas.supernet.store import save_supernet
from binas.supernet.train import load_config, train_supernet

runner = CliRunner()

TINY = (Path(__file__).parent / "data" / "tiny-8px.yaml").read_text()
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefg", "bcdefgh"))


def _idx(path: Path, dims: tuple[int, ...], values: np.ndarray) -> None:
    path.write_bytes(bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims)
                     + values.astype(np.uint8).tobytes())


@pytest.fixture(scope="module")
def w(tmp_path_factory) -> Path:
    """A workspace of good and bad files (built once; every row must leave it untouched)."""
    w = tmp_path_factory.mktemp("w")
    (w / "tiny.yaml").write_text(TINY)
    space = load_space(w / "tiny.yaml")
    rng = np.random.default_rng(0)
    # a finished supernet run (2 + 2 steps) and a finished fine-tuning of its smallest network
    train_supernet(load_config(None, space=str(w / "tiny.yaml"), data="synthetic", out=str(w / "run"),
                               batch_size=32, max_steps=2, checkpoint_every=1, eval_images=32,
                               bn_calibration_images=0, seed=1), progress=False)
    arch = space.smallest
    (w / "arch.json").write_text(json.dumps(arch_to_json(space, arch)))
    (w / "heaviest.json").write_text(json.dumps(arch_to_json(space, space.heaviest)))
    finetune(w / "run", arch, w / "ft", FinetuneConfig(data="synthetic", batch_size=32, max_steps=2), progress=False)
    # tables and estimators
    synthetic_contributions(space, rng).save(w / "est.json")
    synthetic_lut(space, rng).save(w / "lat.json")
    analytic_lut(space, "params").save(w / "par.json")
    write_samples(w / "samples.jsonl", space, [Sample(space.sample(rng), float(rng.uniform(30, 60)))
                                              for _ in range(12)])
    # files that lie or attack
    (w / "afile").write_text("x")
    (w / "adir").mkdir()
    os.mkfifo(w / "fifo")
    (w / "bomb.yaml").write_text(BOMB)
    (w / "rec.yaml").write_text("a: &a [*a]\n")
    (w / "markup.yaml").write_text("'[red]oops[/red]': 1\n")
    (w / "wide.yaml").write_text(TINY.replace("out_channels: 16", "out_channels: 1000000000"))
    (w / "deep.yaml").write_text(TINY.replace("depths: [1, 2], choices: [e1k3",
                                              "depth: [1, 1000000000], choices: [e1k3"))
    (w / "bigchoice.yaml").write_text(TINY.replace("e3k5se", "e99999999999999k3"))
    (w / "nan.json").write_text(re.sub(r'"fixed": [0-9.e+-]+', '"fixed": NaN', (w / "lat.json").read_text()))
    (w / "deep.json").write_text("[" * 100000 + "]" * 100000)
    for name, space_field in (("pathspace_est.json", "/etc/passwd"),):
        obj = json.loads((w / "est.json").read_text())
        obj["space"] = space_field
        (w / name).write_text(json.dumps(obj))
    arch_obj = json.loads((w / "arch.json").read_text())
    (w / "pathspace_arch.json").write_text(json.dumps({**arch_obj, "space": str(w / "tiny.yaml")}))
    lut_obj = json.loads((w / "lat.json").read_text())
    (w / "pathspace_lut.json").write_text(json.dumps({**lut_obj, "space": "/etc/passwd"}))
    (w / "threads_lut.json").write_text(json.dumps({**lut_obj, "meta": {**lut_obj["meta"], "backend": "torch",
                                                                         "threads": 10**9}}))
    base = {"format": "binas.estimator/1", "space": "train-test", "space_hash": space.space_hash,
            "parameters": {}, "weights_sha256": "0" * 64}
    (w / "up_est.json").write_text(json.dumps({**base, "kind": "mlp", "weights": "../../x"}))
    (w / "abs_est.json").write_text(json.dumps({**base, "kind": "mlp", "weights": "/etc/passwd"}))
    (w / "up_ab.json").write_text(json.dumps({**base, "kind": "autobuild", "weights": "../x", "config": {},
                                              "vocab": None}))
    # a model whose metadata declares a huge head but holds the small tensors
    child = extract_child(Supernet(space), arch)
    save_model(w / "model", space, arch, child)
    tensors = safetensors.torch.load_file(w / "model" / "model.safetensors")
    with open(w / "model" / "model.safetensors", "rb") as f:
        meta = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))["__metadata__"]
    spec = json.loads(meta["space"])
    spec["head"]["features"] = 16000
    meta["space"] = json.dumps(spec)
    (w / "hugehead").mkdir()
    safetensors.torch.save_file(tensors, w / "hugehead" / "model.safetensors", meta)
    # data whose labels are outside the model's classes (Fashion-MNIST IDX layout)
    (w / "badlabels").mkdir()
    for prefix, n in (("train", 64), ("t10k", 32)):
        _idx(w / "badlabels" / f"{prefix}-images-idx3-ubyte", (n, 28, 28), rng.integers(0, 255, (n, 28, 28)))
        _idx(w / "badlabels" / f"{prefix}-labels-idx1-ubyte", (n,), np.full(n, 200))
    # configs with invalid values
    (w / "nan_kd.yaml").write_text("kd_weight: .nan\n")
    (w / "demo_nan.yaml").write_text("supernet: {kd_weight: .nan}\n")
    (w / "demo_zero.yaml").write_text("lut_repeats: 0\n")
    (w / "demo_unknown.yaml").write_text("colour: blue\n")
    (w / "demo_q.yaml").write_text("budget_quantiles: [2.0]\n")
    (w / "demo_list.yaml").write_text("supernet: [1, 2]\n")
    (w / "csv.csv").write_text("key,choice,value\n1.1,e2k3,abc\n")
    return w


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            out[str(p.relative_to(root))] = (st.st_size, st.st_mtime_ns) if p.is_file() else (0, 0)
    return out


T = "{w}/tiny.yaml"
NEW = "{w}/new/out"  # a path that does not exist: a refused command must not create it (or new/)
SN = ["--space", T, "--data", "synthetic"]
RUN = "{w}/run"
FT = ["finetune", "--run", RUN, "--arch", "{w}/arch.json", "--data", "synthetic", "--batch-size", "32",
      "--max-steps", "2"]
EV = ["evaluate", "--model", "{w}/model", "--data", "synthetic", "--repeats", "1"]
S_E = ["--estimator", "{w}/est.json", "--space", T]

# (id, argv, fragment the one error sentence must contain)
CASES = [
    # ---- space
    ("space-unknown", ["space", "show", "--space", "nope"], "unknown search space 'nope'"),
    ("space-bomb", ["space", "show", "--space", "{w}/bomb.yaml"], "aliases are expanded"),
    ("space-recursive", ["space", "show", "--space", "{w}/rec.yaml"], "recursive alias"),
    ("space-fifo", ["space", "show", "--space", "{w}/fifo"], "not a regular file"),
    ("space-folder", ["space", "show", "--space", "{w}/adir"], "is a folder"),
    ("space-markup", ["space", "show", "--space", "{w}/markup.yaml"], "[red]oops[/red]"),
    ("space-wide", ["space", "show", "--space", "{w}/wide.yaml"], "'out_channels' must be an integer"),
    ("space-deep", ["space", "show", "--space", "{w}/deep.yaml"], "'depth' must be [min, max]"),
    ("space-choice", ["space", "show", "--space", "{w}/bigchoice.yaml"], "invalid choice id"),
    # ---- arch
    ("arch-repeat", ["arch", "info", "--space", T, "[['ir_r999999999_k3_s2_e2_c8'], ['ir_r1_k3_s1_e1_c16']]"],
     "repeat must be in 1..64"),
    ("arch-space-path", ["arch", "info", "{w}/pathspace_arch.json"], "not built in"),
    ("arch-fifo", ["arch", "info", "{w}/fifo"], "not a regular file"),
    ("arch-garbage", ["arch", "info", "garbage"], "neither an architecture string"),
    ("arch-brackets", ["arch", "info", "[[["], "malformed architecture string"),
    ("arch-long", ["arch", "info", "[" + "['x']," * 20000 + "]"], "at most 65,536"),
    ("arch-lut-fifo", ["arch", "info", "{w}/arch.json", "--space", T, "--lut", "{w}/fifo"], "not a regular file"),
    ("arch-lut-nan", ["arch", "info", "{w}/arch.json", "--space", T, "--lut", "{w}/nan.json"], "non-finite"),
    ("arch-depths", ["arch", "info", '{"format": "binas.arch/1", "depths": [99, 1], "blocks": [[], []]}', "--space",
                     T], "depth"),
    # ---- supernet
    ("sn-out-file", ["supernet", "train", *SN, "--out", "{w}/afile"], "is not a folder"),
    ("sn-out-under-file", ["supernet", "train", *SN, "--out", "{w}/afile/run"], "is a file, not a folder"),
    ("sn-out-proc", ["supernet", "train", *SN, "--out", "/proc/binas-run"], "cannot write --out"),
    ("sn-resume-typo", ["supernet", "train", *SN, "--resume", "--out", NEW], "nothing to resume"),
    ("sn-config-bomb", ["supernet", "train", "--config", "{w}/bomb.yaml", "--out", NEW], "aliases"),
    ("sn-config-fifo", ["supernet", "train", "--config", "{w}/fifo", "--out", NEW], "not a regular file"),
    ("sn-config-nan", ["supernet", "train", *SN, "--config", "{w}/nan_kd.yaml", "--out", NEW], "kd_weight"),
    ("sn-lr-nan", ["supernet", "train", *SN, "--lr", "nan", "--out", NEW], "lr must be a finite number"),
    ("sn-batch-0", ["supernet", "train", *SN, "--batch-size", "0", "--out", NEW], "batch_size must be >= 1"),
    ("sn-classes", ["supernet", "train", "--space", T, "--data", "{w}/badlabels", "--out", NEW],
     "has 10 classes but the model has only 4"),
    ("sn-labels", ["supernet", "train", "--space", "mobilenetv3-tiny", "--data", "{w}/badlabels", "--out", NEW],
     "label(s) outside 0..9 (e.g. 200)"),
    ("sn-resume-seed", ["supernet", "train", "--resume", "--out", RUN, "--seed", "9"], "seed was 1, now 9"),
    ("sn-resume-lr", ["supernet", "train", "--resume", "--out", RUN, "--lr", "0.5"], "lr was 0.1, now 0.5"),
    ("sn-resume-batch", ["supernet", "train", "--resume", "--out", RUN, "--batch-size", "16"], "batch_size was 32"),
    ("sn-resume-subset", ["supernet", "train", "--resume", "--out", RUN, "--train-subset", "100"],
     "train_subset was None, now 100"),
    ("sn-resume-space", ["supernet", "train", "--resume", "--out", RUN, "--space", "mobilenetv3-tiny"],
     "space was"),
    ("sn-resume-config", ["supernet", "train", "--resume", "--out", RUN, "--config", "{w}/nan_kd.yaml"],
     "kd_weight"),
    ("sn-fresh-over-run", ["supernet", "train", "--config", RUN + "/config.yaml", "--out", RUN], "pass --resume"),
    # ---- lut
    ("lut-out-folder", ["lut", "compute", "--space", T, "--out", "{w}/adir"], "is a folder"),
    ("lut-out-under-file", ["lut", "compute", "--space", T, "--out", "{w}/afile/x.json"], "is a file"),
    ("lut-threads-0", ["lut", "measure", "--space", T, "--threads", "0", "--out", NEW], "--threads must be"),
    ("lut-batch-huge", ["lut", "measure", "--space", T, "--batch-size", "100000000", "--out", NEW], "at most"),
    ("lut-validate-fifo", ["lut", "validate", "--lut", "{w}/fifo", "--space", T], "not a regular file"),
    ("lut-validate-nan", ["lut", "validate", "--lut", "{w}/nan.json", "--space", T], "non-finite"),
    ("lut-validate-space-path", ["lut", "validate", "--lut", "{w}/pathspace_lut.json"], "not built in"),
    ("lut-import-fifo", ["lut", "import", "--space", T, "--csv", "{w}/fifo", "--out", NEW], "not a regular file"),
    ("lut-import-value", ["lut", "import", "--space", T, "--csv", "{w}/csv.csv", "--out", NEW], "abc"),
    ("lut-export-out-file", ["lut", "export-blocks", "--space", T, "--out", "{w}/afile"], "is not a folder"),
    ("lut-validate-plot-folder", ["lut", "validate", "--lut", "{w}/lat.json", "--space", T, "--plot",
                                  "{w}/adir"], "--plot"),
    # ---- estimator
    ("est-build-out-folder", ["estimator", "build", "--run", RUN, "--out", "{w}/adir"], "is a folder"),
    ("est-build-no-run", ["estimator", "build", "--run", "{w}/nowhere", "--data", "synthetic", "--out", NEW],
     "does not exist"),
    ("est-build-resume-typo", ["estimator", "build", "--run", RUN, "--resume", "--out", NEW], "nothing to resume"),
    ("est-build-labels", ["estimator", "build", "--run", RUN, "--data", "{w}/badlabels", "--out", NEW],
     "has 10 classes but the model has only 4"),
    ("est-build-batch", ["estimator", "build", "--run", RUN, "--batch-size", "0", "--out", NEW], "--batch-size"),
    ("est-fit-fifo", ["estimator", "fit", "--space", T, "--samples", "{w}/fifo", "--kind", "linear", "--out", NEW],
     "not a regular file"),
    ("est-fit-ridge", ["estimator", "fit", "--space", T, "--samples", "{w}/samples.jsonl", "--kind", "linear",
                       "--ridge", "-1", "--out", NEW], "--ridge must be a positive"),
    ("est-eval-sidecar-up", ["estimator", "eval", "--estimator", "{w}/up_est.json", "--space", T, "--samples",
                             "{w}/samples.jsonl"], "'../../x'"),
    ("est-eval-sidecar-abs", ["estimator", "eval", "--estimator", "{w}/abs_est.json", "--space", T, "--samples",
                              "{w}/samples.jsonl"], "'/etc/passwd' must be a plain file name"),
    ("est-eval-space-path", ["estimator", "eval", "--estimator", "{w}/pathspace_est.json", "--samples",
                             "{w}/samples.jsonl"], "'/etc/passwd', which is not built in"),
    ("est-eval-plot-under-file", ["estimator", "eval", *S_E, "--samples", "{w}/samples.jsonl", "--plot",
                                  "{w}/afile/p.png"], "is a file"),
    # ---- search
    ("search-max-text", ["search", *S_E, "--lut", "{w}/lat.json", "--max", "latency=abc"], "NAME=VALUE"),
    ("search-max-nan", ["search", *S_E, "--lut", "{w}/lat.json", "--max", "latency=nan"], "finite number"),
    ("search-out-folder", ["search", *S_E, "--lut", "{w}/lat.json", "--max", "latency=5", "--out", "{w}/adir"],
     "is a folder"),
    ("search-out-under-file", ["search", *S_E, "--lut", "{w}/lat.json", "--max", "latency=5", "--out",
                               "{w}/afile/a.json"], "is a file"),
    ("search-est-fifo", ["search", "--estimator", "{w}/fifo", "--space", T, "--lut", "{w}/lat.json"],
     "not a regular file"),
    ("search-est-deep", ["search", "--estimator", "{w}/deep.json", "--space", T, "--lut", "{w}/lat.json"],
     "nests too deeply"),
    ("search-markup-path", ["search", "--estimator", "{w}/[red]x[/red].json", "--space", T, "--lut",
                            "{w}/lat.json"], "[red]x[/red].json"),
    ("search-infeasible", ["search", *S_E, "--lut", "{w}/lat.json", "--max", "latency=0.0001"], "infeasible"),
    # ---- pareto
    ("pareto-plot-folder", ["pareto", *S_E, "--lut", "{w}/lat.json", "--out", NEW, "--plot", "{w}/adir"],
     "--plot"),
    ("pareto-plot-under-file", ["pareto", *S_E, "--lut", "{w}/lat.json", "--out", NEW, "--plot",
                                "{w}/afile/f.png"], "is a file"),
    ("pareto-lut-nan", ["pareto", *S_E, "--lut", "{w}/nan.json"], "non-finite"),
    ("pareto-lut-other-space", ["pareto", "--estimator", "{w}/est.json", "--space", "mobilenetv3-tiny", "--lut",
                                "{w}/lat.json"], "made for space"),
    # ---- insights
    ("insights-out-file", ["insights", *S_E, "--out", "{w}/afile"], "is not a folder"),
    ("insights-space-path", ["insights", "--estimator", "{w}/pathspace_est.json", "--out", NEW], "not built in"),
    ("insights-lut-fifo", ["insights", *S_E, "--lut", "{w}/fifo", "--out", NEW], "not a regular file"),
    ("insights-autobuild-kind", ["insights", *S_E, "--autobuild", "{w}/up_est.json", "--out", NEW],
     "not an AutoBuild model"),
    # ---- autobuild
    ("ab-not-autobuild", ["autobuild", *S_E, "--out", NEW], "not an AutoBuild model"),
    ("ab-sidecar", ["autobuild", "--estimator", "{w}/up_ab.json", "--space", T, "--out", NEW],
     "'../x' must be a plain file name"),
    ("ab-out-file", ["autobuild", *S_E, "--out", "{w}/afile"], "is not a folder"),
    ("ab-pool", ["autobuild", *S_E, "--pool", "0", "--out", NEW], "--pool must be at least 1"),
    ("ab-space-path", ["autobuild", "--estimator", "{w}/pathspace_est.json", "--out", NEW], "not built in"),
    # ---- export
    ("export-no-run", ["export", "--run", "{w}/nowhere", "--arch", "{w}/arch.json", "--out", NEW],
     "does not exist"),
    ("export-bad-arch", ["export", "--run", RUN, "--arch", "[['bad']]", "--out", NEW], "architecture"),
    ("export-out-file", ["export", "--run", RUN, "--arch", "{w}/arch.json", "--out", "{w}/afile"],
     "is not a folder"),
    ("export-repeat", ["export", "--run", RUN, "--arch", "[['ir_r999999999_k3_s2_e2_c8'], ['ir_r1_k3_s1_e1_c16']]",
                       "--out", NEW], "repeat must be in"),
    ("export-labels", ["export", "--run", RUN, "--arch", "{w}/arch.json", "--recalibrate-bn", "8", "--data",
                       "{w}/badlabels", "--out", NEW], "has 10 classes but the model has only 4"),
    ("export-supernet-fifo", ["export", "--run", "{w}/fifo", "--arch", "{w}/arch.json", "--out", NEW],
     "not a regular file"),
    # ---- finetune
    ("ft-kd-nan", [*FT, "--kd-weight", "nan", "--out", NEW], "kd_weight must be a finite number"),
    ("ft-lr-inf", [*FT, "--lr", "inf", "--out", NEW], "lr must be a finite number"),
    ("ft-batch-0", [*FT, "--batch-size", "0", "--out", NEW], "batch_size must be >= 1"),
    ("ft-ema", [*FT, "--ema-decay", "1.5", "--out", NEW], "ema_decay"),
    ("ft-resume-typo", [*FT, "--resume", "--out", NEW], "nothing to resume"),
    ("ft-resume-lr", [*FT, "--resume", "--lr", "0.5", "--out", "{w}/ft"], "lr was 0.02, now 0.5"),
    ("ft-resume-arch", ["finetune", "--run", RUN, "--arch", "{w}/heaviest.json", "--data", "synthetic",
                        "--batch-size", "32", "--max-steps", "2", "--resume", "--out", "{w}/ft"], "arch was"),
    ("ft-resume-seed", [*FT, "--resume", "--seed", "4", "--out", "{w}/ft"], "seed was 0, now 4"),
    ("ft-fresh-over", [*FT, "--out", "{w}/ft"], "pass --resume"),
    ("ft-labels", ["finetune", "--run", RUN, "--arch", "{w}/arch.json", "--data", "{w}/badlabels", "--out", NEW],
     "has 10 classes but the model has only 4"),
    ("ft-out-file", [*FT, "--out", "{w}/afile"], "is not a folder"),
    # ---- evaluate
    ("eval-no-model", ["evaluate", "--model", "{w}/nowhere"], "does not exist"),
    ("eval-huge-head", ["evaluate", "--model", "{w}/hugehead", "--data", "synthetic"], "expected (16000, 16"),
    ("eval-model-fifo", ["evaluate", "--model", "{w}/fifo"], "not a regular file"),
    ("eval-lut-nan", [*EV, "--lut", "{w}/nan.json"], "non-finite"),
    ("eval-labels", ["evaluate", "--model", "{w}/model", "--data", "{w}/badlabels"],
     "has 10 classes but the model has only 4"),
    ("eval-lut-threads", [*EV, "--lut", "{w}/threads_lut.json"], "timing settings are invalid"),
    # ---- demo
    ("demo-out-file", ["demo", "--out", "{w}/afile"], "is not a folder"),
    ("demo-config-bomb", ["demo", "--config", "{w}/bomb.yaml", "--out", NEW], "aliases"),
    ("demo-config-fifo", ["demo", "--config", "{w}/fifo", "--out", NEW], "not a regular file"),
    ("demo-kd-nan", ["demo", "--config", "{w}/demo_nan.yaml", "--out", NEW], "kd_weight must be a finite"),
    ("demo-repeats-0", ["demo", "--config", "{w}/demo_zero.yaml", "--out", NEW], "lut_repeats"),
    ("demo-unknown", ["demo", "--config", "{w}/demo_unknown.yaml", "--out", NEW], "colour"),
    ("demo-quantile", ["demo", "--config", "{w}/demo_q.yaml", "--out", NEW], "budget_quantiles"),
    ("demo-supernet-list", ["demo", "--config", "{w}/demo_list.yaml", "--out", NEW], "'supernet' must be a mapping"),
]


# usage errors: Click refuses these before the command runs (exit 64)
USAGE_CASES = [
    ("unknown-flag", ["search", *S_E, "--lut", "{w}/lat.json", "--maximum", "latency=5"], "No such option: --maximum"),
    ("unknown-top-flag", ["--verbose", "space", "list"], "No such option: --verbose"),
    ("missing-option", ["search", "--lut", "{w}/lat.json"], "Missing option '--estimator'"),
    ("missing-argument", ["arch", "info"], "Missing argument 'arch'"),
    ("extra-argument", ["space", "show", "extra"], "unexpected extra argument"),
    ("images-text", ["estimator", "build", "--run", RUN, "--images", "abc", "--out", NEW],
     "Invalid value for '--images'"),
    ("sn-stage", ["supernet", "train", *SN, "--stage", "sideways", "--out", NEW],
     "'sideways' is not one of 'heaviest', 'supernet', 'both'"),
    ("lut-compute-latency", ["lut", "compute", "--space", T, "--resource", "latency", "--out", NEW],
     "'latency' is not one of 'params', 'macs'"),
    ("est-build-convention", ["estimator", "build", "--run", RUN, "--convention", "odd", "--out", NEW],
     "'odd' is not one of 'reference', 'conditional'"),
    ("est-fit-kind", ["estimator", "fit", "--space", T, "--samples", "{w}/samples.jsonl", "--kind", "magic",
                      "--out", NEW], "Invalid value for '--kind'"),
    ("est-sample-split", ["estimator", "sample", "--run", RUN, "--split", "train", "--out", NEW],
     "'train' is not one of 'heldout', 'test'"),
    ("search-solver", ["search", *S_E, "--lut", "{w}/lat.json", "--max", "latency=5", "--solver", "oracle"],
     "'oracle' is not one of"),
    ("export-device", ["export", "--run", RUN, "--arch", "{w}/arch.json", "--device", "tpu", "--out", NEW],
     "'tpu' is not one of 'auto', 'cpu', 'cuda'"),
    ("export-bn-negative", ["export", "--run", RUN, "--arch", "{w}/arch.json", "--recalibrate-bn", "-1", "--out",
                            NEW], "Invalid value for '--recalibrate-bn'"),
    ("eval-limit-negative", [*EV, "--limit", "-5"], "Invalid value for '--limit'"),
    ("eval-limit-zero", [*EV, "--limit", "0"], "Invalid value for '--limit'"),
]


def test_the_table_is_large_and_covers_every_group() -> None:
    groups = {argv[0] for _, argv, _ in CASES}
    assert len(CASES) >= 80
    assert groups >= {"space", "arch", "supernet", "lut", "estimator", "search", "pareto", "insights", "export",
                      "finetune", "evaluate", "autobuild", "demo"}


def _refused(w: Path, argv: list[str], fragment: str, code: int) -> None:
    before = _snapshot(w)
    result = runner.invoke(app, [a.replace("{w}", str(w)) for a in argv])
    text = result.output
    assert result.exit_code == code, text
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in text
    errors = [line for line in text.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, text
    assert fragment.replace("{w}", str(w)) in " ".join(text.split()), text
    assert _snapshot(w) == before, "the refused command created or changed files"


@pytest.mark.parametrize("argv, fragment", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input(w: Path, argv: list[str], fragment: str) -> None:
    _refused(w, argv, fragment, 2)


@pytest.mark.parametrize("argv, fragment", [c[1:] for c in USAGE_CASES], ids=[c[0] for c in USAGE_CASES])
def test_usage_error(w: Path, argv: list[str], fragment: str) -> None:
    _refused(w, argv, fragment, 64)
