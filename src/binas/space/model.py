"""The :class:`SearchSpace` value: a frozen description from which everything else is derived.

Static children, the supernet, the codec, LUT keys and the variable layout of the bilinear form all
derive from it; no other module hard-codes a width, stride or choice list. See docs/spaces.md.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Iterator

import numpy as np

from binas.errors import ArchitectureError, FileFormatError
from binas.space import encoding
from binas.space.blocks import (Architecture, BlockSpec, Choice, ConvSpec, FixedBlock, Head, Stage, conv_output_size,
                                position_stride)
from binas.space.cost import block_cost

__all__ = ["SearchSpace"]


@dataclass(frozen=True)
class SearchSpace:
    """A search space: fixed stem/blocks/head around searched stages. See docs/spaces.md."""

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

    def check_made_for(self, what: str, name: Any, space_hash: Any) -> None:
        """Refuse ``what`` (a file or table made for space ``name`` with hash ``space_hash``) unless it is ours.

        Raises:
            FileFormatError: naming both spaces and their hashes.
        """
        if space_hash != self.space_hash:
            raise FileFormatError(f"{what} was made for space {name!r} (hash {space_hash}), not for "
                                  f"{self.name!r} (hash {self.space_hash})")

    # ----------------------------------------------------------------- variable layout
    @cached_property
    def layout(self) -> encoding.Layout:
        """Index layout of the variables and codes (:mod:`binas.space.encoding`)."""
        return encoding.layout_of(self.stages)

    @property
    def alpha_offsets(self) -> tuple[tuple[int, ...], ...]:
        """``alpha_offsets[s][j]``: index of the first alpha variable of stage s, position j."""
        return self.layout.alpha_offsets

    @property
    def beta_offsets(self) -> tuple[int, ...]:
        """``beta_offsets[s]``: index of the first beta variable (depth option) of stage s."""
        return self.layout.beta_offsets

    @property
    def num_alpha(self) -> int:
        return self.layout.num_alpha

    @property
    def num_beta(self) -> int:
        return self.layout.num_beta

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
        """One-hot ``(alpha, beta)``; an absent block's alpha is all zeros (:func:`encoding.arch_to_onehot`)."""
        return encoding.arch_to_onehot(self, arch)

    def decode(self, alpha: np.ndarray, beta: np.ndarray) -> Architecture:
        """Architecture from (possibly fractional) ``alpha, beta`` by per-decision argmax."""
        return encoding.onehot_to_arch(self, alpha, beta)

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
        def cost(s: int, j: int, choice: Choice) -> tuple[int, int]:
            c = block_cost(self.position_spec(s, j, choice))
            return c["macs"], c["params"]

        return encoding.extreme_arch(self, cost, pick_max)

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
        in_ch, size, stride = self.position_geometry(stage, position)
        return BlockSpec(
            "skip" if choice.is_skip else "ir", in_ch, st.out_channels, choice.kernel_size, stride,
            choice.expand_ratio, choice.se, st.activation, size, self.se_ratio,
        )

    def position_geometry(self, stage: int, position: int) -> tuple[int, int, int]:
        """``(in_channels, input_size, stride)`` of 0-based block ``position`` of ``stage`` (any choice)."""
        st = self.stages[stage]
        in_ch, size = self.stage_inputs[stage]
        if position > 0:
            in_ch, size = st.out_channels, conv_output_size(size, 1, st.stride)
        return in_ch, size, position_stride(st.stride, position)

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

