"""Stand-alone ground truth: train many architectures from scratch, one JSON line per run.

The job list is deterministic (``jobs``): uniform samples of the space (the first ``--second-seed``
of them also with seed 1), the heaviest network and the hand-scaled ladder of uniform networks.
Each process takes every ``n``-th job (``--shard i/n``), runs with one thread, and appends its
result under a file lock; a re-run skips what the file already holds (resume after a kill), and a
truncated last line left by a kill is cut before the next append.

    # two shards side by side, one thread each (docs/ground-truth.md)
    OMP_NUM_THREADS=1 python benchmarks/ground_truth.py --shard 0/2 &
    OMP_NUM_THREADS=1 python benchmarks/ground_truth.py --shard 1/2 &
    # reproduce one line (prints it; writes nothing)
    OMP_NUM_THREADS=1 python benchmarks/ground_truth.py --only 7 --seed 1
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import platform
import sys
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from binas.baselines import uniform_archs
from binas.codec import format_timm, parse_timm
from binas.data import load_data
from binas.deploy.standalone import StandaloneRecipe, train_standalone
from binas.errors import BinasError
from binas.io import atomic_write_bytes
from binas.lut.table import load_lut
from binas.lut.timing import cpu_name
from binas.space import Architecture, SearchSpace, load_space
from binas.space.cost import network_cost

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "docs" / "ground-truth" / "ground-truth-fmnist-tiny.jsonl"
DEFAULT_LUT = ROOT / "docs" / "ground-truth" / "lut-latency.json"
DEFAULT_EXTRA = ROOT / "docs" / "ground-truth" / "extra-archs.jsonl"  # networks found by the searches
SAMPLE_SEED = 2026
LADDER_CHOICES = ("e3k3", "e4k3", "e4k5", "e6k3", "e6k5")  # MobileNetV2-like blocks (no SE)


def architectures(space: SearchSpace, n_samples: int, extra: Path | None = None) -> list[tuple[str, Architecture]]:
    """``(kind, arch)`` in job order: uniform samples, the heaviest, the hand-scaled ladder, then the
    new networks among the lines of ``extra`` (``{"kind": "found:METHOD@BUDGET", "arch": timm string}``,
    appended by ground_truth_search.py)."""
    rng = np.random.default_rng(SAMPLE_SEED)
    out = [("sample", space.sample(rng)) for _ in range(n_samples)]
    out.append(("heaviest", space.heaviest))
    out += [("baseline", a) for a in uniform_archs(space) if a.blocks[0][0] in LADDER_CHOICES]
    if extra is not None and extra.exists():
        seen = {format_timm(space, a) for _, a in out}
        for row in read_lines(extra):  # a network found by several methods is trained once
            if row["arch"] not in seen:
                seen.add(row["arch"])
                out.append((row["kind"], parse_timm(space, row["arch"])))
    return out


def jobs(n_archs: int, second_seed: int, repeat: tuple[int, ...] = ()) -> list[tuple[int, int]]:
    """``(arch index, seed)`` in run order: the seed pairs first, so seed agreement is known early, then
    every architecture once, then seed 1 of the ``repeat`` architectures (e.g. the searches' networks)."""
    first = [(i, s) for i in range(min(second_seed, n_archs)) for s in (0, 1)]
    again = [(i, 1) for i in dict.fromkeys(repeat) if second_seed <= i < n_archs]
    return first + [(i, 0) for i in range(second_seed, n_archs)] + again


def read_lines(path: Path) -> list[dict[str, Any]]:
    """Every complete JSON line of ``path`` (a truncated last line is ignored)."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def append_line(path: Path, row: dict[str, Any]) -> None:
    """Append one JSON line under an exclusive lock, first cutting a truncated last line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        if os.fstat(f.fileno()).st_ino != os.stat(path).st_ino:  # replaced meanwhile (stamp_lines): retry
            return append_line(path, row)
        f.seek(0, os.SEEK_END)
        size = f.tell()
        if size:
            f.seek(0)
            data = f.read()
            if not data.endswith(b"\n"):
                f.truncate(data.rfind(b"\n") + 1)
        f.write((json.dumps(row, allow_nan=False) + "\n").encode())
        f.flush()
        os.fsync(f.fileno())
        fcntl.flock(f, fcntl.LOCK_UN)


def stamp_lines(path: Path, stamp: Callable[[dict[str, Any]], dict[str, Any]]) -> int:
    """Rewrite every line of ``path`` as ``stamp(line)``, atomically and under the appenders' lock.

    Returns how many lines changed."""
    with open(path, "rb") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        rows = read_lines(path)
        new = [stamp(dict(r)) for r in rows]
        changed = sum(a != b for a, b in zip(rows, new))
        if changed:
            atomic_write_bytes(path, "".join(json.dumps(r, allow_nan=False) + "\n" for r in new).encode())
        fcntl.flock(f, fcntl.LOCK_UN)
    return changed


def run_job(space: SearchSpace, kind: str, arch: Architecture, index: int, seed: int, recipe: StandaloneRecipe,
            train, test, lut, device: str = "cpu") -> dict[str, Any]:
    cost = network_cost(space, arch)
    result = train_standalone(space, arch, train, test, recipe, seed, device)
    return {"arch": format_timm(space, arch), "index": index, "kind": kind, "seed": seed,
            "test_acc": result["test_acc"], "params": int(cost["params"]), "macs": int(cost["macs"]),
            "lut_ms": round(lut.value(space, arch), 4), "space": space.name, "space_hash": space.space_hash,
            "data": "fashion-mnist", "recipe": recipe.digest(), "final_loss": result["final_loss"],
            "train_seconds": result["train_seconds"], "eval_seconds": result["eval_seconds"],
            "threads": torch.get_num_threads(), "device": device, "machine": f"{cpu_name()} ({os.cpu_count()} cores), "
            f"{platform.system()}, torch {torch.__version__}"}


def run_main(main: Callable[[], int]) -> int:
    """Run a ground-truth script's ``main``: a bad input is one ``error:`` line and exit 2, not a traceback."""
    try:
        return main()
    except BinasError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--space", default="mobilenetv3-tiny")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--lut", type=Path, default=DEFAULT_LUT, help="latency LUT for lut_ms")
    p.add_argument("--extra", type=Path, default=DEFAULT_EXTRA, help="extra architectures (JSONL)")
    p.add_argument("--samples", type=int, default=104, help="uniform samples of the space")
    p.add_argument("--second-seed", type=int, default=40, help="the first N samples also run with seed 1")
    p.add_argument("--repeat", type=int, nargs="*", default=[], help="also run these architecture indices "
                   "with seed 1 (after all planned jobs)")
    p.add_argument("--shard", default="0/1", help="i/n: run every n-th job starting at i")
    p.add_argument("--limit", type=int, default=None, help="run at most this many jobs (smoke tests)")
    p.add_argument("--first", type=int, default=0, help="only architectures from this index on (e.g. the "
                   "searches' networks while other processes run the planned ones)")
    p.add_argument("--only", type=int, default=None, help="run architecture INDEX alone, print, write nothing")
    p.add_argument("--seed", type=int, default=0, help="the seed for --only")
    p.add_argument("--steps", type=int, default=None, help="override the recipe's steps (smoke tests)")
    p.add_argument("--batch-size", type=int, default=None, help="override the recipe's batch size (smoke tests)")
    p.add_argument("--train-images", type=int, default=None, help="use the first N training images (smoke)")
    p.add_argument("--test-images", type=int, default=None, help="evaluate on the first N test images (smoke)")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--device", default="cpu", help="cpu or cuda (results are stamped with it)")
    args = p.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    try:
        shard, n_shards = (int(x) for x in args.shard.split("/"))
        assert 0 <= shard < n_shards
    except (ValueError, AssertionError):
        print(f"error: --shard must be i/n with 0 <= i < n, not {args.shard!r}", file=sys.stderr)
        return 2
    space = load_space(args.space)
    lut = load_lut(args.lut, space)
    overrides = {k: v for k, v in (("steps", args.steps), ("batch_size", args.batch_size)) if v is not None}
    recipe = replace(StandaloneRecipe(), **overrides)
    archs = architectures(space, args.samples, args.extra)
    train = load_data("fashion-mnist", "train", args.data_dir)
    test = load_data("fashion-mnist", "test", args.data_dir)
    if args.train_images:
        train = train.subset(np.arange(min(args.train_images, len(train))))
    if args.test_images:
        test = test.subset(np.arange(min(args.test_images, len(test))))
    if args.only is not None:
        kind, arch = archs[args.only]
        print(json.dumps(run_job(space, kind, arch, args.only, args.seed, recipe, train, test, lut, args.device)))
        return 0
    if any(not 0 <= i < len(archs) for i in args.repeat):
        print(f"error: --repeat indices must be in 0..{len(archs) - 1}", file=sys.stderr)
        return 2
    todo = jobs(len(archs), args.second_seed, tuple(args.repeat))[shard::n_shards]
    done = {(r["index"], r["seed"]) for r in read_lines(args.out) if r.get("recipe") == recipe.digest()}
    todo = [j for j in todo if j not in done and j[0] >= args.first][: args.limit]
    print(f"recipe {recipe.digest()} {asdict(recipe)}; shard {args.shard}: {len(todo)} jobs to run",
          file=sys.stderr)
    for k, (index, seed) in enumerate(todo):
        kind, arch = archs[index]
        row = run_job(space, kind, arch, index, seed, recipe, train, test, lut, args.device)
        append_line(args.out, row)
        print(f"[{k + 1}/{len(todo)}] #{index} seed {seed} {kind}: {row['test_acc']:.2f}% "
              f"({row['lut_ms']:.2f} ms, train {row['train_seconds']} s)", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
