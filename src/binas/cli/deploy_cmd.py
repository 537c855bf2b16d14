"""``binas export``, ``binas finetune``, ``binas evaluate``: from a found architecture to a deployable model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import torch
import typer

from binas.cli.common import out_console, print_json
from binas.codec import load_architecture
from binas.data import load_data
from binas.export import export_onnx, recalibrate_bn, save_model
from binas.nn.supernet import extract_child, load_supernet

RunOption = Annotated[Path, typer.Option("--run", help="Supernet training run directory (or its .safetensors).")]
ArchOption = Annotated[str, typer.Option("--arch", help="timm arch-def string or binas.arch/1 JSON file.")]
DataOption = Annotated[str, typer.Option("--data", help="Dataset: fashion-mnist, cifar10, imagefolder, synthetic or a folder.")]
DataDirOption = Annotated[Optional[str], typer.Option("--data-dir", help="Where the dataset files are.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def _batches(data_name: str, data_dir: str | None, space, batch_size: int = 256):
    data = load_data(data_name, "train", data_dir, image_shape=(space.in_channels, space.input_size, space.input_size),
                     num_classes=space.num_classes)
    gen = torch.Generator().manual_seed(0)
    order = torch.randperm(len(data), generator=gen)
    for start in range(0, len(order), batch_size):
        yield data.normalize(data.images[order[start:start + batch_size]])


def export(
    run: RunOption,
    arch: ArchOption,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output model directory.")],
    recalibrate_bn_images: Annotated[int, typer.Option("--recalibrate-bn", help="Re-estimate BN statistics on this "
                                     "many training images (0 = keep the supernet's).", min=0)] = 0,
    onnx: Annotated[bool, typer.Option("--onnx", help="Also write model.onnx, verified with ONNX Runtime.")] = False,
    data: DataOption = "fashion-mnist",
    data_dir: DataDirOption = None,
    json_out: JsonOption = False,
) -> None:
    """Extract the static child of ARCH with weights inherited from the supernet; save it (and ONNX)."""
    supernet = load_supernet(run)
    space, architecture = load_architecture(arch, supernet.space)
    child = extract_child(supernet, architecture).eval()
    used = recalibrate_bn(child, _batches(data, data_dir, space), recalibrate_bn_images) if recalibrate_bn_images else 0
    provenance = {"supernet": str(run), "recalibrated_bn_images": used}
    paths = {k: str(v) for k, v in save_model(out, space, architecture, child, provenance).items()}
    result = {"out": str(out), **paths, "recalibrated_bn_images": used}
    if onnx:
        result["onnx"] = str(out / "model.onnx")
        result["onnx_max_abs_diff"] = export_onnx(child, space, out / "model.onnx")
    if json_out:
        print_json(result)
        return
    out_console.print(f"exported {space.name} child to {out} ({sum(p.numel() for p in child.parameters()):,} params"
                      + (f", BN re-estimated on {used} images" if used else "") + ")")
    if onnx:
        out_console.print(f"ONNX verified with ONNX Runtime: max |diff| = {result['onnx_max_abs_diff']:.2e}")
