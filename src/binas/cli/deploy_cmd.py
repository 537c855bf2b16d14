"""``binas export``, ``binas finetune``, ``binas evaluate``: from a found architecture to a deployable model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Iterator, Optional

import typer

from binas.cli.choices import Device
from binas.cli.common import OUTPUT_DIR, DeviceOpt, WorkersOpt, print_result

# torch and the model code are imported inside the commands (``binas --help`` stays fast)

RunOption = Annotated[Path, typer.Option("--run", help="Supernet training run directory (or its .safetensors).")]
ArchOption = Annotated[str, typer.Option("--arch", help="timm arch-def string or binas.arch/1 JSON file.")]
DataOption = Annotated[Optional[str], typer.Option("--data", help="Dataset: fashion-mnist, cifar10, imagefolder, "
                       "synthetic or a folder (default: the one the supernet run was trained on).")]
DataDirOption = Annotated[Optional[str], typer.Option("--data-dir", help="Where the dataset files are (default: "
                          "the supernet run's).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def _calibration_batches(data_name: str, data_dir: str | None, space, rt, n: int, workers: int | None,
                         batch_size: int = 100):
    """This rank's share of ``n`` training images chosen by a fixed seed (evaluation protocol), as device batches."""
    import numpy as np

    from binas.loaders import DataSpec, eval_batches, open_split

    data = open_split(DataSpec.for_space(data_name, data_dir, space, workers), "train")
    chosen = np.sort(np.random.default_rng(0).permutation(len(data))[:n])[rt.rank::rt.world_size]
    return eval_batches(data, rt, chosen, batch_size=batch_size, workers=workers)


def export(
    run: RunOption,
    arch: ArchOption,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output model directory."), OUTPUT_DIR],
    recalibrate_bn_images: Annotated[int, typer.Option("--recalibrate-bn", help="Re-estimate BN statistics on this "
                                     "many training images (0 = keep the supernet's).", min=0)] = 0,
    onnx: Annotated[bool, typer.Option("--onnx", help="Also write model.onnx, verified with ONNX Runtime.")] = False,
    data: DataOption = None,
    data_dir: DataDirOption = None,
    device: DeviceOpt = Device.auto,
    workers: WorkersOpt = None,
    json_out: JsonOption = False,
) -> None:
    """Extract the static child of ARCH with weights inherited from the supernet; save it (and ONNX); torchrun-able
    (the BN re-estimation is shared out over the ranks, rank 0 writes)."""
    import torch

    from binas.codec import load_architecture
    from binas.deploy.export import export_onnx, recalibrate_bn, save_model
    from binas.runtime import open_runtime
    from binas.supernet.model import extract_child
    from binas.supernet.store import load_supernet
    from binas.supernet.train.config import resolve_data

    supernet = load_supernet(run)
    space, architecture = load_architecture(arch, supernet.space)
    child = extract_child(supernet, architecture).eval()
    del supernet
    used = 0
    with open_runtime(device.value) as rt:
        if recalibrate_bn_images:
            data, data_dir = resolve_data(data, data_dir, run)
            child.to(rt.device, memory_format=rt.memory_format)
            batches = _calibration_batches(data, data_dir, space, rt, recalibrate_bn_images, workers)
            used = int(rt.sum_(torch.tensor([recalibrate_bn(child, batches, recalibrate_bn_images, rt)],
                                            device=rt.device)).item())
            child.to("cpu", memory_format=torch.contiguous_format).eval()
        if not rt.is_main:
            return
        provenance = {"supernet": str(run), "recalibrated_bn_images": used}
        paths = {k: str(v) for k, v in save_model(out, space, architecture, child, provenance).items()}
        result = {"out": str(out), **paths, "recalibrated_bn_images": used}
        if onnx:
            result["onnx"] = str(out / "model.onnx")
            result["onnx_max_abs_diff"] = export_onnx(child, space, out / "model.onnx")

    def summary() -> Iterator[str]:
        yield (f"exported {space.name} child to {out} ({sum(p.numel() for p in child.parameters()):,} params"
               + (f", BN re-estimated on {used} images" if used else "") + ")")
        if onnx:
            yield f"ONNX verified with ONNX Runtime: max |diff| = {result['onnx_max_abs_diff']:.2e}"

    print_result(result, json_out, summary)


def finetune(
    run: RunOption,
    arch: ArchOption,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output model directory (also holds the checkpoint).")],
    config: Annotated[Optional[Path], typer.Option("--config", "-c", help="Fine-tuning config YAML (keys: the "
                      "FinetuneConfig fields; CLI options override it).")] = None,
    data: DataOption = None,
    data_dir: DataDirOption = None,
    epochs: Annotated[Optional[float], typer.Option(help="Passes over the training split [1].")] = None,
    max_steps: Annotated[Optional[int], typer.Option(help="Cap on optimizer steps.")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Images per step (per process) [128].")] = None,
    lr: Annotated[Optional[float], typer.Option(help="Peak learning rate (SGD, cosine schedule) [0.02].")] = None,
    kd_weight: Annotated[Optional[float], typer.Option(help="Weight of the KL term to the heaviest network [2].")] = None,
    ema_decay: Annotated[Optional[float], typer.Option(help="EMA decay of the weights (0 = off) [0].")] = None,
    train_subset: Annotated[Optional[int], typer.Option(help="Use only this many training images.")] = None,
    augment: Annotated[Optional[bool], typer.Option("--augment/--no-augment", help="Augment the training images "
                       "[on].")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed of data order, augmentation and dropout [0].")] = None,
    checkpoint_every: Annotated[Optional[int], typer.Option("--checkpoint-every", help="Write the resumable "
                                "checkpoint every N steps [100].")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the checkpoint in --out (with the same "
                      "settings; any changed one is refused).")] = False,
    device: DeviceOpt = Device.auto,
    workers: WorkersOpt = None,
    json_out: JsonOption = False,
) -> None:
    """Fine-tune ARCH (weights from the supernet) with KD from the heaviest network; torchrun-able."""
    from binas.codec import load_architecture
    from binas.claims import claim_outputs
    from binas.deploy.finetune import FinetuneConfig
    from binas.deploy.finetune import finetune as run_finetune
    from binas.runtime import open_runtime
    from binas.supernet.store import load_supernet
    from binas.supernet.train.config import load_dataclass, resolve_data

    supernet = load_supernet(run)
    _, architecture = load_architecture(arch, supernet.space)
    del supernet
    if data is None and (config is None or "data" not in _yaml_keys(config)):  # the data the supernet was trained on
        data, data_dir = resolve_data(None, data_dir, run)
    cfg = load_dataclass(FinetuneConfig, config, "fine-tuning", data=data, data_dir=data_dir, epochs=epochs,
                         max_steps=max_steps, batch_size=batch_size, lr=lr, kd_weight=kd_weight, ema_decay=ema_decay,
                         train_subset=train_subset, augment=augment, seed=seed, checkpoint_every=checkpoint_every,
                         workers=workers)
    with claim_outputs(dirs={"--out": out}), open_runtime(device.value) as rt:
        result = run_finetune(run, architecture, out, cfg, resume=resume, progress=not json_out, rt=rt)
        if not rt.is_main:
            return
    print_result(result, json_out, lambda: (
        f"the fine-tuning in {out} is already complete ({result['steps']} steps)" if result.get("complete")
        else f"fine-tuned {result['steps']} steps in {result['seconds']:.1f} s -> {out}"))


def _yaml_keys(path: Path) -> set[str]:
    """The top-level keys of a YAML mapping (empty when unreadable: loading the config reports that)."""
    from binas.errors import FileFormatError
    from binas.io import load_yaml, read_text

    try:
        obj = load_yaml(read_text(path, "fine-tuning config"), str(path))
    except FileFormatError:
        return set()
    return set(obj) if isinstance(obj, dict) else set()


def evaluate(
    model: Annotated[Path, typer.Option("--model", help="Model directory written by export or finetune.")],
    data: DataOption = None,
    data_dir: DataDirOption = None,
    lut: Annotated[Optional[Path], typer.Option("--lut", help="LUT whose prediction to show; a latency LUT also "
                   "gives the timing settings (default: torch, 1 thread, batch 1).")] = None,
    limit: Annotated[Optional[int], typer.Option(help="Evaluate only the first N test images.", min=1)] = None,
    repeats: Annotated[int, typer.Option(help="Timed rounds for the latency.", min=1)] = 30,
    batch_size: Annotated[int, typer.Option(help="Images per forward pass (per process).", min=1)] = 100,
    device: DeviceOpt = Device.auto,
    workers: WorkersOpt = None,
    json_out: JsonOption = False,
) -> None:
    """Top-1/top-5 accuracy on the test split (on --device; torchrun-able) and measured latency (the LUT's
    backend settings, rank 0) of an exported model."""
    import json

    from binas.deploy.evaluate import measure_latency, timing_settings, topk_accuracy
    from binas.deploy.export import load_model
    from binas.loaders import DataSpec, open_split
    from binas.lut.table import load_lut
    from binas.runtime import open_runtime
    from binas.search.problem import format_amount
    from binas.supernet.train.config import resolve_data

    loaded = load_model(model)
    space = loaded.space
    table = load_lut(lut, space) if lut is not None else None
    if data is None:
        try:
            source_run = json.loads(loaded.metadata.get("provenance", "{}")).get("supernet")
        except json.JSONDecodeError:
            source_run = None
        data, data_dir = resolve_data(None, data_dir, source_run)
    test = open_split(DataSpec.for_space(data, data_dir, space, workers), "test")
    with open_runtime(device.value) as rt:
        result = topk_accuracy(loaded.model, test, batch_size=batch_size, limit=limit, rt=rt, workers=workers)
        if not rt.is_main:
            return
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
    print_result(result, json_out, lambda: [
        f"top-1 {result['top1']:.2f}%  top-5 {result['top5']:.2f}%  on {result['images']} test images",
        f"latency {result['latency_ms']:.3f} ms (IQR {result['iqr_ms']:.3f}; {settings['backend']}, "
        f"{settings['threads']} thread(s), batch {settings['batch_size']}){predicted}"])
