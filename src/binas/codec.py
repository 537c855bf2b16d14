"""Architecture codec: timm arch-def strings and the ``binas.arch/1`` JSON format (docs/spaces.md).

A timm arch-def string is a list of stage lists of block strings, e.g.
``[['ds_r1_k3_s1_e1_c16_nre'], ['ir_r1_k5_s2_e3_c24_nre', ...], ..., ['cn_r1_k1_s1_c960']]``:
one list per fixed block, one per searched stage (its present blocks), one for the head conv.
The brackets are parsed with Python's own parser (``ast``); each block string is tokenised by a
table of token prefixes, in any order. Anything outside the space raises
:class:`~binas.errors.ArchitectureError` naming the offending token.

``skip`` blocks (user spaces only) are written ``skip_s{stride}_c{out}``, a binas extension.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from binas.errors import ArchitectureError, FileFormatError
from binas.io import read_text
from binas.space import MAX_DEPTH, Architecture, BlockSpec, SearchSpace, load_space, position_stride, space_named_in

__all__ = ["ARCH_FORMAT", "arch_to_json", "format_timm", "load_architecture", "parse_timm",
           "parse_block", "ParsedBlock"]

ARCH_FORMAT = "binas.arch/1"
_TOKEN_RE = re.compile(r"^(?P<key>[a-z]+?)(?P<value>\d+(?:\.\d+)?)?$")
_BLOCK_TYPES = ("ir", "ds", "cn", "skip")
_ACT_TOKENS = {"nre": "relu", "nhs": "hswish"}
# token prefix -> (field name, converter); a token is prefix + number, e.g. "k5", "se0.25"
_VALUE_TOKENS = {"r": ("repeat", int), "k": ("kernel_size", int), "s": ("stride", int),
                 "e": ("expand_ratio", int), "c": ("out_channels", int), "se": ("se_ratio", float)}

MAX_ARCH_CHARS = 1 << 16  # the heaviest built-in network's string is ~1 KB


@dataclass(frozen=True)
class ParsedBlock:
    """The fields of one block string; ``None`` means the token was absent."""

    text: str
    type: str
    repeat: int = 1
    kernel_size: int | None = None
    stride: int | None = None
    expand_ratio: int | None = None
    out_channels: int | None = None
    se_ratio: float | None = None
    activation: str = "hswish"  # the space-wide default when no activation token is given


def parse_block(text: str) -> ParsedBlock:
    """Tokenise one block string (tokens in any order).

    Raises:
        ArchitectureError: for an unknown, duplicated or malformed token.
    """
    if not isinstance(text, str) or not text:
        raise ArchitectureError(f"block {text!r} must be a non-empty string")
    fields: dict[str, Any] = {}
    block_type = None
    for token in text.split("_"):
        if token in _BLOCK_TYPES:
            if block_type is not None:
                raise ArchitectureError(f"block {text!r} has two block types ({block_type!r}, {token!r})")
            block_type = token
            continue
        if token in _ACT_TOKENS:
            if "activation" in fields:
                raise ArchitectureError(f"block {text!r} has two activation tokens")
            fields["activation"] = _ACT_TOKENS[token]
            continue
        match = _TOKEN_RE.match(token)
        if not match or match["key"] not in _VALUE_TOKENS or match["value"] is None:
            raise ArchitectureError(f"unknown token {token!r} in block {text!r}")
        name, convert = _VALUE_TOKENS[match["key"]]
        if name in fields:
            raise ArchitectureError(f"token {token!r} repeats {match['key']!r} in block {text!r}")
        try:
            fields[name] = convert(match["value"])
        except ValueError:
            raise ArchitectureError(f"token {token!r} in block {text!r} needs a whole number") from None
    if block_type is None:
        raise ArchitectureError(f"block {text!r} has no block type (one of {list(_BLOCK_TYPES)})")
    if not 1 <= fields.get("repeat", 1) <= MAX_DEPTH:
        raise ArchitectureError(f"token 'r{fields['repeat']}' in block {text!r}: repeat must be in 1..{MAX_DEPTH}")
    return ParsedBlock(text=text, type=block_type, **fields)


def _block_string(spec: BlockSpec) -> str:
    if spec.type == "skip":
        return f"skip_s{spec.stride}_c{spec.out_channels}"
    prefix = {"ir": "ir", "ds": "ds", "conv": "cn"}[spec.type]
    e = 1 if spec.type == "ds" else spec.expand_ratio
    parts = [prefix, "r1", f"k{spec.kernel_size}", f"s{spec.stride}"]
    if spec.type != "conv":
        parts.append(f"e{e}")
    parts.append(f"c{spec.out_channels}")
    if spec.activation == "relu":
        parts.append("nre")
    if spec.se:
        parts.append(f"se{spec.se_ratio:g}")
    return "_".join(parts)


def _head_conv_spec(space: SearchSpace) -> BlockSpec | None:
    if space.head.conv_channels is None:
        return None
    in_ch = space.stages[-1].out_channels
    return BlockSpec("conv", in_ch, space.head.conv_channels, 1, 1, 1, False, space.head.activation,
                     space.final_size)


def format_timm(space: SearchSpace, arch: Architecture) -> str:
    """The canonical timm arch-def string of ``arch`` (parse_timm's exact inverse)."""
    lists = [[_block_string(s)] for s in space.fixed_specs]
    lists += [[_block_string(b) for b in stage] for stage in space.block_specs(arch)]
    head = _head_conv_spec(space)
    if head is not None:
        lists.append([_block_string(head)])
    return repr(lists)


def _parse_lists(text: str) -> list[list[str]]:
    if len(text) > MAX_ARCH_CHARS:
        raise ArchitectureError(f"architecture string of {len(text):,} characters (at most {MAX_ARCH_CHARS:,})")
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise ArchitectureError(
            f"malformed architecture string: {exc.msg} at column {exc.offset}"
        ) from None
    except (RecursionError, MemoryError, ValueError):
        raise ArchitectureError("malformed architecture string: nested too deeply") from None
    if not isinstance(tree, (ast.List, ast.Tuple)):
        raise ArchitectureError("malformed architecture string: expected a list of stage lists")
    stages = []
    for i, node in enumerate(tree.elts):
        if not isinstance(node, (ast.List, ast.Tuple)):
            raise ArchitectureError(f"malformed architecture string: item {i + 1} is not a list of blocks")
        blocks = []
        for elt in node.elts:
            if not (isinstance(elt, ast.Constant) and isinstance(elt.value, str)):
                raise ArchitectureError(
                    f"malformed architecture string: stage list {i + 1} contains a non-string "
                    f"{ast.unparse(elt)!r}"
                )
            blocks.append(elt.value)
        stages.append(blocks)
    return stages


def _expand(blocks: list[str]) -> list[ParsedBlock]:
    """Parse the block strings of one list and expand ``r<n>`` repeats (repeats get stride 1)."""
    out: list[ParsedBlock] = []
    for text in blocks:
        parsed = parse_block(text)
        out.append(parsed)
        if len(out) + parsed.repeat - 1 > MAX_DEPTH:
            raise ArchitectureError(f"a stage list expands to more than {MAX_DEPTH} blocks (at {text!r})")
        for _ in range(parsed.repeat - 1):
            out.append(ParsedBlock(**{**vars(parsed), "stride": 1, "repeat": 1}))
    return out


def _check_fixed(parsed: ParsedBlock, spec: BlockSpec, where: str) -> None:
    expected = parse_block(_block_string(spec))
    checks = [("type", parsed.type, expected.type), ("kernel_size", parsed.kernel_size, expected.kernel_size),
              ("stride", parsed.stride, expected.stride), ("out_channels", parsed.out_channels,
              expected.out_channels), ("activation", parsed.activation, expected.activation),
              ("se_ratio", parsed.se_ratio, expected.se_ratio)]
    if expected.type != "cn":
        checks.append(("expand_ratio", parsed.expand_ratio, expected.expand_ratio))
    for name, got, want in checks:
        if got != want:
            raise ArchitectureError(
                f"{where} block {parsed.text!r} does not match the space's fixed block "
                f"{expected.text!r} ({name} {got!r} != {want!r})"
            )


def _searched_choice(space: SearchSpace, s: int, j: int, block: ParsedBlock) -> str:
    """Choice id of a parsed block at (stage s, position j), checked against the space."""
    stage = space.stages[s]
    where = f"stage {s + 1} position {j + 1} block {block.text!r}"
    expected_stride = position_stride(stage.stride, j)
    if block.type not in ("ir", "skip"):
        raise ArchitectureError(f"{where}: block type {block.type!r} is not searchable here (use 'ir')")
    if block.out_channels != stage.out_channels:
        raise ArchitectureError(f"{where}: token 'c{block.out_channels}' but the stage has "
                                f"{stage.out_channels} output channels")
    if block.stride != expected_stride:
        raise ArchitectureError(f"{where}: token 's{block.stride}' but this position has stride "
                                f"{expected_stride}")
    if block.type == "skip":
        choice_id = "skip"
    else:
        if block.activation != stage.activation:
            token = "nre" if block.activation == "relu" else "no 'nre' token"
            raise ArchitectureError(f"{where}: activation ({token}) but the stage uses {stage.activation}")
        if block.kernel_size is None or block.expand_ratio is None:
            raise ArchitectureError(f"{where}: needs both a 'k' and an 'e' token")
        if block.se_ratio is not None and block.se_ratio != space.se_ratio:
            raise ArchitectureError(f"{where}: token 'se{block.se_ratio:g}' but the space's SE ratio is "
                                    f"{space.se_ratio:g}")
        choice_id = f"e{block.expand_ratio}k{block.kernel_size}" + ("se" if block.se_ratio else "")
    allowed = [c.id for c in stage.positions[j]]
    if choice_id not in allowed:
        kernels = {c.kernel_size for c in stage.positions[j]}
        expansions = {c.expand_ratio for c in stage.positions[j]}
        if choice_id != "skip" and block.kernel_size not in kernels:
            token = f"k{block.kernel_size}"
        elif choice_id != "skip" and block.expand_ratio not in expansions:
            token = f"e{block.expand_ratio}"
        else:
            token = choice_id
        raise ArchitectureError(f"{where}: {token!r} is not allowed here (choices: {', '.join(allowed)})")
    return choice_id


def parse_timm(space: SearchSpace, text: str) -> Architecture:
    """Parse a timm arch-def string into an :class:`Architecture` of ``space``.

    Raises:
        ArchitectureError: malformed brackets, unknown tokens, or anything outside the space.
    """
    lists = _parse_lists(text)
    n_fixed = len(space.fixed_specs)
    head = _head_conv_spec(space)
    expected = n_fixed + len(space.stages) + (head is not None)
    if len(lists) != expected:
        raise ArchitectureError(
            f"architecture string has {len(lists)} stage lists but space {space.name!r} needs {expected} "
            f"({n_fixed} fixed, {len(space.stages)} searched{', 1 head conv' if head else ''})"
        )
    for i, spec in enumerate(space.fixed_specs):
        blocks = _expand(lists[i])
        if len(blocks) != 1:
            raise ArchitectureError(f"fixed block list {i + 1} must hold exactly one block, got {len(blocks)}")
        _check_fixed(blocks[0], spec, f"fixed block {i + 1}:")
    if head is not None:
        blocks = _expand(lists[-1])
        if len(blocks) != 1:
            raise ArchitectureError(f"the head conv list must hold exactly one block, got {len(blocks)}")
        _check_fixed(blocks[0], head, "head conv:")
    depths, choices = [], []
    for s, stage in enumerate(space.stages):
        blocks = _expand(lists[n_fixed + s])
        if len(blocks) not in stage.depths:
            raise ArchitectureError(
                f"stage {s + 1} has {len(blocks)} blocks but its depth must be one of {list(stage.depths)}"
            )
        depths.append(len(blocks))
        choices.append(tuple(_searched_choice(space, s, j, b) for j, b in enumerate(blocks)))
    return Architecture(tuple(depths), tuple(choices))


def arch_to_json(space: SearchSpace, arch: Architecture, **extra: Any) -> dict[str, Any]:
    """The ``binas.arch/1`` object of ``arch`` (extra keys such as ``predicted``/``provenance`` appended)."""
    space.validate(arch)
    obj = {"format": ARCH_FORMAT, "space": space.name, "space_hash": space.space_hash,
           "depths": list(arch.depths), "blocks": [list(b) for b in arch.blocks],
           "timm": format_timm(space, arch)}
    obj.update({k: v for k, v in extra.items() if v is not None})
    return obj


def arch_from_json(space: SearchSpace, obj: Any, source: str = "architecture JSON") -> Architecture:
    """Read a ``binas.arch/1`` object, checking format and space hash.

    Raises:
        FileFormatError: wrong format or made for another space.
        ArchitectureError: depths/blocks outside the space.
    """
    if not isinstance(obj, dict) or obj.get("format") != ARCH_FORMAT:
        found = obj.get("format") if isinstance(obj, dict) else type(obj).__name__
        raise FileFormatError(f"{source} is not a {ARCH_FORMAT} file (format: {found!r})")
    if obj.get("space_hash") is not None:
        space.check_made_for(source, obj.get("space"), obj["space_hash"])
    if "depths" in obj and "blocks" in obj:
        return space.validate(Architecture.from_lists(obj["depths"], obj["blocks"]))
    if "timm" in obj:
        return parse_timm(space, obj["timm"])
    raise FileFormatError(f"{source} has neither 'depths'+'blocks' nor 'timm'")


def load_architecture(arg: str, space: SearchSpace | str | None = None) -> tuple[SearchSpace, Architecture]:
    """Read ``arg`` as an arch JSON file, inline JSON or a timm arch-def string.

    The space defaults to the one named in the JSON, else ``mobilenetv3``.

    Returns:
        ``(space, architecture)``.
    """
    text = arg
    source = "architecture"
    path = Path(arg)
    if not arg.lstrip().startswith(("[", "{")):
        if not path.exists():
            raise ArchitectureError(f"{arg!r} is neither an architecture string nor an existing file")
        text = read_text(path, "architecture file")
        source = str(path)
    if text.lstrip().startswith("{"):
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FileFormatError(f"{source} is not valid JSON: {exc.msg} (line {exc.lineno})") from None
        if space is None:
            space = space_named_in(obj.get("space", "mobilenetv3") if isinstance(obj, dict) else "mobilenetv3",
                                   source)
        space = load_space(space)
        return space, arch_from_json(space, obj, source)
    space = load_space(space or "mobilenetv3")
    return space, parse_timm(space, text)
