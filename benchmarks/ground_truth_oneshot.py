"""One-shot accuracy of every ground-truth architecture on a supernet, with and without BN recalibration.

For each planned architecture of the ground truth (and any other in its data file): the child is
extracted from the supernet with its weights and BN statistics (``oneshot``), then its BN statistics
are recomputed on
``--calib`` training images (``oneshot_bn``); both are evaluated on the first ``--test-images``
test images. Results go to ``docs/ground-truth/oneshot-LABEL.json``, rewritten atomically after
every architecture, so a killed run resumes where it stopped.

    OMP_NUM_THREADS=1 python benchmarks/ground_truth_oneshot.py --supernet runs/fm-full --label full
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from binas.codec import format_timm, parse_timm
from binas.data import load_data
from binas.deploy.standalone import evaluate_top1
from binas.inference import recalibrate_bn
from binas.io import atomic_write_json, read_json
from binas.supernet.model import extract_child
from binas.supernet.store import load_supernet

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ground_truth import DEFAULT_EXTRA, DEFAULT_OUT, architectures, read_lines, run_main, stamp_lines  # noqa: E402

FORMAT = "binas.ground-truth-oneshot/1"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--supernet", required=True, help="run directory or .safetensors file")
    p.add_argument("--label", required=True, help="name of this supernet in the analysis")
    p.add_argument("--ground-truth", type=Path, default=DEFAULT_OUT)
    p.add_argument("--out", type=Path, default=None, help="default: docs/ground-truth/oneshot-LABEL.json")
    p.add_argument("--test-images", type=int, default=2000)
    p.add_argument("--calib", type=int, default=1000, help="training images for BN recalibration")
    p.add_argument("--samples", type=int, default=104, help="as in ground_truth.py (the planned architectures)")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--stamp", action="store_true", help="then write oneshot_acc (BN-recalibrated) and "
                   "oneshot_plain_acc into the ground-truth lines (run it after the runners finish)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    out = args.out or args.ground_truth.parent / f"oneshot-{args.label}.json"
    supernet = load_supernet(args.supernet).eval()
    space = supernet.space
    test = load_data("fashion-mnist", "test", args.data_dir)
    test = test.subset(np.arange(args.test_images))
    train = load_data("fashion-mnist", "train", args.data_dir)
    calib_idx = np.random.default_rng(0xCA1B).permutation(len(train))[: args.calib]
    calib = train.normalize(train.images[torch.as_tensor(calib_idx)]).contiguous(memory_format=torch.channels_last)
    planned = [format_timm(space, a) for _, a in architectures(space, args.samples, DEFAULT_EXTRA)]
    archs = list(dict.fromkeys(planned + sorted({r["arch"] for r in read_lines(args.ground_truth)})))
    result = read_json(out, "one-shot file") if out.exists() else {
        "format": FORMAT, "label": args.label, "supernet": str(args.supernet), "space_hash": space.space_hash,
        "test_images": args.test_images, "calib_images": args.calib, "archs": {}}
    if (result["test_images"], result["calib_images"]) != (args.test_images, args.calib):
        print(f"error: {out} was made with other --test-images/--calib; use another --out", file=sys.stderr)
        return 2
    todo = [a for a in archs if a not in result["archs"]]
    print(f"{args.label}: {len(todo)} of {len(archs)} architectures to measure", file=sys.stderr)
    for k, text in enumerate(todo):
        start = time.perf_counter()
        child = extract_child(supernet, parse_timm(space, text)).to(memory_format=torch.channels_last).eval()
        plain = evaluate_top1(child, test)
        recalibrate_bn(child, calib.split(250), max_images=len(calib))
        recal = evaluate_top1(child, test)
        result["archs"][text] = {"oneshot": round(plain, 2), "oneshot_bn": round(recal, 2)}
        atomic_write_json(out, result)
        print(f"[{k + 1}/{len(todo)}] {plain:.2f}% / BN {recal:.2f}% ({time.perf_counter() - start:.1f} s)",
              file=sys.stderr, flush=True)
    if args.stamp:
        def stamp(row: dict) -> dict:
            if row["arch"] in result["archs"]:
                measured = result["archs"][row["arch"]]
                row.update(oneshot_acc=measured["oneshot_bn"], oneshot_plain_acc=measured["oneshot"],
                           oneshot_supernet=args.label, oneshot_test_images=args.test_images)
            return row
        print(f"stamped {stamp_lines(args.ground_truth, stamp)} lines of {args.ground_truth}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
