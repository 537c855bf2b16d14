"""Training-loader throughput on an image folder against the decode limit of the same files.

* decode limit: ``W`` processes doing nothing but ``PIL.Image.open`` + ``convert("RGB")`` + bilinear
  resize to ``size x size`` of the same files (a warm ``multiprocessing`` pool);
* loader: ``binas.loaders.train_batches`` with ``W`` worker processes (RandomResizedCrop + flip,
  batches assembled, moved to the device and normalised in the main process), timed from the first
  batch to the last (worker start-up excluded, as for the warm pool).

Rounds alternate (limit, loader, limit, loader, ...) so that load from other jobs hits both alike;
the medians are reported.

    .venv/bin/python benchmarks/make_imagefolder.py --out /tmp/f20x60
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_data.py --folder /tmp/f20x60 --workers 2 --size 224
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from binas.loaders import DataSpec, open_split, train_batches
from binas.runtime import Runtime

SIZE = 224


def _decode(path: str) -> int:
    from PIL import Image

    with Image.open(path) as img:
        arr = np.asarray(img.convert("RGB").resize((SIZE, SIZE), Image.Resampling.BILINEAR))
    return int(arr[0, 0, 0])


def _decode_limit(pool, paths: list[str]) -> float:
    t0 = time.perf_counter()
    pool.map(_decode, paths, chunksize=8)
    return len(paths) / (time.perf_counter() - t0)


def _loader(data, steps: int, batch_size: int, workers: int, seed: int) -> float:
    it = train_batches(data, Runtime(), batch_size=batch_size, seed=seed, stream=1, start=0, stop=steps,
                       workers=workers)
    next(it)
    t0, n = time.perf_counter(), 0
    for x, _ in it:
        n += x.shape[0]
    return n / (time.perf_counter() - t0)


def main() -> None:
    global SIZE
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--folder", required=True, type=Path)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--images", type=int, default=960, help="images per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json-out", type=Path)
    args = ap.parse_args()
    SIZE = args.size
    torch.set_num_threads(1)
    spec = DataSpec("imagefolder", str(args.folder), 3, args.size, 1000)
    data = open_split(spec, "train")
    steps = args.images // args.batch_size
    limits, loads = [], []
    with mp.get_context("fork").Pool(args.workers) as pool:
        for r in range(args.rounds):
            sub = data.subset(np.random.default_rng(r).permutation(len(data))[: steps * args.batch_size])
            paths = [str(sub.index.path(i)) for i in range(len(sub))]
            pool.map(_decode, paths[:16])  # warm
            limits.append(_decode_limit(pool, paths))
            loads.append(_loader(sub, steps, args.batch_size, args.workers, seed=r))
            print(json.dumps({"round": r, "decode_limit_img_s": round(limits[-1], 1),
                              "loader_img_s": round(loads[-1], 1)}), flush=True)
    limit, load = statistics.median(limits), statistics.median(loads)
    doc = {"folder": str(args.folder), "size": args.size, "workers": args.workers, "batch_size": args.batch_size,
           "images_per_round": steps * args.batch_size, "rounds": args.rounds,
           "decode_limit_img_s": round(limit, 1), "loader_img_s": round(load, 1), "ratio": round(load / limit, 3),
           "all_limits": [round(v, 1) for v in limits], "all_loader": [round(v, 1) for v in loads],
           "machine": f"{platform.processor() or platform.machine()}, {mp.cpu_count()} CPUs",
           "torchvision": __import__("binas.transforms", fromlist=["x"]).have_torchvision()}
    print(json.dumps(doc, indent=1))
    if args.json_out:
        args.json_out.write_text(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
