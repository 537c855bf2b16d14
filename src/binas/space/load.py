"""Loading and validating search spaces: built-in names, YAML files, plain data. See docs/spaces.md."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from binas.errors import FileFormatError, SpaceError
from binas.io import load_yaml, read_text
from binas.space.blocks import (ACTIVATIONS, MAX_CHANNELS, MAX_CLASSES, MAX_DEPTH, MAX_EXPAND, MAX_IN_CHANNELS,
                                MAX_INPUT_SIZE, MAX_KERNEL, MAX_LIST, MAX_PARAMS, MAX_STRIDE, ConvSpec, FixedBlock,
                                Head, Stage, parse_choice)
from binas.space.cost import network_cost
from binas.space.model import SearchSpace

__all__ = ["builtin_spaces", "load_space", "space_from_dict", "space_named_in"]


def _require(cond: bool, message: str) -> None:
    if not cond:
        raise SpaceError(message)


_MAXIMA = {"out_channels": MAX_CHANNELS, "conv_channels": MAX_CHANNELS, "features": MAX_CHANNELS,
           "kernel_size": MAX_KERNEL, "stride": MAX_STRIDE, "expand_ratio": MAX_EXPAND, "input_size": MAX_INPUT_SIZE,
           "in_channels": MAX_IN_CHANNELS, "num_classes": MAX_CLASSES}


def _int(data: dict, key: str, where: str, default: Any = None, minimum: int = 1) -> int:
    value = data.get(key, default)
    _require(value is not None, f"{where}: missing required key {key!r}")
    maximum = _MAXIMA[key]
    _require(isinstance(value, int) and not isinstance(value, bool) and minimum <= value <= maximum,
             f"{where}: {key!r} must be an integer >= {minimum} (at most {maximum}), got {value!r}")
    return value


def _activation(data: dict, key: str, where: str, default: str) -> str:
    value = data.get(key, default)
    _require(value in ACTIVATIONS, f"{where}: {key!r} must be one of {list(ACTIVATIONS)}, got {value!r}")
    return value


def _check_keys(data: Any, allowed: set[str], where: str) -> dict:
    _require(isinstance(data, dict), f"{where}: expected a mapping, got {type(data).__name__}")
    unknown = sorted(set(data) - allowed)
    _require(not unknown, f"{where}: unknown key(s) {unknown} (allowed: {sorted(allowed)})")
    return data


def _stage_from_dict(data: Any, index: int) -> Stage:
    where = f"stage {index + 1}"
    data = _check_keys(data, {"out_channels", "stride", "activation", "depths", "depth", "choices",
                              "positions"}, where)
    if "depths" in data:
        depths = data["depths"]
    else:
        depth = data.get("depth")
        _require(isinstance(depth, (list, tuple)) and len(depth) == 2,
                 f"{where}: give 'depths' (a list) or 'depth' as [min, max]")
        _require(all(isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= MAX_DEPTH for d in depth),
                 f"{where}: 'depth' must be [min, max] with integers in 1..{MAX_DEPTH}, got {depth!r}")
        depths = list(range(depth[0], depth[1] + 1)) if all(isinstance(d, int) for d in depth) else depth
    _require(isinstance(depths, (list, tuple)) and depths and all(
        isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= MAX_DEPTH for d in depths),
        f"{where}: depths must be a non-empty list of integers >= 1 (at most {MAX_DEPTH}), got {depths!r}")
    depths = tuple(sorted(set(depths)))
    if "positions" in data:
        _require("choices" not in data, f"{where}: give either 'choices' or 'positions', not both")
        positions = data["positions"]
        _require(isinstance(positions, list) and len(positions) == depths[-1],
                 f"{where}: 'positions' must list {depths[-1]} choice lists (one per position)")
    else:
        _require("choices" in data, f"{where}: missing 'choices' (or per-position 'positions')")
        positions = [data["choices"]] * depths[-1]
    parsed = []
    for j, plist in enumerate(positions):
        _require(isinstance(plist, list) and plist and len(plist) <= MAX_LIST,
                 f"{where} position {j + 1}: choices must be a non-empty list of at most {MAX_LIST}")
        try:
            choices = tuple(parse_choice(c) for c in plist)
        except SpaceError as exc:
            raise SpaceError(f"{where} position {j + 1}: {exc}") from None
        _require(len({c.id for c in choices}) == len(choices), f"{where} position {j + 1}: duplicate choices")
        parsed.append(choices)
    return Stage(
        out_channels=_int(data, "out_channels", where),
        stride=_int(data, "stride", where, default=1),
        activation=_activation(data, "activation", where, "relu"),
        depths=depths,
        positions=tuple(parsed),
    )


def space_from_dict(data: Any, default_name: str = "custom") -> SearchSpace:
    """Build and validate a :class:`SearchSpace` from its plain-data (YAML) form.

    Raises:
        SpaceError: naming the offending key and what it must be.
    """
    data = _check_keys(data, {"name", "input_size", "in_channels", "num_classes", "se_ratio", "stem",
                              "fixed_blocks", "stages", "head"}, "space")
    stem_d = _check_keys(data.get("stem", {}), {"out_channels", "kernel_size", "stride", "activation"}, "stem")
    stem = ConvSpec(_int(stem_d, "out_channels", "stem"), _int(stem_d, "kernel_size", "stem", 3),
                    _int(stem_d, "stride", "stem", 1), _activation(stem_d, "activation", "stem", "hswish"))
    fixed = []
    fixed_d = data.get("fixed_blocks", []) or []
    _require(isinstance(fixed_d, list) and len(fixed_d) <= MAX_LIST,
             f"space: 'fixed_blocks' must be a list of at most {MAX_LIST}")
    for i, b in enumerate(fixed_d):
        where = f"fixed block {i + 1}"
        b = _check_keys(b, {"type", "out_channels", "kernel_size", "stride", "activation", "expand_ratio",
                            "se"}, where)
        _require(b.get("type") in ("ds", "ir"), f"{where}: 'type' must be 'ds' or 'ir'")
        fixed.append(FixedBlock(b["type"], _int(b, "out_channels", where), _int(b, "kernel_size", where, 3),
                                _int(b, "stride", where, 1), _activation(b, "activation", where, "relu"),
                                _int(b, "expand_ratio", where, 1), bool(b.get("se", False))))
    stages_d = data.get("stages")
    _require(isinstance(stages_d, list) and stages_d and len(stages_d) <= MAX_LIST,
             f"space: 'stages' must be a non-empty list of at most {MAX_LIST}")
    stages = tuple(_stage_from_dict(s, i) for i, s in enumerate(stages_d))
    head_d = _check_keys(data.get("head", {}) or {}, {"conv_channels", "features", "activation", "dropout"},
                         "head")
    dropout = head_d.get("dropout", 0.0)
    _require(isinstance(dropout, (int, float)) and 0 <= dropout < 1, "head: 'dropout' must be in [0, 1)")
    head = Head(
        conv_channels=_int(head_d, "conv_channels", "head") if head_d.get("conv_channels") is not None else None,
        features=_int(head_d, "features", "head") if head_d.get("features") is not None else None,
        activation=_activation(head_d, "activation", "head", "hswish"),
        dropout=float(dropout),
    )
    se_ratio = data.get("se_ratio", 0.25)
    _require(isinstance(se_ratio, (int, float)) and 0 < se_ratio <= 1, "space: 'se_ratio' must be in (0, 1]")
    name = data.get("name", default_name)
    _require(isinstance(name, str) and name, "space: 'name' must be a non-empty string")
    space = SearchSpace(
        name=name,
        input_size=_int(data, "input_size", "space"),
        in_channels=_int(data, "in_channels", "space"),
        num_classes=_int(data, "num_classes", "space", minimum=2),
        stem=stem,
        fixed_blocks=tuple(fixed),
        stages=stages,
        head=head,
        se_ratio=float(se_ratio),
    )
    _require(space.final_size >= 1, "space: the strides reduce the input below 1 pixel")
    params = network_cost(space, space.heaviest)["params"]
    _require(params <= MAX_PARAMS, f"space: its heaviest network has {params:,} parameters, more than the "
             f"{MAX_PARAMS:,} binas builds")
    return space


def builtin_spaces() -> list[str]:
    """Names of the built-in spaces (the YAML files shipped in ``binas/spaces``)."""
    folder = resources.files("binas") / "spaces"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def space_named_in(name: Any, source: str) -> "SearchSpace":
    """The space a file names in its ``"space"`` field: a built-in name only.

    A path in a file is never followed (a downloaded file must not make binas read another file);
    for a space of your own, pass its YAML with ``--space``.

    Raises:
        SpaceError: the name is not a built-in space.
    """
    if not isinstance(name, str) or name not in builtin_spaces():
        raise SpaceError(f"{source} was made for space {name!r}, which is not built in; pass --space FILE.yaml "
                         "(for a space of your own, pass its YAML file with --space: a path named inside a file "
                         "is never followed)")
    return load_space(name)


def load_space(name_or_path: str | Path | SearchSpace) -> SearchSpace:
    """Load a built-in space by name or a user space from a YAML file.

    Raises:
        SpaceError: unknown name, unreadable file or invalid definition.
    """
    if isinstance(name_or_path, SearchSpace):
        return name_or_path
    text_name = str(name_or_path)
    if text_name in builtin_spaces():
        text = (resources.files("binas") / "spaces" / f"{text_name}.yaml").read_text()
        source = f"built-in space {text_name!r}"
    else:
        path = Path(text_name)
        if not path.exists():
            raise SpaceError(
                f"unknown search space {text_name!r}: give a YAML file or one of {builtin_spaces()}"
            )
        try:
            text = read_text(path, "space file")
        except FileFormatError as exc:
            raise SpaceError(str(exc)) from None
        source = f"space file {path}"
    try:
        data = load_yaml(text, source)
    except FileFormatError as exc:
        raise SpaceError(str(exc)) from None
    try:
        return space_from_dict(data, default_name=Path(text_name).stem)
    except SpaceError as exc:
        raise SpaceError(f"{source}: {exc}") from None
