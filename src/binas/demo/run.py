"""`binas demo`'s steps in order, each skipped when its artifact exists (docs/demo.md)."""

from __future__ import annotations

import time
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any, Callable

from binas.codec import format_timm
from binas.demo.compare import candidates, one_shot_data, plan_networks, train_all
from binas.demo.config import SOURCE_FILE, DemoConfig, check_demo_config, check_same_demo, train_config
from binas.demo.pool import in_processes, timed
from binas.demo.report import write_report
from binas.demo.timing import measure_latency, measure_this_lut
from binas.errors import BinasError
from binas.estimator.form import load_estimator
from binas.estimator.measure import BuildConfig
from binas.estimator.pipeline import build_estimator, sample_subnets
from binas.estimator.samples import Sample, read_samples, write_samples
from binas.io import atomic_write_json, read_json
from binas.lut.table import Lut, load_lut
from binas.pretrained import packaged_path, unpack_supernet
from binas.search.pareto import pareto_front
from binas.search.problem import build_problem
from binas.space import SearchSpace, load_space
from binas.supernet.store import FINAL_NAME, load_supernet
from binas.supernet.train.loop import CHECKPOINT_NAME, train_supernet

__all__ = ["run_demo"]


class _Steps:
    """Runs named steps, skipping those whose artifact exists, and reports progress on stderr.

    The seconds a step took when it ran are kept in ``timings.json`` (a resumed demo reports them, not
    the time it took to reuse the artifact); a step whose run was not recorded shows as ``None``. Its
    ``total`` is the wall-clock time of the steps that ran: steps run side by side overlap in it.
    """

    def __init__(self, log: Callable[[str], None], record: Path) -> None:
        self.log, self.record = log, record
        self.timings: dict[str, float | None] = read_json(record, "demo timings") if record.is_file() else {}

    def run(self, name: str, artifact: Path, make: Callable[[], Any]) -> Path:
        started = time.perf_counter()
        if artifact.exists():
            self.log(f"[{name}] reusing {artifact}")
            self.timings.setdefault(name, None)
            return artifact
        self.log(f"[{name}] ...")
        make()
        self.timings[name] = round(time.perf_counter() - started, 1)
        self._add_wall(started)
        self.log(f"[{name}] done in {self.timings[name]:.1f} s")
        return artifact

    def _add_wall(self, started: float) -> None:
        total = self.timings.pop("total", None) or 0.0  # kept last in the file
        self.timings["total"] = round(total + time.perf_counter() - started, 1)
        atomic_write_json(self.record, self.timings)

    def run_together(self, steps: list[tuple[str, Path, Callable[[], Any]]], workers: int) -> list[Path]:
        """Independent steps side by side in ``workers`` processes; each keeps its own time."""
        todo = [(name, make) for name, artifact, make in steps if not artifact.exists()]
        for name, artifact, _ in steps:
            if artifact.exists():
                self.log(f"[{name}] reusing {artifact}")
                self.timings.setdefault(name, None)
        if todo:
            self.log(f"[{' + '.join(n for n, _ in todo)}] ... (side by side)")
            started = time.perf_counter()
            for (name, _), seconds in zip(todo, in_processes([partial(timed, make) for _, make in todo], workers)):
                self.timings[name] = seconds
                self.log(f"[{name}] done in {seconds:.1f} s")
            self._add_wall(started)
        return [artifact for _, artifact, _ in steps]


def _supernet(cfg: DemoConfig, run: Path, quiet: bool) -> None:
    """Train the supernet here (``train``) or unpack the shipped one (``pretrained``) into ``run``."""
    run.mkdir(parents=True, exist_ok=True)
    if cfg.train:
        started = time.perf_counter()
        train_supernet(train_config(cfg, run), resume=(run / CHECKPOINT_NAME).is_file(), progress=not quiet)
        source = {"path": "train", "recipe": dict(cfg.supernet), "train_seconds": round(time.perf_counter() - started)}
    else:
        packed = Path(cfg.pretrained) if cfg.pretrained else packaged_path()
        info = unpack_supernet(packed, run / FINAL_NAME)
        source = {"path": "pretrained", "file": str(packed), **info}
    atomic_write_json(run / SOURCE_FILE, source)


def _check_source(cfg: DemoConfig, run: Path) -> dict[str, Any]:
    """The recorded source of the supernet in ``run``; refuses a run made by the other path."""
    source = read_json(run / SOURCE_FILE, "demo supernet record")
    wanted = "train" if cfg.train else "pretrained"
    if source.get("path") != wanted:
        raise BinasError(f"{run.parent} holds a demo run of the {source.get('path')!r} path, not {wanted!r}; "
                         "choose another --out")
    return source


def _sample(run: Path, cfg: DemoConfig, path: Path) -> None:
    """One-shot accuracy of ``test_subnets`` random subnets on the first ``test_images`` test images."""
    net = load_supernet(run).eval()
    x, y = one_shot_data(net.space, cfg)
    write_samples(path, net.space, sample_subnets(net, x, y, cfg.test_subnets, seed=cfg.seed + 1, batch_size=500))


def _with_latency(space: SearchSpace, samples: list[Sample], lut: Lut) -> list[Sample]:
    """``samples`` with their LUT latency among their resources."""
    return [Sample(s.arch, s.accuracy, {**s.resources, lut.resource: float(lut.value(space, s.arch))})
            for s in samples]


def run_demo(cfg: DemoConfig, log: Callable[[str], None] = lambda _m: None, quiet: bool = False) -> dict[str, Any]:
    """Run (or continue) the whole demo; returns the headline numbers and the paths of every artifact."""
    check_demo_config(cfg)
    out = Path(cfg.out)
    space = load_space(cfg.space)
    out.mkdir(parents=True, exist_ok=True)
    check_same_demo(cfg, out)
    steps = _Steps(log, out / "timings.json")
    run = out / "supernet"
    steps.run("supernet", run / SOURCE_FILE, lambda: _supernet(cfg, run, quiet))
    source = _check_source(cfg, run)
    if load_supernet(run).space.space_hash != space.space_hash:
        raise BinasError(f"the demo supernet in {run} is not for space {space.name!r}")
    build = BuildConfig(images=cfg.estimator_images, crn=cfg.estimator_method == "differences", seed=cfg.seed)
    est, samples_path = steps.run_together([
        ("estimator", out / "estimator.json", partial(build_estimator, run, cfg.data, out / "estimator.json", build,
                                                      method=cfg.estimator_method, data_dir=cfg.data_dir, resume=True)),
        ("held-out subnets", out / "test_samples.jsonl", partial(_sample, run, cfg, out / "test_samples.jsonl")),
    ], cfg.workers)
    form = load_estimator(est, space)
    # the LUT is taken right before the latency step times every network that may be compared: minutes
    # of one-shot work between them would let a shared machine's speed drift (docs/demo.md)
    lut_path = steps.run("lut", out / "lut_latency.json",
                         lambda: measure_this_lut(space, cfg, out / "lut_latency.json"))
    lut = load_lut(lut_path, space)
    samples = _with_latency(space, read_samples(samples_path, space), lut)
    budgets = candidates(space, form, lut, samples, cfg)
    to_time = list(dict.fromkeys(format_timm(space, a) for b in budgets for a in b.architectures()))
    latency = steps.run("latency", out / "latency.json", lambda: measure_latency(  # right after the LUT
        space, lut, to_time, cfg, out / "latency.json"))
    plan_path = steps.run("verify", out / "plan.json",
                          lambda: plan_networks(space, run, form, lut, budgets, cfg, out / "plan.json"))
    plan = read_json(plan_path, "demo plan")
    nets_dir = out / "nets"
    steps.run("same training", nets_dir / "results.json", lambda: (
        train_all(run, plan["networks"], cfg, nets_dir, log),
        atomic_write_json(nets_dir / "results.json",
                          {n["name"]: read_json(nets_dir / n["name"] / "result.json") for n in plan["networks"]})))
    front = pareto_front(build_problem(space, form, [lut]))
    summary = write_report(out, space, form, lut, samples, plan, read_json(nets_dir / "results.json"),
                           read_json(latency), front, source, steps.timings, asdict(cfg))
    return {**summary["headline"], "out": str(out), "report": str(out / "report.md"),
            "summary": str(out / "summary.json"), "supernet": str(run / FINAL_NAME), "lut": str(lut_path),
            "estimator": str(est), "test_samples": str(samples_path), "plan": str(plan_path),
            "latency": str(latency)}

