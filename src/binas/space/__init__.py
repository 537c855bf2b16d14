"""Search spaces as declarative data.

A :class:`SearchSpace` is a frozen value loaded from a built-in name or a YAML file. Everything
else (static children, the supernet, the codec, LUT keys and the variable layout of the bilinear
form) is derived from it; no other module hard-codes a width, stride or choice list.

Vocabulary: a space has *stages*; a stage has *positions* (block slots) and *depth* options; each
position has a list of *choices* (``e{e}k{k}[se]`` inverted-residual blocks or ``skip``).
Indices are 0-based in code and 1-based in user-facing text and LUT keys ("s.j").

Modules: :mod:`~binas.space.blocks` (value types and geometry rules), :mod:`~binas.space.cost`
(exact params/MACs), :mod:`~binas.space.encoding` (every representation of a network and the
conversions), :mod:`~binas.space.model` (:class:`SearchSpace`), :mod:`~binas.space.load` (YAML and
built-in spaces). See docs/spaces.md and docs/architecture.md.
"""

from binas.space.blocks import (ACTIVATIONS, MAX_CHANNELS, MAX_CLASSES, MAX_DEPTH, MAX_EXPAND, MAX_IN_CHANNELS,
                                MAX_INPUT_SIZE, MAX_KERNEL, MAX_LIST, MAX_PARAMS, MAX_STRIDE, Architecture, BlockSpec,
                                Choice, ConvSpec, FixedBlock, Head, Stage, conv_output_size, keeps_shape,
                                make_divisible, mid_channels, parse_choice, position_stride, se_channels)
from binas.space.load import builtin_spaces, load_space, space_from_dict, space_named_in
from binas.space.model import SearchSpace

__all__ = [
    "ACTIVATIONS",
    "Architecture",
    "BlockSpec",
    "Choice",
    "ConvSpec",
    "FixedBlock",
    "Head",
    "MAX_CHANNELS",
    "MAX_CLASSES",
    "MAX_DEPTH",
    "MAX_EXPAND",
    "MAX_INPUT_SIZE",
    "MAX_IN_CHANNELS",
    "MAX_KERNEL",
    "MAX_LIST",
    "MAX_PARAMS",
    "MAX_STRIDE",
    "SearchSpace",
    "Stage",
    "builtin_spaces",
    "conv_output_size",
    "keeps_shape",
    "load_space",
    "make_divisible",
    "mid_channels",
    "parse_choice",
    "position_stride",
    "se_channels",
    "space_from_dict",
    "space_named_in",
]
