"""kill -9 at random points of every resumable job; check artifacts, temporary files and resumed results.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/kill_test.py [--seed 0] [--work DIR] [--out FILE]
        [--kills supernet=6,lut=5,estimator=5,finetune=5,demo=3]

For each job (``supernet train``, ``lut measure``, ``estimator build``, ``finetune``, ``demo``) it runs
an uninterrupted reference, then the same command into another folder, killed with SIGKILL at a
random moment of its work (counted from when it has claimed its output, i.e. after start-up; uniform
over 5-100% of 1/(kills + 1) of the reference's work time, so each kill interrupts a slice of what is
left, including its writes), re-running it (with ``--resume`` where the command has one and there is
something to resume) until it has been killed while running as often as asked, then once more to
completion. After every kill every artifact present must be valid (JSON parses, safetensors load);
after completion there must be no temporary or lock file, and the result must equal the reference
(bit-identical weights/estimator; LUT timings cannot repeat, so the LUT is only checked to be complete
and valid). Writes a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import safetensors.torch
import torch

BIN = Path(sys.executable).parent / "binas"
ENV = dict(os.environ, OMP_NUM_THREADS="1")
TINY = (Path(__file__).resolve().parents[1] / "tests" / "data" / "tiny-8px.yaml").read_text()
DEMO = """space: SPACE
supernet: {heaviest_epochs: 1, supernet_epochs: 1, max_steps: 8, batch_size: 32, checkpoint_every: 2,
           eval_images: 64, bn_calibration_images: 64}
lut_repeats: 2
estimator_images: 50
test_subnets: 8
test_images: 64
finetune_steps: 6
eval_images: 64
latency_repeats: 2
"""


def jobs(work: Path, steps: tuple[int, int] = (40, 60)) -> dict[str, dict[str, Any]]:
    """name -> {"cmd": argv with OUT, "resume": flag or None, "ref_out": path, "compare": kind}."""
    space = str(work / "tiny.yaml")
    ref_run = str(work / "ref-supernet")
    return {
        "supernet": {"cmd": ["supernet", "train", "--space", space, "--data", "synthetic", "--batch-size", "16",
                             "--max-steps", str(steps[0]), "--checkpoint-every", "3", "--seed", "2", "--out", "OUT",
                             "--json"],
                     "resume": "--resume", "marker": "checkpoint.safetensors", "compare": "supernet"},
        "lut": {"cmd": ["lut", "measure", "--space", space, "--repeats", "40", "--warmup", "1", "--out", "OUT",
                        "--json"], "resume": None, "marker": None, "compare": "lut"},
        "estimator": {"cmd": ["estimator", "build", "--run", ref_run, "--data", "synthetic", "--images", "50",
                              "--batch-size", "10", "--out", "OUT", "--json"],
                      "resume": "--resume", "marker": "OUT.partial.json", "compare": "bytes"},
        "finetune": {"cmd": ["finetune", "--run", ref_run, "--arch", str(work / "arch.json"), "--data", "synthetic",
                             "--batch-size", "16", "--epochs", "100", "--max-steps", str(steps[1]),
                             "--checkpoint-every", "4", "--out", "OUT",
                             "--json"], "resume": "--resume", "marker": "finetune_checkpoint.safetensors",
                     "compare": "model"},
        "demo": {"cmd": ["demo", "--data", "synthetic", "--config", str(work / "demo.yaml"), "--out", "OUT",
                         "--json"], "resume": None, "marker": None, "compare": "demo"},
    }


def _argv(job: dict[str, Any], out: Path, resume: bool) -> list[str]:
    argv = [str(BIN)] + [str(out) if a == "OUT" else a for a in job["cmd"]]
    return argv + ([job["resume"]] if resume and job["resume"] else [])


def _marker(job: dict[str, Any], out: Path) -> bool:
    m = job["marker"]
    if m is None:
        return False
    path = Path(str(out) + ".partial.json") if m == "OUT.partial.json" else out / m
    return path.exists()


def _files(out: Path) -> list[Path]:
    root = out if out.is_dir() else out.parent
    return [p for p in root.rglob("*") if p.is_file()]


def check_artifacts(out: Path) -> tuple[list[str], list[str]]:
    """(corrupt artifacts, temporary/lock files) under the job's output."""
    corrupt, temps = [], []
    for p in _files(out):
        name = p.name
        if name.endswith(".tmp") or name.endswith(".lock"):
            temps.append(str(p))
            continue
        try:
            if name.endswith(".json") or name.endswith(".partial"):
                json.loads(p.read_text())
            elif name.endswith(".jsonl"):
                [json.loads(line) for line in p.read_text().splitlines() if line.strip()]
            elif name.endswith(".safetensors"):
                safetensors.torch.load_file(p)
        except Exception as exc:  # noqa: BLE001 - any failure is a corrupt artifact
            corrupt.append(f"{p}: {type(exc).__name__}")
    return corrupt, temps


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return safetensors.torch.load_file(path)


def _max_diff(a: Path, b: Path) -> float:
    x, y = _weights(a), _weights(b)
    assert x.keys() == y.keys()
    return max(float((x[k].double() - y[k].double()).abs().max()) if x[k].numel() else 0.0 for k in x)


def _estimator(path: Path) -> dict[str, Any]:
    """An estimator file without the supernet fingerprint (it hashes a file that records its own folder)."""
    obj = json.loads(path.read_text())
    obj.get("measurement", {}).pop("supernet", None)
    return obj


def compare(kind: str, ref: Path, got: Path) -> dict[str, Any]:
    if kind == "supernet":
        return {"max_abs_weight_diff": _max_diff(ref / "supernet.safetensors", got / "supernet.safetensors")}
    if kind == "model":
        return {"max_abs_weight_diff": _max_diff(ref / "model.safetensors", got / "model.safetensors")}
    if kind == "bytes":
        return {"identical_file": ref.read_bytes() == got.read_bytes()}
    if kind == "lut":
        lut = json.loads(got.read_text())
        return {"entries": sum(len(r) for r in lut["blocks"].values()),
                "complete": not Path(str(got) + ".partial").exists()}
    return {"supernet_max_abs_weight_diff": _max_diff(ref / "supernet" / "supernet.safetensors",
                                                      got / "supernet" / "supernet.safetensors"),
            "identical_estimator": _estimator(ref / "estimator.json") == _estimator(got / "estimator.json"),
            "report": (got / "report.md").is_file()}


def _outputs(work: Path, name: str) -> tuple[Path, Path]:
    """(reference, killed) outputs of a job: a folder, or a file alone in its own folder."""
    if name in ("estimator", "lut"):
        return work / f"ref-{name}" / f"{name}.json", work / f"killed-{name}" / f"{name}.json"
    return work / f"ref-{name}", work / f"killed-{name}"


def _wait_claimed(proc: subprocess.Popen, out: Path) -> float:
    """Seconds until the command has claimed ``out`` (its lock holds its PID: start-up is over)."""
    lock, t0 = out.parent / f".{out.name}.lock", time.perf_counter()
    while proc.poll() is None:  # a killed run leaves its lock file: wait for this process's PID in it
        try:
            if lock.read_text().strip() == str(proc.pid):
                break
        except OSError:
            pass
        time.sleep(0.01)
    return time.perf_counter() - t0


def run_job(name: str, job: dict[str, Any], work: Path, kills: int, rng: random.Random,
            window: tuple[float, float] | None = None) -> dict[str, Any]:
    ref, out = _outputs(work, name)
    proc = subprocess.Popen(_argv(job, ref, False), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
    startup = _wait_claimed(proc, ref)
    started = time.perf_counter()
    _, err = proc.communicate()
    assert proc.returncode == 0, err[-2000:]
    duration = time.perf_counter() - started  # the work after start-up (imports, argument checks)
    log, corrupt_seen, temps_seen = [], [], 0
    attempts = 0
    while sum(e["killed_while_running"] for e in log) < kills and attempts < 3 * kills:
        attempts += 1
        # default: a slice of the work left; --window LO,HI: that fraction of the whole work (later kills)
        delay = rng.uniform(*window) * duration if window else rng.uniform(0.05, 1.0) * duration / (kills + 1)
        resume = _marker(job, out)
        proc = subprocess.Popen(_argv(job, out, resume), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
        _wait_claimed(proc, out)
        try:
            proc.wait(timeout=delay)
            landed = False
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            landed = True
        corrupt, temps = check_artifacts(out)
        corrupt_seen += corrupt
        temps_seen += len(temps)
        log.append({"attempt": attempts, "delay_s": round(delay, 2), "resume": resume, "killed_while_running": landed,
                    "exit": proc.returncode, "temporary_files_left_by_kill": len(temps), "corrupt": corrupt})
        if not landed and proc.returncode == 0:
            break  # the job completed before its kill: nothing left to interrupt
    final = subprocess.run(_argv(job, out, _marker(job, out)), capture_output=True, text=True, env=ENV)
    corrupt, temps = check_artifacts(out)
    result = {"job": name, "reference_startup_s": round(startup, 1), "reference_work_s": round(duration, 1),
              "kills": sum(e["killed_while_running"] for e in log),
              "runs_started": len(log), "final_exit": final.returncode,
              "corrupt_artifacts": corrupt_seen + corrupt, "temporary_files_after_kills": temps_seen,
              "stale_files_after_completion": temps, "log": log}
    if final.returncode == 0:
        result.update(compare(job["compare"], ref, out))
    else:
        result["final_stderr"] = final.stderr[-1000:]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=Path("runs/kill-test"))
    parser.add_argument("--out", type=Path, default=Path("docs/kill-test.json"))
    parser.add_argument("--kills", default="supernet=6,lut=5,estimator=5,finetune=5,demo=3")
    parser.add_argument("--window", default=None, help="LO,HI: kill at a uniform fraction of the reference's "
                        "work time (default: a slice of 1/(kills + 1))")
    parser.add_argument("--steps", default="40,60", help="max steps of the supernet and finetune jobs")
    args = parser.parse_args()
    window = tuple(float(v) for v in args.window.split(",")) if args.window else None
    steps = tuple(int(v) for v in args.steps.split(","))
    counts = {k: int(v) for k, v in (item.split("=") for item in args.kills.split(","))}
    work = args.work.resolve()
    if (work / "tiny.yaml").is_file():  # a previous run of this script: start clean
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    (work / "tiny.yaml").write_text(TINY)
    (work / "demo.yaml").write_text(DEMO.replace("SPACE", str(work / "tiny.yaml")))
    from binas.codec import arch_to_json
    from binas.space import load_space

    space = load_space(work / "tiny.yaml")
    (work / "arch.json").write_text(json.dumps(arch_to_json(space, space.heaviest)))
    rng = random.Random(args.seed)
    all_jobs = jobs(work, steps)
    results = []
    for name in ("supernet", "lut", "estimator", "finetune", "demo"):
        if counts.get(name):
            res = run_job(name, all_jobs[name], work, counts[name], rng, window)
            print(json.dumps({k: v for k, v in res.items() if k != "log"}), flush=True)
            results.append(res)
    summary = {"machine": "see docs/reliability.md", "seed": args.seed, "args": vars(args) | {"work": str(work),
                                                                                               "out": str(args.out)},
               "total_kills": sum(r["kills"] for r in results),
               "corrupt_artifacts": sum(len(r["corrupt_artifacts"]) for r in results),
               "stale_files_after_completion": sum(len(r["stale_files_after_completion"]) for r in results),
               "jobs": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "jobs"}))


if __name__ == "__main__":
    main()
