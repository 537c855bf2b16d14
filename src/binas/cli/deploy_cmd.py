"""``binas export``, ``binas finetune``, ``binas evaluate``: from a found architecture to a deployable model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from binas.cli.common import claim_outputs, claims, out_console, print_json
from binas.codec import load_architecture
from binas.resources.lut import load_lut
from binas.search.problem import format_amount

# torch-heavy modules are imported inside the commands so that `binas --help` starts fast

RunOption = Annotated[Path, typer.Option("--run", help="Supernet training run directory (or its .safetensors).")]
ArchOption = Annotated[str, typer.Option("--arch", help="timm arch-def string or binas.arch/1 JSON file.")]
DataOption = Annotated[str, typer.Option("--data", help="Dataset: fashion-mnist, cifar10, imagefolder, synthetic or a folder.")]
DataDirOption = Annotated[Optional[str], typer.Option("--data-dir", help="Where the dataset files are.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def _batches(data_name: str, data_dir: str | None, space, batch_size: int = 256):
    import torch

    from binas.data import load_data

    data = load_data(data_name, "train", data_dir, image_shape=(space.in_channels, space.input_size, space.input_size),
                     num_classes=space.num_classes)
    gen = torch.Generator().manual_seed(0)
    order = torch.randperm(len(data), generator=gen)
    for start in range(0, len(order), batch_size):
        yield data.normalize(data.images[order[start:start + batch_size]])


@claims(dirs=('out',))
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
    from binas.export import export_onnx, recalibrate_bn, save_model
    from binas.nn.supernet import extract_child, load_supernet

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


def finetune(
    run: RunOption,
    arch: ArchOption,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output model directory (also holds the checkpoint).")],
    data: DataOption = "fashion-mnist",
    data_dir: DataDirOption = None,
    epochs: Annotated[float, typer.Option(help="Passes over the training split.")] = 1.0,
    max_steps: Annotated[Optional[int], typer.Option(help="Cap on optimizer steps.")] = None,
    batch_size: Annotated[int, typer.Option(help="Images per step (per process).")] = 128,
    lr: Annotated[float, typer.Option(help="Peak learning rate (SGD, cosine schedule).")] = 0.02,
    kd_weight: Annotated[float, typer.Option(help="Weight of the KL term to the heaviest network.")] = 2.0,
    ema_decay: Annotated[float, typer.Option(help="EMA decay of the weights (0 = off).")] = 0.0,
    train_subset: Annotated[Optional[int], typer.Option(help="Use only this many training images.")] = None,
    augment: Annotated[bool, typer.Option("--augment/--no-augment", help="Random crop and flip.")] = True,
    seed: Annotated[int, typer.Option(help="Seed of data order, augmentation and dropout.")] = 0,
    checkpoint_every: Annotated[int, typer.Option("--checkpoint-every", help="Write the resumable checkpoint "
                                "every N steps.")] = 100,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the checkpoint in --out (with the same "
                      "settings; any changed one is refused).")] = False,
    json_out: JsonOption = False,
) -> None:
    """Fine-tune ARCH (weights from the supernet) with KD from the heaviest network; torchrun-able."""
    from binas.nn.supernet import load_supernet
    from binas.train.finetune import FinetuneConfig
    from binas.train.finetune import finetune as run_finetune

    cfg = FinetuneConfig(data=data, data_dir=data_dir, epochs=epochs, max_steps=max_steps, batch_size=batch_size,
                         lr=lr, kd_weight=kd_weight, ema_decay=ema_decay, train_subset=train_subset, augment=augment,
                         seed=seed, checkpoint_every=checkpoint_every).validate()
    supernet = load_supernet(run)
    _, architecture = load_architecture(arch, supernet.space)
    with claim_outputs(dirs={"--out": out}):
        result = run_finetune(run, architecture, out, cfg, resume=resume, progress=not json_out)
    if json_out:
        print_json(result)
        return
    if result.get("complete"):
        out_console.print(f"the fine-tuning in {out} is already complete ({result['steps']} steps)")
        return
    out_console.print(f"fine-tuned {result['steps']} steps in {result['seconds']:.1f} s -> {out}")


def evaluate(
    model: Annotated[Path, typer.Option("--model", help="Model directory written by export or finetune.")],
    data: DataOption = "fashion-mnist",
    data_dir: DataDirOption = None,
    lut: Annotated[Optional[Path], typer.Option("--lut", help="LUT whose prediction to show; a latency LUT also "
                   "gives the timing settings (default: torch, 1 thread, batch 1).")] = None,
    limit: Annotated[Optional[int], typer.Option(help="Evaluate only the first N test images.", min=1)] = None,
    repeats: Annotated[int, typer.Option(help="Timed rounds for the latency.", min=1)] = 30,
    json_out: JsonOption = False,
) -> None:
    """Top-1/top-5 accuracy on the test split and measured latency of an exported model."""
    from binas.data import load_data
    from binas.evaluate import measure_latency, timing_settings, topk_accuracy
    from binas.export import load_model

    loaded = load_model(model)
    space = loaded.space
    table = load_lut(lut, space) if lut is not None else None
    test = load_data(data, "test", data_dir, image_shape=(space.in_channels, space.input_size, space.input_size),
                     num_classes=space.num_classes)
    result = topk_accuracy(loaded.model, test, limit=limit)
    settings = timing_settings(table)
    result.update(measure_latency({"model": loaded.model}, space, settings, repeats=repeats)["model"])
    result["timing"] = settings
    predicted = ""
    if table is not None:  # in the LUT's own resource and unit (a params LUT predicts a count, not ms)
        value = table.value(space, loaded.arch)
        if table.resource == "latency" and table.unit == "ms":
            result["lut_latency_ms"] = value
        else:
            result[f"lut_{table.resource}"], result[f"lut_{table.resource}_unit"] = value, table.unit
        predicted = f"; LUT predicts {table.resource} {format_amount(value, table.unit)}"
    if json_out:
        print_json(result)
        return
    out_console.print(f"top-1 {result['top1']:.2f}%  top-5 {result['top5']:.2f}%  on {result['images']} test images")
    out_console.print(f"latency {result['latency_ms']:.3f} ms (IQR {result['iqr_ms']:.3f}; {settings['backend']}, "
                      f"{settings['threads']} thread(s), batch {settings['batch_size']}){predicted}")
