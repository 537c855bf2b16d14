"""Supernet: weight sharing, per-image routing, child extraction equivalence, sampling, file format."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from binas.errors import FileFormatError
from binas.space import builtin_spaces, load_space
from binas.supernet.elastic import ElasticBlock, choice_tensors
from binas.supernet.model import (Supernet, _all_pairs, archs_to_codes, codes_to_archs, extract_child, recalibrated,
                                  sample_codes)
from binas.supernet.store import load_supernet, save_supernet

torch.set_num_threads(1)

# A user space with skip choices: a skip at position 1 of stage 1 changes the shape (projection),
# stage 2 keeps it (identity); stage 3 has a single position with skip among its choices.
SKIP_SPACE = """
name: skip-test
input_size: 12
in_channels: 3
num_classes: 5
stem: {out_channels: 8, kernel_size: 3, stride: 1, activation: hswish}
fixed_blocks:
  - {type: ds, out_channels: 8, kernel_size: 3, stride: 1, activation: relu}
stages:
  - {out_channels: 16, stride: 2, activation: relu, depths: [1, 2, 3], choices: [skip, e1k3, e3k5se]}
  - {out_channels: 16, stride: 1, activation: hswish, depths: [2, 3], choices: [skip, e2k3se, e4k5, e4k5se]}
  - {out_channels: 24, stride: 2, activation: hswish, depths: [1], positions: [[skip, e3k3, e6k3se]]}
head: {conv_channels: 32, features: 48, activation: hswish, dropout: 0.0}
"""


@pytest.fixture(scope="module")
def skip_space(tmp_path_factory):
    path = tmp_path_factory.mktemp("space") / "skip.yaml"
    path.write_text(SKIP_SPACE)
    return load_space(str(path))


def _randomise(net: torch.nn.Module, seed: int = 0) -> None:
    """Non-trivial BN statistics and affine parameters, so that a wrong BN slice shows."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(torch.rand(n, generator=gen) - 0.5)
                m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
                m.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                m.bias.copy_(torch.rand(n, generator=gen) - 0.5)


def _input(space, n: int = 3) -> torch.Tensor:
    size = min(space.input_size, 64)  # the paper space is fully convolutional: 64 px keeps the test fast
    return torch.randn(n, space.in_channels, size, size, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("name", builtin_spaces())
def test_supernet_equals_extracted_child_for_every_builtin_space(name):
    space = load_space(name)
    net = Supernet(space)
    _randomise(net)
    net.eval()
    x = _input(space)
    archs = [space.heaviest, space.smallest] + codes_to_archs(space, sample_codes(space, np.random.default_rng(0), 3))
    for arch in archs:
        child = extract_child(net, arch).eval()
        with torch.no_grad():
            diff = (net(x, arch) - child(x)).abs().max().item()
            feats = [(a - b).abs().max().item() for a, b in zip(net.forward_features(x, arch),
                                                                  child.forward_features(x))]
        assert diff <= 1e-5, (arch, diff)
        assert max(feats) <= 1e-5


def test_supernet_equals_child_with_skip_choices(skip_space):
    net = Supernet(skip_space)
    _randomise(net, 3)
    net.eval()
    x = _input(skip_space, 4)
    archs = list(skip_space.enumerate())[::373]  # 26 of the 9,360 architectures, every choice kind
    assert {c for a in archs for b in a.blocks for c in b} == {"skip", "e1k3", "e3k5se", "e2k3se", "e4k5", "e4k5se",
                                                                "e3k3", "e6k3se"}
    for arch in archs:
        with torch.no_grad():
            assert (net(x, arch) - extract_child(net, arch).eval()(x)).abs().max().item() <= 1e-5


def test_child_state_dict_is_the_static_childs(skip_space):
    from binas.nn.static import build_child

    arch = skip_space.heaviest
    child = extract_child(Supernet(skip_space), arch)
    static = build_child(skip_space, arch).state_dict()
    assert {k: v.shape for k, v in child.state_dict().items()} == {k: v.shape for k, v in static.items()}


def test_weights_are_shared_between_choices():
    space = load_space("mobilenetv3-tiny")
    block = Supernet(space).stages[0][0]
    assert isinstance(block, ElasticBlock)
    assert set(block.dw) == {"3", "5"} and set(block.bn_dw) == {"3", "5"}
    assert sorted(block.bn3) == ["e3", "e3se", "e4", "e4se", "e6", "e6se"]
    # expand ratio 3 uses the first 24 of the 48 channels of the shared expand conv, SE and project conv
    small = choice_tensors(block, [ch for ch in block.choices if ch.id == "e3k5se"][0])
    assert block.pw.weight.shape[0] == 48 and small.pw_weight.shape[0] == 24
    assert small.pw_weight.data_ptr() == block.pw.weight.data_ptr()  # a view, not a copy
    assert small.dw_weight.shape == (24, 1, 5, 5) and small.bn2.bn is block.bn_dw["5"]
    assert small.se[0].shape == (8, 24, 1, 1) and small.pwl_weight.shape == (16, 24, 1, 1)
    assert small.bn3.bn is block.bn3["e3se"] and small.bn1.channels == 24


def test_per_image_routing_equals_separate_forwards():
    space = load_space("mobilenetv3-tiny")
    net = Supernet(space)
    _randomise(net, 1)
    net.eval()
    x = _input(space, 6)
    archs = codes_to_archs(space, sample_codes(space, np.random.default_rng(5), 6))
    with torch.no_grad():
        together = net(x, archs)
        apart = torch.cat([net(x[i:i + 1], a) for i, a in enumerate(archs)])
    assert (together - apart).abs().max().item() <= 1e-5


def test_training_mode_updates_sliced_bn_statistics():
    space = load_space("mobilenetv3-tiny")
    net = Supernet(space).train()
    net(_input(space, 4), space.smallest)
    block = net.stages[0][0]
    mid = 24  # e3 of 8 input channels
    assert block.bn1.running_mean[:mid].abs().sum() > 0
    assert block.bn1.running_mean[mid:].abs().sum() == 0  # the unused channels were not touched
    assert block.bn3["e6se"].running_mean.abs().sum() == 0


def test_gradients_reach_only_the_used_weights():
    space = load_space("mobilenetv3-tiny")
    net = Supernet(space).train()
    net(_input(space, 4), space.smallest).sum().backward()
    block = net.stages[0][0]
    assert block.dw["3"].weight.grad is not None and block.dw["5"].weight.grad is None
    assert block.pw.weight.grad[24:].abs().sum() == 0 and block.pw.weight.grad[:24].abs().sum() > 0


def test_sampling_is_valid_seeded_and_follows_given_distributions(skip_space):
    codes = sample_codes(skip_space, np.random.default_rng(0), 200)
    archs = codes_to_archs(skip_space, codes)
    for arch in archs:
        skip_space.validate(arch)
    assert (archs_to_codes(skip_space, archs) == codes).all()
    assert (sample_codes(skip_space, np.random.default_rng(0), 200) == codes).all()
    assert len({a.depths[0] for a in archs}) == 3  # uniform over depths
    alpha = np.zeros(skip_space.num_alpha)
    beta = np.zeros(skip_space.num_beta)
    for s, stage in enumerate(skip_space.stages):
        beta[skip_space.beta_index(s, stage.depths[-1])] = 1
        for j in range(stage.num_positions):
            alpha[skip_space.alpha_offsets[s][j]] = 1  # always the first choice
    picked = codes_to_archs(skip_space, sample_codes(skip_space, np.random.default_rng(1), 10, alpha, beta))
    expected = skip_space.decode(alpha, beta)
    assert all(a == expected for a in picked)


def test_set_active_and_per_batch_archs():
    space = load_space("mobilenetv3-tiny")
    net = Supernet(space).eval()
    x = _input(space, 2)
    with torch.no_grad():
        net.set_active(space.smallest)
        assert torch.equal(net(x), net(x, space.smallest))
        assert torch.equal(net(x, [space.smallest, space.smallest]), net(x, space.smallest))
    with pytest.raises(ValueError):
        net(x, [space.smallest] * 3)


@torch.no_grad()
def inject_child(supernet: Supernet, child, arch) -> None:
    """Copy a static child's weights back into the supernet slices it came from (inverse of extraction)."""
    for mine, theirs in _all_pairs(supernet, child, arch):
        theirs.copy_(mine)


def test_inject_child_is_the_inverse_of_extraction(skip_space):
    net = Supernet(skip_space)
    arch = skip_space.heaviest
    child = extract_child(net, arch)
    _randomise(child, 7)
    with torch.no_grad():
        for p in child.parameters():
            p.add_(0.1)
    inject_child(net, child, arch)
    again = extract_child(net, arch)
    for (k, a), b in zip(child.state_dict().items(), again.state_dict().values()):
        assert torch.equal(a, b), k


def test_save_and_load_round_trip_with_a_yaml_space(skip_space, tmp_path):
    net = Supernet(skip_space)
    _randomise(net, 2)
    net.eval()
    path = save_supernet(net, tmp_path / "sn.safetensors", {"note": "x"})
    loaded = load_supernet(path).eval()
    assert loaded.space.space_hash == skip_space.space_hash
    x = _input(skip_space)
    with torch.no_grad():
        assert torch.equal(net(x), loaded(x))
    (tmp_path / "run").mkdir()
    save_supernet(net, tmp_path / "run" / "supernet.safetensors")
    assert load_supernet(tmp_path / "run").space.name == "skip-test"


def test_load_errors_are_clear(skip_space, tmp_path):
    path = save_supernet(Supernet(skip_space), tmp_path / "sn.safetensors")
    data = path.read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(FileFormatError, match="corrupt or truncated"):
        load_supernet(tmp_path / "cut.safetensors")
    with pytest.raises(FileFormatError, match="does not exist"):
        load_supernet(tmp_path / "missing.safetensors")
    with pytest.raises(FileFormatError, match="trained for space"):
        load_supernet(path, space=load_space("mobilenetv3-tiny"))
    with pytest.raises(FileFormatError, match="no supernet.safetensors"):
        load_supernet(tmp_path)


def test_recalibrated_copy_recomputes_bn_statistics_without_touching_the_original():
    space = load_space("mobilenetv3-tiny")
    net = Supernet(space)
    _randomise(net, 4)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    images = _input(space, 8)
    calibrated = recalibrated(net, space.smallest, images, batch_size=4)
    assert not calibrated.training
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    bn1 = calibrated.stages[0][0].bn1
    assert not torch.equal(bn1.running_mean[:24], before["stages.0.0.bn1.running_mean"][:24])
    assert (bn1.running_mean[24:] == 0).all()  # channels the smallest path does not use were reset
    child = extract_child(net, space.smallest).train()
    with torch.no_grad():  # the recomputed statistics are the calibration batch statistics
        for m in child.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.reset_running_stats()
                m.momentum = None
        child(images[:4])
        child(images[4:])
        assert (calibrated(images, space.smallest) - child.eval()(images)).abs().max() <= 1e-4


def test_inherit_from_largest_keeps_the_largest_path_and_crops_kernels():
    space = load_space("mobilenetv3-tiny")
    net = Supernet(space)
    _randomise(net, 5)
    net.eval()
    x = _input(space, 2)
    with torch.no_grad():
        heavy = net(x)
        for blocks in net.stages:
            for block in blocks:
                block.inherit_from_largest()
        assert torch.equal(net(x), heavy)
    block = net.stages[1][2]
    assert torch.equal(block.dw["3"].weight, block.dw["5"].weight[:, :, 1:4, 1:4])
    assert torch.equal(block.bn3["e3"].running_var, block.bn3["e6se"].running_var)
