"""The building blocks of a search space and the geometry rules, decided here once.

Value types (:class:`Choice`, :class:`Stage`, :class:`BlockSpec`, :class:`Architecture`, ...) and the
rules every builder, counter and exporter uses: hidden width (:func:`mid_channels`), squeeze-excite
width (:func:`se_channels`), identity shortcut or skip projection (:func:`keeps_shape`) and the
stride of a stage's first position (:func:`position_stride`). See docs/spaces.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from binas.errors import ArchitectureError, SpaceError

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


def mid_channels(in_channels: int, expand_ratio: int) -> int:
    """Hidden width of an inverted residual (the prefix of the supernet's shared max-width layers)."""
    return make_divisible(in_channels * expand_ratio)


def se_channels(mid: int, se_ratio: float) -> int:
    """Reduced squeeze-excite width for a hidden width ``mid``."""
    return make_divisible(mid * se_ratio)


def keeps_shape(in_channels: int, out_channels: int, stride: int) -> bool:
    """True iff a block keeps its input's shape: an identity shortcut (ir/ds), an identity ``skip``.

    Otherwise ``skip`` is a 1x1 conv + BN projection and ir/ds blocks have no shortcut (as in timm).
    """
    return stride == 1 and in_channels == out_channels


def position_stride(stage_stride: int, position: int) -> int:
    """Stride of 0-based block ``position`` of a stage: the stage's stride at its first position, else 1."""
    return stage_stride if position == 0 else 1


def conv_output_size(size: int, kernel_size: int, stride: int) -> int:
    """Spatial output size of a convolution with symmetric padding ``kernel_size // 2``."""
    pad = kernel_size // 2
    return (size + 2 * pad - kernel_size) // stride + 1


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
            return mid_channels(self.in_channels, self.expand_ratio)
        return self.in_channels

    @property
    def se_channels(self) -> int:
        return se_channels(self.mid_channels, self.se_ratio)

    @property
    def keeps_shape(self) -> bool:
        """See :func:`keeps_shape` (a ``skip`` block that does not is a projection)."""
        return keeps_shape(self.in_channels, self.out_channels, self.stride)

    @property
    def has_residual(self) -> bool:
        """Identity shortcut iff the block keeps the shape (as in timm; skip blocks are their own path)."""
        return self.type in ("ir", "ds") and self.keeps_shape

    @property
    def output_size(self) -> int:
        return conv_output_size(self.input_size, self.kernel_size if self.type != "skip" else 1, self.stride)


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


