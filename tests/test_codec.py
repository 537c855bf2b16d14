"""The architecture codec: timm arch-def strings and binas.arch/1 JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

from binas.codec import ARCH_FORMAT, arch_from_json, arch_to_json, format_timm, load_architecture, parse_timm
from binas.errors import ArchitectureError, FileFormatError
from binas.space import builtin_spaces, load_space
from conftest import EXAMPLE_SPACES, REFERENCE_ARCHS

MBV3 = load_space("mobilenetv3")
REFERENCE = json.loads(REFERENCE_ARCHS.read_text())["models"]
BINAS_A = REFERENCE[0]["timm"]


@pytest.mark.parametrize("model", REFERENCE, ids=[m["name"] for m in REFERENCE])
def test_reference_archs_round_trip(model: dict) -> None:
    arch = parse_timm(MBV3, model["timm"])
    assert format_timm(MBV3, arch) == model["timm"]


@pytest.mark.parametrize("name", builtin_spaces() + [str(p) for p in EXAMPLE_SPACES])
def test_random_round_trip(name: str, rng: np.random.Generator) -> None:
    space = load_space(name)
    for _ in range(25):
        arch = space.sample(rng)
        text = format_timm(space, arch)
        assert parse_timm(space, text) == arch
        assert arch_from_json(space, json.loads(json.dumps(arch_to_json(space, arch)))) == arch


def test_binas_a_decoded() -> None:
    arch = parse_timm(MBV3, BINAS_A)
    assert arch.depths == (2, 2, 3, 2, 4)
    assert arch.blocks[0] == ("e3k5", "e3k3se")
    assert arch.blocks[4] == ("e4k5se", "e4k5se", "e4k3se", "e3k5se")


def test_any_token_order_and_repeats() -> None:
    shuffled = BINAS_A.replace("'ir_r1_k5_s2_e3_c24_nre'", "'nre_c24_e3_s2_k5_r1_ir'")
    shuffled = shuffled.replace("'ir_r1_k3_s1_e3_c24_nre_se0.25'", "'se0.25_ir_k3_e3_s1_nre_c24_r1'")
    assert parse_timm(MBV3, shuffled) == parse_timm(MBV3, BINAS_A)
    # r2 expands into two blocks, the repeat with stride 1 (as timm does)
    repeated = BINAS_A.replace("['ir_r1_k5_s1_e4_c112_se0.25', 'ir_r1_k5_s1_e4_c112_se0.25']",
                               "['ir_r2_k5_s1_e4_c112_se0.25']")
    assert parse_timm(MBV3, repeated) == parse_timm(MBV3, BINAS_A)
    assert parse_timm(MBV3, "(" + BINAS_A[1:-1] + ")") == parse_timm(MBV3, BINAS_A)  # tuples ok


def _replace(old: str, new: str) -> str:
    assert old in BINAS_A
    return BINAS_A.replace(old, new, 1)


@pytest.mark.parametrize("text, message", [
    (_replace("ir_r1_k5_s2_e3_c24_nre'", "ir_r1_k7_s2_e3_c24_nre'"), r"'k7' is not allowed here"),
    (_replace("ir_r1_k5_s2_e3_c24_nre'", "ir_r1_k5_s2_e5_c24_nre'"), r"'e5' is not allowed here"),
    (_replace("'ir_r1_k3_s1_e3_c24_nre_se0.25']", "'ir_r1_k3_s1_e3_c24_nre_se0.25', 'ir_r1_k3_s1_e3_c24_nre', "
              "'ir_r1_k3_s1_e3_c24_nre', 'ir_r1_k3_s1_e3_c24_nre']"), r"stage 1 has 5 blocks but its depth"),
    (_replace("ir_r1_k5_s2_e3_c24_nre'", "ir_r1_k5_s1_e3_c24_nre'"), r"token 's1' but this position has stride 2"),
    (_replace("ir_r1_k5_s2_e3_c24_nre'", "ir_r1_k5_s2_e3_c32_nre'"), r"token 'c32' but the stage has 24"),
    (_replace("ir_r1_k5_s2_e3_c24_nre'", "ir_r1_k5_s2_e3_c24'"), r"activation .* stage uses relu"),
    (_replace("ir_r1_k5_s2_e3_c24_nre'", "ir_r1_k5_s2_e3_c24_nre_se0.5'"), r"'se0.5' but the space's SE ratio"),
    (_replace("ir_r1_k5_s2_e3_c24_nre'", "ir_r1_k5_s2_e3_c24_nre_x9'"), r"unknown token 'x9'"),
    (_replace("ir_r1_k5_s2_e3_c24_nre'", "ir_r1_k5_s2_e3_c24_nre_k3'"), r"token 'k3' repeats 'k'"),
    (_replace("ir_r1_k5_s2_e3_c24_nre'", "r1_k5_s2_e3_c24_nre'"), r"has no block type"),
    (_replace("ir_r1_k5_s2_e3_c24_nre'", "ir_r1_kk_s2_e3_c24_nre'"), r"unknown token 'kk'"),
    (_replace("ds_r1_k3_s1_e1_c16_nre", "ds_r1_k5_s1_e1_c16_nre"), r"fixed block 1: .*\(kernel_size 5 != 3\)"),
    (_replace("cn_r1_k1_s1_c960", "cn_r1_k1_s1_c1280"), r"head conv: .*\(out_channels 1280 != 960\)"),
    (BINAS_A[:-1], r"malformed architecture string"),
    (BINAS_A.replace("], [", "]], [", 1), r"malformed architecture string"),
    ("[['ds_r1_k3_s1_e1_c16_nre'], ['ir_r1_k3_s2_e3_c24_nre', 3]]", r"contains a non-string '3'"),
    ("[['ds_r1_k3_s1_e1_c16_nre']]", r"has 1 stage lists but space 'mobilenetv3' needs 7"),
    ("{'a': 1}", r"expected a list of stage lists"),
    ("['ds_r1_k3_s1_e1_c16_nre']", r"item 1 is not a list"),
])
def test_bad_strings_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(ArchitectureError, match=message):
        parse_timm(MBV3, text)


def test_skip_blocks_in_user_space() -> None:
    space = load_space(str([p for p in EXAMPLE_SPACES if "perlayer" in p.name][0]))
    arch = space.smallest
    text = format_timm(space, arch)
    assert "skip_s2_c40" in text and parse_timm(space, text) == arch
    with pytest.raises(ArchitectureError, match="'skip' is not allowed here"):
        parse_timm(space, text.replace("'ir_r1_k3_s2_e3_c24_nre'", "'skip_s2_c24'"))


def test_arch_json(tmp_path) -> None:
    arch = parse_timm(MBV3, BINAS_A)
    obj = arch_to_json(MBV3, arch, predicted={"latency": 12.5}, provenance=None)
    assert obj["format"] == ARCH_FORMAT and obj["timm"] == BINAS_A and obj["predicted"] == {"latency": 12.5}
    assert "provenance" not in obj
    path = tmp_path / "a.json"
    path.write_text(json.dumps(obj))
    space, loaded = load_architecture(str(path))
    assert space.name == "mobilenetv3" and loaded == arch
    assert load_architecture(BINAS_A)[1] == arch
    only_timm = {"format": ARCH_FORMAT, "space": "mobilenetv3", "timm": BINAS_A}
    assert arch_from_json(MBV3, only_timm) == arch


def test_arch_json_errors(tmp_path) -> None:
    tiny = load_space("mobilenetv3-tiny")
    obj = arch_to_json(tiny, tiny.smallest)
    with pytest.raises(FileFormatError, match="was made for space 'mobilenetv3-tiny'"):
        arch_from_json(MBV3, obj)
    with pytest.raises(FileFormatError, match="is not a binas.arch/1 file"):
        arch_from_json(MBV3, {"format": "binas.lut/1"})
    bad = {**arch_to_json(MBV3, MBV3.smallest), "depths": [2, 2, 2, 2, 9]}
    with pytest.raises(ArchitectureError, match="stage 5 depth 9"):
        arch_from_json(MBV3, bad)
    truncated = tmp_path / "t.json"
    truncated.write_text(json.dumps(obj)[:40])
    with pytest.raises(FileFormatError, match="not valid JSON"):
        load_architecture(str(truncated))
    with pytest.raises(ArchitectureError, match="neither an architecture string nor an existing file"):
        load_architecture("no-such-file.json")
