"""Resumable training checkpoints: one safetensors file (model, optimizer, EMA) + JSON state in its metadata."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
from torch import nn

from binas.errors import FileFormatError
from binas.io import atomic_write_bytes
from binas.resume import normalized
from binas.space import SearchSpace
from binas.supernet.store import load_state, read_safetensors, supernet_metadata

__all__ = ["CHECKPOINT_FORMAT", "TrainState", "load_checkpoint", "read_checkpoint_state", "save_checkpoint"]

CHECKPOINT_FORMAT = "binas.checkpoint/1"


@dataclass
class TrainState:
    """Where a run is: the stage being trained and the optimizer steps done in it."""

    stage: str  # "heaviest" or "supernet"
    step: int  # optimizer steps completed in this stage
    total_steps: int  # steps this stage will take


def save_checkpoint(path: Path, space: SearchSpace, model: nn.Module, optimizer: torch.optim.Optimizer,
                    ema: dict[str, torch.Tensor] | None, state: TrainState,
                    settings: dict[str, Any] | None = None) -> Path:
    """Write the resumable checkpoint atomically; ``settings`` are what a resume must repeat exactly."""
    tensors = {f"model/{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    opt = optimizer.state_dict()
    for index, slots in opt["state"].items():
        for key, value in slots.items():
            tensors[f"optim/{index}/{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
    for key, value in (ema or {}).items():
        tensors[f"ema/{key}"] = value.detach().cpu().contiguous()
    extra = {"state": vars(state), "param_groups": opt["param_groups"]}
    if settings is not None:
        extra["settings"] = normalized(settings)
    meta = supernet_metadata(space, extra)
    meta["format"] = CHECKPOINT_FORMAT
    return atomic_write_bytes(path, safetensors.torch.save(tensors, meta))


def read_checkpoint_state(path: Path) -> tuple[TrainState, dict[str, Any] | None]:
    """``(state, settings)`` recorded in a checkpoint (settings ``None`` in files from older binas).

    Raises:
        FileFormatError: corrupt file or metadata.
    """
    _, meta = read_safetensors(path, "checkpoint")
    try:
        state = TrainState(**json.loads(meta["state"]))
        settings = json.loads(meta["settings"]) if "settings" in meta else None
    except (KeyError, TypeError, ValueError) as exc:
        raise FileFormatError(f"checkpoint {path} has corrupt metadata") from exc
    if not isinstance(state.step, int) or not isinstance(state.total_steps, int) or not 0 <= state.step <= \
            state.total_steps or not (settings is None or isinstance(settings, dict)):
        raise FileFormatError(f"checkpoint {path} has corrupt metadata")
    return state, settings


def load_checkpoint(path: Path, space: SearchSpace, model: nn.Module, optimizer: torch.optim.Optimizer,
                    ema: dict[str, torch.Tensor] | None) -> TrainState:
    """Restore model, optimizer and EMA from ``path``; return the saved :class:`TrainState`.

    Raises:
        FileFormatError: corrupt file, another space, or tensors that do not fit.
    """
    tensors, meta = read_safetensors(path, "checkpoint")
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise FileFormatError(f"{path} is not a binas training checkpoint")
    if meta.get("space_hash") != space.space_hash:
        raise FileFormatError(f"checkpoint {path} was written for another search space; use a new --out")
    try:
        state = TrainState(**json.loads(meta["state"]))
        groups = json.loads(meta["param_groups"])
    except (KeyError, TypeError, ValueError) as exc:
        raise FileFormatError(f"checkpoint {path} has corrupt metadata") from exc
    load_state(model, {k[6:]: v for k, v in tensors.items() if k.startswith("model/")}, path)
    opt_state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optim/"):
            _, index, slot = key.split("/", 2)
            opt_state.setdefault(int(index), {})[slot] = value
    device = next(model.parameters()).device
    opt_state = {i: {k: v.to(device) for k, v in s.items()} for i, s in opt_state.items()}
    try:
        optimizer.load_state_dict({"state": opt_state, "param_groups": groups})
    except (ValueError, KeyError) as exc:
        raise FileFormatError(f"checkpoint {path}: optimizer state does not fit this configuration") from exc
    if ema is not None:
        for key in ema:
            if f"ema/{key}" not in tensors:
                raise FileFormatError(f"checkpoint {path} has no EMA weights but the config enables EMA")
            ema[key].copy_(tensors[f"ema/{key}"])
    return state
