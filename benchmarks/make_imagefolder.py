"""Write an ImageNet-like image folder (mixed sizes; grey, CMYK and PNG files among the JPEGs).

    .venv/bin/python benchmarks/make_imagefolder.py --out /tmp/fake-in --classes 20 --per-class 60
"""

from __future__ import annotations

import argparse
import json
import time

from binas.synthfolder import make_imagefolder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--classes", type=int, default=20)
    ap.add_argument("--per-class", type=int, default=60, help="training images per class")
    ap.add_argument("--val-per-class", type=int, default=None, help="validation images per class (default: a fifth)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--min-side", type=int, default=200)
    ap.add_argument("--max-side", type=int, default=500)
    args = ap.parse_args()
    t0 = time.perf_counter()
    counts = make_imagefolder(args.out, args.classes, args.per_class, args.val_per_class, args.seed, args.min_side,
                              args.max_side)
    print(json.dumps({**counts, "seconds": round(time.perf_counter() - t0, 1)}))


if __name__ == "__main__":
    main()
