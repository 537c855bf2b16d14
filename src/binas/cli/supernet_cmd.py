"""``binas supernet``: train the weight-sharing supernet (stage A heaviest, stage B supernet + KD)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Iterator, Optional

import typer

from binas.cli.choices import Device, Sampling, Stage
from binas.cli.common import BinasTyper, err_console, print_result

app = BinasTyper(help="Train the weight-sharing supernet.", no_args_is_help=True)


@app.command("train")
def train(
    space: Annotated[Optional[str], typer.Option("--space", "-s", help="Space name or YAML file.")] = None,
    data: Annotated[Optional[str], typer.Option("--data", help="fashion-mnist | cifar10 | imagefolder | "
                    "synthetic | a data directory.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Run directory.")] = None,
    data_dir: Annotated[Optional[str], typer.Option("--data-dir", help="Where the data files are.")] = None,
    epochs: Annotated[Optional[float], typer.Option("--epochs", help="Epochs per stage.")] = None,
    max_steps: Annotated[Optional[int], typer.Option("--max-steps", help="Cap on optimizer steps per stage.")] = None,
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", help="Images per step per process.")] = None,
    lr: Annotated[Optional[float], typer.Option("--lr", help="Peak learning rate.")] = None,
    stage: Annotated[Optional[Stage], typer.Option("--stage", help="Stage A (heaviest), B (supernet) or both.")] = None,
    sampling: Annotated[Optional[Sampling], typer.Option("--sampling", help="Stage B: one random subnet per image or "
                        "per batch.")] = None,
    train_subset: Annotated[Optional[int], typer.Option("--train-subset", help="Train on this many images.")] = None,
    checkpoint_every: Annotated[Optional[int], typer.Option("--checkpoint-every",
                                help="Write the resumable checkpoint every N steps.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out from its last "
                      "checkpoint (its config.yaml is the base config; any changed setting is refused).")] = False,
    config: Annotated[Optional[Path], typer.Option("--config", "-c", help="Training config YAML "
                      "(keys: the TrainConfig fields; CLI options override it).")] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Random seed.")] = None,
    device: Annotated[Optional[Device], typer.Option("--device", help="auto: CUDA when available; under torchrun "
                      "each rank uses GPU LOCAL_RANK.")] = None,
    workers: Annotated[Optional[int], typer.Option("--workers", help="Loader worker processes for image folders "
                       "(default: CPUs per local rank, at most 8).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Train a supernet: stage A (heaviest network), then stage B (uniform sampling + distillation)."""
    import yaml

    from binas.claims import claim_outputs
    from binas.supernet.train import load_config, train_supernet
    from binas.supernet.train.dist import is_main_process

    def value(choice: Stage | Sampling | Device | None) -> str | None:
        return None if choice is None else choice.value

    overrides = dict(space=space, data=data, out=str(out) if out else None, data_dir=data_dir, epochs=epochs,
                     max_steps=max_steps, batch_size=batch_size, lr=lr, stage=value(stage),
                     sampling=value(sampling), train_subset=train_subset, checkpoint_every=checkpoint_every,
                     seed=seed, device=value(device), workers=workers)
    base = config
    if resume and base is None and out is not None and (out / "config.yaml").is_file():
        base = out / "config.yaml"
    cfg = load_config(base, **overrides)
    log = None if json_out else (lambda msg: err_console.print(msg, highlight=False))
    with claim_outputs(dirs={"--out": cfg.out}):
        result = train_supernet(cfg, resume=resume, progress=not json_out, log=log)
    if not is_main_process():
        return

    def summary() -> Iterator[str]:
        if result.get("complete"):
            yield f"run {cfg.out} is already complete: {result['checkpoint']} ({result['steps']} steps)"
            return
        yield f"final supernet: {result['checkpoint']} ({result['steps']} steps)"
        yield yaml.safe_dump(result["metrics"], sort_keys=False).rstrip()

    print_result(result, json_out, summary)
