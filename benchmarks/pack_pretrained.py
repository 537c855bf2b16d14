"""Pack a trained supernet as the package data `binas demo` ships (fp16 safetensors, docs/demo.md).

The shipped ``src/binas/pretrained/fmnist-tiny.safetensors`` was made from a run of the project's
recipe ``configs/fmnist-tiny.yaml`` (stage A: 3 epochs of the heaviest network without EMA; stage B:
2 epochs of the supernet with EMA, in the same run directory):

    OMP_NUM_THREADS=1 python benchmarks/pack_pretrained.py --run runs/fm-full --train-minutes M \\
        --machine "2-core AMD EPYC VM, loaded by other jobs"

It checks what fp16 costs: one-shot test top-1 of the heaviest and smallest networks before and
after packing (stored in the provenance), and prints the file's size and sha256.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

from binas.estimator.measure import evaluate_codes
from binas.estimator.pipeline import heldout_tensors
from binas.lut.timing import cpu_name
from binas.pretrained import DEFAULT_NAME, pack_supernet, packaged_path, unpack_supernet
from binas.supernet.model import archs_to_codes
from binas.supernet.store import FINAL_NAME, load_supernet

RECIPE = ("configs/fmnist-tiny.yaml (stage A: 3 epochs of the heaviest network, lr 3e-3, no EMA; "
          "stage B: 2 epochs of the supernet, lr 1e-3, KD + EMA; batch 128, AdamW)")


def one_shot(path: Path, images: int) -> dict[str, float]:
    """Test top-1 (%) of the heaviest and smallest networks on the first ``images`` test images."""
    net = load_supernet(path).eval()
    x, y = heldout_tensors(net.space, "fashion-mnist", split="test")
    x, y = x[:images], y[:images]
    return {name: round(float(evaluate_codes(net, x, y, archs_to_codes(net.space, arch), 500).mean()) * 100, 2)
            for name, arch in (("heaviest", net.space.heaviest), ("smallest", net.space.smallest))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="training run directory (or supernet file)")
    parser.add_argument("--out", type=Path, default=packaged_path(DEFAULT_NAME))
    parser.add_argument("--recipe", default=RECIPE)
    parser.add_argument("--train-minutes", type=float, required=True, help="wall time of the training run")
    parser.add_argument("--machine", default=f"{cpu_name()}, {torch.get_num_threads()} thread(s)")
    parser.add_argument("--images", type=int, default=10000, help="test images for the fp16 check")
    args = parser.parse_args()
    torch.set_num_threads(1)
    source = args.run / FINAL_NAME if args.run.is_dir() else args.run
    before = one_shot(source, args.images)
    provenance = {"recipe": args.recipe, "train_minutes": args.train_minutes, "machine": args.machine,
                  "data": "fashion-mnist", "one_shot_top1_fp32": before, "test_images": args.images}
    # pack once to measure the fp16 accuracy, then again with that measurement in the provenance
    with tempfile.TemporaryDirectory() as tmp:
        pack_supernet(source, Path(tmp) / "p.safetensors", provenance)
        unpack_supernet(Path(tmp) / "p.safetensors", Path(tmp) / FINAL_NAME)
        provenance["one_shot_top1_fp16"] = one_shot(Path(tmp) / FINAL_NAME, args.images)
    meta = pack_supernet(source, args.out, provenance)
    print(json.dumps({"out": str(args.out), "bytes": args.out.stat().st_size, "file_sha256": meta["file_sha256"],
                      "payload_sha256": meta["payload_sha256"], "provenance": provenance}, indent=1))


if __name__ == "__main__":
    main()
