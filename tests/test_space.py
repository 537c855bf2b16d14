"""Search spaces: built-ins, layout, counting, sampling, YAML validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml

from binas.errors import ArchitectureError, SpaceError
from binas.space import Architecture, builtin_spaces, load_space, make_divisible, parse_choice
from conftest import EXAMPLE_SPACES

ALL_SPACES = builtin_spaces() + [str(p) for p in EXAMPLE_SPACES]


def test_builtin_names() -> None:
    assert {"mobilenetv3", "mobilenetv3-tiny", "mobilenetv3-tiny-cifar"} <= set(builtin_spaces())


def test_mobilenetv3_layout_matches_design() -> None:
    space = load_space("mobilenetv3")
    assert (space.num_alpha, space.num_beta) == (240, 15)
    assert space.size == 22608**5
    assert math.isclose(space.size, 5.9e21, rel_tol=0.01)
    # docs/spaces.md: alpha index ((s-1)*P + (j-1))*C + c and beta index (s-1)*D + (d - d_min)
    assert space.alpha_index(2, 3, "e6k5se") == (2 * 4 + 3) * 12 + 11
    assert space.alpha_index(0, 0, "e3k3") == 0
    assert space.beta_index(4, 3) == 4 * 3 + 1
    ids = [c.id for c in space.stages[0].positions[0]]
    assert ids == ["e3k3", "e3k3se", "e3k5", "e3k5se", "e4k3", "e4k3se", "e4k5", "e4k5se", "e6k3", "e6k3se",
                   "e6k5", "e6k5se"]
    assert [(s.out_channels, s.stride, s.activation) for s in space.stages] == [
        (24, 2, "relu"), (40, 2, "relu"), (80, 2, "hswish"), (112, 1, "hswish"), (192, 2, "hswish")]
    assert [inp for inp in space.stage_inputs] == [(16, 112), (24, 56), (40, 28), (80, 14), (112, 14)]
    assert space.final_size == 7


def test_hash_is_stable_and_structural(tmp_path) -> None:
    space = load_space("mobilenetv3")
    assert space.space_hash == "40b1337b1e52c000"  # pinned: changing it orphans every saved artifact
    data = space.to_dict()
    data["name"] = "renamed"
    path = tmp_path / "copy.yaml"
    path.write_text(yaml.safe_dump(data))
    assert load_space(path).space_hash == space.space_hash
    data["stages"][0]["out_channels"] = 32
    path.write_text(yaml.safe_dump(data))
    assert load_space(path).space_hash != space.space_hash


@pytest.mark.parametrize("name", ALL_SPACES)
def test_to_dict_round_trip(name: str, tmp_path) -> None:
    space = load_space(name)
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(space.to_dict()))
    assert load_space(path) == space


def test_make_divisible() -> None:
    assert make_divisible(16 * 3) == 48
    assert make_divisible(72 / 4) == 24  # 18 rounds to 16, below 90% of 18, so 24
    assert make_divisible(3) == 8
    assert make_divisible(240 * 0.25) == 64


@pytest.mark.parametrize("name", ALL_SPACES)
def test_encode_decode_sample(name: str, rng: np.random.Generator) -> None:
    space = load_space(name)
    for _ in range(20):
        arch = space.sample(rng)
        space.validate(arch)
        alpha, beta = space.encode(arch)
        assert alpha.shape == (space.num_alpha,) and beta.shape == (space.num_beta,)
        assert alpha.sum() == sum(arch.depths) and beta.sum() == len(space.stages)
        assert space.decode(alpha, beta) == arch
        for s, stage in enumerate(space.stages):  # absent blocks are all-zero
            for j in range(arch.depths[s], stage.num_positions):
                a0 = space.alpha_offsets[s][j]
                assert not alpha[a0 : a0 + len(stage.positions[j])].any()


def test_enumerate_counts_every_network_once() -> None:
    space = load_space(str(EXAMPLE_SPACES[0]))
    archs = list(space.enumerate())
    assert len(archs) == len(set(archs)) == space.size
    for arch in archs[:50]:
        space.validate(arch)


def test_smallest_heaviest() -> None:
    space = load_space("mobilenetv3")
    assert space.smallest == Architecture((2,) * 5, (("e3k3",) * 2,) * 5)
    assert space.heaviest == Architecture((4,) * 5, (("e6k5se",) * 4,) * 5)


@pytest.mark.parametrize("arch, message", [
    (Architecture((2, 2, 2, 2), (("e3k3",) * 2,) * 4), "has 4 depths"),
    (Architecture((5, 2, 2, 2, 2), (("e3k3",) * 5,) + (("e3k3",) * 2,) * 4), "stage 1 depth 5 is not allowed"),
    (Architecture((2,) * 5, (("e3k3",),) + (("e3k3",) * 2,) * 4), "stage 1 has depth 2 but lists 1"),
    (Architecture((2,) * 5, (("e5k3", "e3k3"),) + (("e3k3",) * 2,) * 4), "choice 'e5k3' is not allowed"),
])
def test_validate_errors(arch: Architecture, message: str) -> None:
    with pytest.raises(ArchitectureError, match=message):
        load_space("mobilenetv3").validate(arch)


def test_parse_choice() -> None:
    assert parse_choice("e6k5se").id == "e6k5se"
    assert parse_choice("skip").is_skip
    for bad in ["e6k4", "k3e6", "e0k3", "e3", "skipp"]:
        with pytest.raises(SpaceError):
            parse_choice(bad)


BASE = {"name": "t", "input_size": 16, "in_channels": 1, "num_classes": 3,
        "stem": {"out_channels": 8, "stride": 1},
        "stages": [{"out_channels": 8, "stride": 2, "activation": "relu", "depths": [1, 2],
                    "choices": ["e3k3", "skip"]}]}


def _with(path: str, value) -> dict:
    data = yaml.safe_load(yaml.safe_dump(BASE))
    target = data
    keys = path.split(".")
    for key in keys[:-1]:
        target = target[int(key)] if key.isdigit() else target[key]
    if value is None:
        del target[keys[-1]]
    else:
        target[keys[-1]] = value
    return data


@pytest.mark.parametrize("path, value, message", [
    ("stages.0.choices", ["e3k4"], "kernel odd"),
    ("stages.0.choices", ["e3k3", "e3k3"], "duplicate choices"),
    ("stages.0.activation", "gelu", "'activation' must be one of"),
    ("stages.0.depths", [0, 1], "depths must be a non-empty list of integers >= 1"),
    ("stages.0.colour", "red", "unknown key"),
    ("stages.0.positions", [["e3k3"]], "either 'choices' or 'positions'"),
    ("stages", [], "'stages' must be a non-empty list"),
    ("input_size", None, "missing required key 'input_size'"),
    ("num_classes", 1, "'num_classes' must be an integer >= 2"),
    ("head", {"dropout": 1.5}, "'dropout' must be in"),
    ("stem.out_channels", "wide", "'out_channels' must be an integer"),
])
def test_yaml_validation_errors(tmp_path, path: str, value, message: str) -> None:
    file = tmp_path / "bad.yaml"
    file.write_text(yaml.safe_dump(_with(path, value)))
    with pytest.raises(SpaceError, match=message):
        load_space(file)


def test_yaml_positions_and_depth_range(tmp_path) -> None:
    data = _with("stages.0.choices", None)
    data["stages"][0].pop("depths")
    data["stages"][0]["depth"] = [1, 3]
    data["stages"][0]["positions"] = [["e3k3"], ["skip", "e6k5se"], ["e3k5"]]
    file = tmp_path / "ok.yaml"
    file.write_text(yaml.safe_dump(data))
    space = load_space(file)
    assert space.stages[0].depths == (1, 2, 3)
    assert space.size == 1 + 2 + 2


def test_unknown_and_unreadable_spaces(tmp_path) -> None:
    with pytest.raises(SpaceError, match="unknown search space 'nope'"):
        load_space("nope")
    bad = tmp_path / "broken.yaml"
    bad.write_text("stages: [unclosed\n")
    with pytest.raises(SpaceError, match="not valid YAML"):
        load_space(bad)
    bad.write_text("- just a list\n")
    with pytest.raises(SpaceError, match="expected a mapping"):
        load_space(bad)
