"""Search spaces as declarative data.

A :class:`SearchSpace` is a frozen value loaded from a built-in name or a YAML file. Everything
else (static children, the supernet, the codec, LUT keys and the variable layout of the bilinear
form) is derived from it; no other module hard-codes a width, stride or choice list.

Vocabulary: a space has *stages*; a stage has *positions* (block slots) and *depth* options; each
position has a list of *choices* (``e{e}k{k}[se]`` inverted-residual blocks or ``skip``).
Indices are 0-based in code and 1-based in user-facing text and LUT keys ("s.j").
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import yaml

from binas.errors import ArchitectureError, FileFormatError, SpaceError
from binas.io import load_yaml, read_text

__all__ = [
    "ACTIVATIONS",
    "Architecture",
    "BlockSpec",
    "Choice",
    "ConvSpec",
    "FixedBlock",
    "Head",
    "SearchSpace",
    "Stage",
    "builtin_spaces",
    "load_space",
    "make_divisible",
    "parse_choice",
    "space_named_in",
]

ACTIVATIONS = ("relu", "hswish")
_CHOICE_RE = re.compile(r"^e(?P<e>\d{1,4})k(?P<k>\d{1,4})(?P<se>se)?$")
# Bounds on every size a space file (or a model file's metadata) may declare: a hostile or mistyped file
# is refused in one sentence instead of allocating gigabytes.
MAX_DEPTH = 64  # blocks per stage (and r<N> repeats in arch strings)
MAX_LIST = 64  # stages, fixed blocks, choices per position
MAX_CHANNELS = 1 << 14
MAX_INPUT_SIZE = 4096
MAX_IN_CHANNELS = 64
MAX_CLASSES = 1 << 17
MAX_KERNEL = 31
MAX_STRIDE = 8
MAX_EXPAND = 64
MAX_PARAMS = 1 << 28  # of the heaviest network (the built-in ImageNet space: 8e6)


def make_divisible(value: float, divisor: int = 8, round_limit: float = 0.9) -> int:
    """Round ``value`` to a multiple of ``divisor`` (at least ``divisor``), never below 90% of it."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < round_limit * value:
        rounded += divisor
    return rounded


@dataclass(frozen=True)
class Choice:
    """One option of a block position: an inverted residual (expand_ratio, kernel_size, se) or skip."""

    expand_ratio: int = 0  # 0 for skip
    kernel_size: int = 0  # 0 for skip
    se: bool = False

    @property
    def is_skip(self) -> bool:
        return self.expand_ratio == 0

    @property
    def id(self) -> str:
        """Canonical choice id, e.g. ``e3k5``, ``e6k5se`` or ``skip``."""
        if self.is_skip:
            return "skip"
        return f"e{self.expand_ratio}k{self.kernel_size}" + ("se" if self.se else "")

    def __str__(self) -> str:
        return self.id


def parse_choice(text: str) -> Choice:
    """Parse a canonical choice id (``e3k5se``, ``skip``).

    Raises:
        SpaceError: if ``text`` is not a valid choice id.
    """
    if text == "skip":
        return Choice()
    match = _CHOICE_RE.match(str(text))
    if not match:
        raise SpaceError(f"invalid choice id {text!r}: expected 'e<expand>k<kernel>[se]' or 'skip'")
    e, k = int(match["e"]), int(match["k"])
    if not 1 <= e <= MAX_EXPAND or not 1 <= k <= MAX_KERNEL or k % 2 == 0:
        raise SpaceError(f"invalid choice id {text!r}: expansion must be in 1..{MAX_EXPAND} and the kernel odd, "
                         f"at most {MAX_KERNEL}")
    return Choice(e, k, bool(match["se"]))


@dataclass(frozen=True)
class ConvSpec:
    """A fixed convolution + BN + activation (the stem)."""

    out_channels: int
    kernel_size: int = 3
    stride: int = 1
    activation: str = "hswish"


@dataclass(frozen=True)
class FixedBlock:
    """A fixed (not searched) block between the stem and the first stage."""

    type: str  # "ds" (depthwise-separable) or "ir" (inverted residual)
    out_channels: int
    kernel_size: int = 3
    stride: int = 1
    activation: str = "relu"
    expand_ratio: int = 1
    se: bool = False


@dataclass(frozen=True)
class Stage:
    """A searched stage: positions ``0..max(depths)-1``; blocks ``0..d-1`` are present at depth d."""

    out_channels: int
    stride: int
    activation: str
    depths: tuple[int, ...]
    positions: tuple[tuple[Choice, ...], ...]

    @property
    def num_positions(self) -> int:
        return len(self.positions)

    @property
    def min_depth(self) -> int:
        return self.depths[0]


@dataclass(frozen=True)
class Head:
    """The classifier head: optional 1x1 conv+BN+act, global pool, optional pre-classifier layer."""

    conv_channels: int | None = None
    features: int | None = None
    activation: str = "hswish"
    dropout: float = 0.0


@dataclass(frozen=True)
class BlockSpec:
    """A fully resolved block: everything needed to build, count or time it."""

    type: str  # "ir", "ds", "skip" or "conv"
    in_channels: int
    out_channels: int
    kernel_size: int
    stride: int
    expand_ratio: int
    se: bool
    activation: str
    input_size: int  # spatial size (H = W) of the block's input
    se_ratio: float = 0.25

    @property
    def mid_channels(self) -> int:
        if self.type == "ir":
            return make_divisible(self.in_channels * self.expand_ratio)
        return self.in_channels

    @property
    def se_channels(self) -> int:
        return make_divisible(self.mid_channels * self.se_ratio)

    @property
    def has_residual(self) -> bool:
        """Identity shortcut iff the block keeps the shape (as in timm; skip blocks are their own path)."""
        return self.type in ("ir", "ds") and self.stride == 1 and self.in_channels == self.out_channels

    @property
    def output_size(self) -> int:
        return conv_output_size(self.input_size, self.kernel_size if self.type != "skip" else 1, self.stride)


def conv_output_size(size: int, kernel_size: int, stride: int) -> int:
    """Spatial output size of a convolution with symmetric padding ``kernel_size // 2``."""
    pad = kernel_size // 2
    return (size + 2 * pad - kernel_size) // stride + 1


@dataclass(frozen=True)
class Architecture:
    """One network of a space: the depth of every stage and the choice ids of its present blocks."""

    depths: tuple[int, ...]
    blocks: tuple[tuple[str, ...], ...]

    @classmethod
    def from_lists(cls, depths: Any, blocks: Any) -> "Architecture":
        try:
            return cls(tuple(int(d) for d in depths), tuple(tuple(str(c) for c in b) for b in blocks))
        except (TypeError, ValueError) as exc:
            raise ArchitectureError(f"architecture depths/blocks are malformed: {exc}") from exc


@dataclass(frozen=True)
class SearchSpace:
    """A search space: fixed stem/blocks/head around searched stages. See DESIGN 2."""

    name: str
    input_size: int
    in_channels: int
    num_classes: int
    stem: ConvSpec
    fixed_blocks: tuple[FixedBlock, ...]
    stages: tuple[Stage, ...]
    head: Head
    se_ratio: float = 0.25

    # ----------------------------------------------------------------- canonical form and hash
    def to_dict(self) -> dict[str, Any]:
        """Canonical plain-data form (the YAML schema); round-trips through :func:`space_from_dict`."""
        return {
            "name": self.name,
            "input_size": self.input_size,
            "in_channels": self.in_channels,
            "num_classes": self.num_classes,
            "se_ratio": self.se_ratio,
            "stem": vars(self.stem).copy(),
            "fixed_blocks": [vars(b).copy() for b in self.fixed_blocks],
            "stages": [
                {
                    "out_channels": s.out_channels,
                    "stride": s.stride,
                    "activation": s.activation,
                    "depths": list(s.depths),
                    "positions": [[c.id for c in p] for p in s.positions],
                }
                for s in self.stages
            ],
            "head": vars(self.head).copy(),
        }

    @cached_property
    def space_hash(self) -> str:
        """Stable fingerprint of the structure (the name is not part of it)."""
        canonical = self.to_dict()
        canonical.pop("name")
        text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    # ----------------------------------------------------------------- variable layout
    @cached_property
    def alpha_offsets(self) -> tuple[tuple[int, ...], ...]:
        """``alpha_offsets[s][j]``: index of the first alpha variable of stage s, position j."""
        offsets, start = [], 0
        for stage in self.stages:
            row = []
            for choices in stage.positions:
                row.append(start)
                start += len(choices)
            offsets.append(tuple(row))
        return tuple(offsets)

    @cached_property
    def beta_offsets(self) -> tuple[int, ...]:
        """``beta_offsets[s]``: index of the first beta variable (depth option) of stage s."""
        starts = np.cumsum([0] + [len(s.depths) for s in self.stages])
        return tuple(int(v) for v in starts[:-1])

    @property
    def num_alpha(self) -> int:
        return sum(len(c) for s in self.stages for c in s.positions)

    @property
    def num_beta(self) -> int:
        return sum(len(s.depths) for s in self.stages)

    def alpha_index(self, stage: int, position: int, choice: str | int) -> int:
        """Index of an alpha variable (0-based stage/position; choice as id or index)."""
        c = choice if isinstance(choice, int) else self.choice_index(stage, position, choice)
        return self.alpha_offsets[stage][position] + c

    def beta_index(self, stage: int, depth: int) -> int:
        return self.beta_offsets[stage] + self.stages[stage].depths.index(depth)

    def choice_index(self, stage: int, position: int, choice_id: str) -> int:
        ids = [c.id for c in self.stages[stage].positions[position]]
        try:
            return ids.index(choice_id)
        except ValueError:
            raise ArchitectureError(
                f"choice {choice_id!r} is not allowed at stage {stage + 1} position {position + 1} "
                f"(choices: {', '.join(ids)})"
            ) from None

    @property
    def size(self) -> int:
        """Number of distinct networks in the space."""
        total = 1
        for stage in self.stages:
            sizes = [len(c) for c in stage.positions]
            total *= sum(math.prod(sizes[:d]) for d in stage.depths)
        return total

    # ----------------------------------------------------------------- architectures
    def validate(self, arch: Architecture) -> Architecture:
        """Check that ``arch`` belongs to this space and return it.

        Raises:
            ArchitectureError: naming the first stage/position that is outside the space.
        """
        if len(arch.depths) != len(self.stages) or len(arch.blocks) != len(self.stages):
            raise ArchitectureError(
                f"architecture has {len(arch.depths)} depths and {len(arch.blocks)} block lists but "
                f"space {self.name!r} has {len(self.stages)} stages"
            )
        for s, (stage, depth, blocks) in enumerate(zip(self.stages, arch.depths, arch.blocks)):
            if depth not in stage.depths:
                raise ArchitectureError(
                    f"stage {s + 1} depth {depth} is not allowed (depths: {list(stage.depths)})"
                )
            if len(blocks) != depth:
                raise ArchitectureError(f"stage {s + 1} has depth {depth} but lists {len(blocks)} blocks")
            for j, choice_id in enumerate(blocks):
                self.choice_index(s, j, choice_id)
        return arch

    def encode(self, arch: Architecture) -> tuple[np.ndarray, np.ndarray]:
        """One-hot ``(alpha, beta)``; an absent block's alpha is all zeros (DESIGN 3)."""
        self.validate(arch)
        alpha = np.zeros(self.num_alpha)
        beta = np.zeros(self.num_beta)
        for s, (depth, blocks) in enumerate(zip(arch.depths, arch.blocks)):
            beta[self.beta_index(s, depth)] = 1.0
            for j, choice_id in enumerate(blocks):
                alpha[self.alpha_index(s, j, choice_id)] = 1.0
        return alpha, beta

    def decode(self, alpha: np.ndarray, beta: np.ndarray) -> Architecture:
        """Architecture from (possibly fractional) ``alpha, beta`` by per-decision argmax."""
        depths, blocks = [], []
        for s, stage in enumerate(self.stages):
            b0 = self.beta_offsets[s]
            depth = stage.depths[int(np.argmax(beta[b0 : b0 + len(stage.depths)]))]
            ids = []
            for j in range(depth):
                a0 = self.alpha_offsets[s][j]
                ids.append(stage.positions[j][int(np.argmax(alpha[a0 : a0 + len(stage.positions[j])]))].id)
            depths.append(depth)
            blocks.append(tuple(ids))
        return Architecture(tuple(depths), tuple(blocks))

    def sample(self, rng: np.random.Generator) -> Architecture:
        """Uniform over decisions: each stage depth and each present block's choice uniformly."""
        depths, blocks = [], []
        for stage in self.stages:
            depth = stage.depths[int(rng.integers(len(stage.depths)))]
            ids = [stage.positions[j][int(rng.integers(len(stage.positions[j])))].id for j in range(depth)]
            depths.append(depth)
            blocks.append(tuple(ids))
        return Architecture(tuple(depths), tuple(blocks))

    def enumerate(self) -> Iterator[Architecture]:
        """Every architecture of the space (only sensible for small spaces; see :attr:`size`)."""
        per_stage = []
        for stage in self.stages:
            options = []
            for depth in stage.depths:
                for ids in itertools.product(*[[c.id for c in p] for p in stage.positions[:depth]]):
                    options.append((depth, tuple(ids)))
            per_stage.append(options)
        for combo in itertools.product(*per_stage):
            yield Architecture(tuple(d for d, _ in combo), tuple(b for _, b in combo))

    def _extreme(self, pick_max: bool) -> Architecture:
        from binas.resources.analytic import block_cost  # cost ordering lives with the counters

        def cost(s: int, j: int, choice: Choice) -> tuple[int, int]:
            c = block_cost(self.position_spec(s, j, choice))
            return c["macs"], c["params"]

        pick = max if pick_max else min
        depths = tuple(pick(s.depths) for s in self.stages)
        blocks = tuple(
            tuple(pick(st.positions[j], key=lambda c, s=s, j=j: cost(s, j, c)).id for j in range(d))
            for s, (st, d) in enumerate(zip(self.stages, depths))
        )
        return Architecture(depths, blocks)

    @property
    def smallest(self) -> Architecture:
        """Minimum depth, and the choice with the fewest MACs (then params) at every position."""
        return self._extreme(False)

    @property
    def heaviest(self) -> Architecture:
        """Maximum depth, and the choice with the most MACs (then params) at every position."""
        return self._extreme(True)

    # ----------------------------------------------------------------- resolved shapes
    @cached_property
    def fixed_specs(self) -> tuple[BlockSpec, ...]:
        """Resolved fixed blocks between the stem and the first stage."""
        specs, channels, size = [], self.stem.out_channels, self.stem_output_size
        for b in self.fixed_blocks:
            spec = BlockSpec(b.type, channels, b.out_channels, b.kernel_size, b.stride, b.expand_ratio,
                             b.se, b.activation, size, self.se_ratio)
            specs.append(spec)
            channels, size = spec.out_channels, spec.output_size
        return tuple(specs)

    @property
    def stem_output_size(self) -> int:
        return conv_output_size(self.input_size, self.stem.kernel_size, self.stem.stride)

    @cached_property
    def stage_inputs(self) -> tuple[tuple[int, int], ...]:
        """``(in_channels, input_size)`` of every searched stage (independent of the architecture)."""
        channels = self.fixed_specs[-1].out_channels if self.fixed_specs else self.stem.out_channels
        size = self.fixed_specs[-1].output_size if self.fixed_specs else self.stem_output_size
        out = []
        for stage in self.stages:
            out.append((channels, size))
            channels = stage.out_channels
            size = conv_output_size(size, 1, stage.stride)
        return tuple(out)

    def position_spec(self, stage: int, position: int, choice: Choice | str) -> BlockSpec:
        """Resolved block at 0-based (stage, position) with the given choice."""
        if isinstance(choice, str):
            choice = self.stages[stage].positions[position][self.choice_index(stage, position, choice)]
        st = self.stages[stage]
        in_ch, size = self.stage_inputs[stage]
        stride = st.stride
        if position > 0:
            in_ch, size, stride = st.out_channels, conv_output_size(size, 1, st.stride), 1
        return BlockSpec(
            "skip" if choice.is_skip else "ir", in_ch, st.out_channels, choice.kernel_size, stride,
            choice.expand_ratio, choice.se, st.activation, size, self.se_ratio,
        )

    def block_specs(self, arch: Architecture) -> list[list[BlockSpec]]:
        """Resolved present blocks of ``arch``, stage by stage."""
        self.validate(arch)
        return [
            [self.position_spec(s, j, c) for j, c in enumerate(blocks)]
            for s, blocks in enumerate(arch.blocks)
        ]

    @property
    def final_channels(self) -> int:
        """Channels entering global pooling."""
        return self.head.conv_channels or self.stages[-1].out_channels

    @property
    def final_size(self) -> int:
        channels, size = self.stage_inputs[-1]
        return conv_output_size(size, 1, self.stages[-1].stride)


# --------------------------------------------------------------------- loading and validation
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
    from binas.resources.analytic import network_cost  # imports this module

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
