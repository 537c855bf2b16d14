"""Supernet training-step cost (docs/supernet.md).

1. Overhead of weight sharing: a training step (forward, backward, SGD step) of the supernet restricted
   to one architecture vs the static child of that architecture (same batch, same device, same thread
   count), interleaved, for the heaviest, the smallest and random architectures.
2. Per-image (multipath) vs per-batch sampling cost of a supernet training step.

Run: ``.venv/bin/python benchmarks/bench_supernet.py [--space mobilenetv3-tiny] [--batch 64] [--reps 7]
[--threads 1] [--json]``. Prints medians (seconds per step) and ratios measured side by side.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from binas.space import load_space
from binas.supernet.model import Supernet, codes_to_archs, extract_child, sample_codes


def _step(model: torch.nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, archs=None) -> None:
    opt.zero_grad(set_to_none=True)
    out = model(x) if archs is None else model(x, archs)
    F.cross_entropy(out, y).backward()
    opt.step()


def _time(fn, reps: int) -> list[float]:
    fn()  # warm-up
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def overhead(space, arch, x, y, reps: int) -> dict:
    """Median step time of the supernet fixed to ``arch`` and of its static child, interleaved."""
    net = Supernet(space)
    net.set_active(arch)
    child = extract_child(net, arch).train()
    opt_s = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9)
    opt_c = torch.optim.SGD(child.parameters(), lr=1e-3, momentum=0.9)
    sup, chi = [], []
    for _ in range(reps):  # interleave so that load changes hit both alike
        sup += _time(lambda: _step(net, opt_s, x, y), 1)
        chi += _time(lambda: _step(child, opt_c, x, y), 1)
    s, c = statistics.median(sup), statistics.median(chi)
    return {"supernet_s": s, "child_s": c, "ratio": s / c}


def sampling(space, x, y, reps: int) -> dict:
    """Median step time with per-image vs per-batch uniform sampling (fresh draw each step)."""
    net = Supernet(space)
    opt = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9)
    rng = np.random.default_rng(0)
    img, bat = [], []
    for _ in range(reps):
        img += _time(lambda: _step(net, opt, x, y, sample_codes(space, rng, x.shape[0])), 1)
        bat += _time(lambda: _step(net, opt, x, y, sample_codes(space, rng, 1)), 1)
    i, b = statistics.median(img), statistics.median(bat)
    return {"per_image_s": i, "per_batch_s": b, "ratio": i / b}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="mobilenetv3-tiny")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--random", type=int, default=2, help="number of random architectures")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    space = load_space(args.space)
    size = space.input_size
    x = torch.randn(args.batch, space.in_channels, size, size)
    y = torch.randint(space.num_classes, (args.batch,))
    archs = {"heaviest": space.heaviest, "smallest": space.smallest}
    for i, arch in enumerate(codes_to_archs(space, sample_codes(space, np.random.default_rng(1), args.random))):
        archs[f"random{i + 1}"] = arch
    result = {"space": space.name, "batch": args.batch, "threads": args.threads, "reps": args.reps,
              "overhead": {name: overhead(space, a, x, y, args.reps) for name, a in archs.items()},
              "sampling": sampling(space, x, y, args.reps)}
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(f"space {space.name}, batch {args.batch}, {args.threads} thread(s), median of {args.reps}")
        for name, r in result["overhead"].items():
            print(f"  {name:9s} supernet {r['supernet_s'] * 1e3:8.1f} ms  child {r['child_s'] * 1e3:8.1f} ms  "
                  f"ratio {r['ratio']:.2f}")
        r = result["sampling"]
        print(f"  sampling  per-image {r['per_image_s'] * 1e3:8.1f} ms  per-batch {r['per_batch_s'] * 1e3:8.1f} ms  "
              f"ratio {r['ratio']:.2f}")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
