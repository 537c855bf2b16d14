"""Static child networks: exact parameter/MAC counts, forward shapes, structure."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from binas.codec import parse_timm
from binas.nn.fold import fold_batchnorm
from binas.nn.static import build_child
from binas.space import builtin_spaces, load_space
from binas.space.cost import network_cost
from conftest import EXAMPLE_SPACES, REFERENCE_ARCHS

MBV3 = load_space("mobilenetv3")
# Parameter counts of timm's MobileNetV3 builder for the same arch-def strings (1000 classes), and
# the MACs of the published anchors (~521 M heaviest, ~137 M smallest).
ANCHORS = {"heaviest": (8_949_984, 520_947_808), "smallest": (3_246_072, 136_826_032)}


def _params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _hook_macs(model: nn.Module, space) -> int:
    """MACs counted independently of the analytic formulas, from the shapes seen in a forward pass."""
    total = 0

    def conv_hook(module: nn.Conv2d, inputs, output) -> None:
        nonlocal total
        k = module.kernel_size[0] * module.kernel_size[1]
        total += output.numel() * (module.in_channels // module.groups) * k

    def linear_hook(module: nn.Linear, inputs, output) -> None:
        nonlocal total
        total += output.numel() * module.in_features

    handles = [m.register_forward_hook(conv_hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    handles += [m.register_forward_hook(linear_hook) for m in model.modules() if isinstance(m, nn.Linear)]
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, space.in_channels, space.input_size, space.input_size))
    for h in handles:
        h.remove()
    return total


@pytest.mark.parametrize("which", ["heaviest", "smallest"])
def test_mobilenetv3_anchor_counts(which: str) -> None:
    arch = getattr(MBV3, which)
    params, macs = ANCHORS[which]
    assert _params(build_child(MBV3, arch)) == params
    assert network_cost(MBV3, arch) == {"params": params, "macs": macs}


def test_reference_binas_counts() -> None:
    expected = {"BINAS-A": 5_165_144, "BINAS-B": 5_631_704, "BINAS-C": 7_060_104, "BINAS-D": 7_002_040,
                "BINAS-E": 7_681_672, "BINAS-F": 8_169_568}
    for model in json.loads(REFERENCE_ARCHS.read_text())["models"]:
        arch = parse_timm(MBV3, model["timm"])
        assert network_cost(MBV3, arch)["params"] == expected[model["name"]]
        assert _params(build_child(MBV3, arch)) == expected[model["name"]]


@pytest.mark.parametrize("name", builtin_spaces() + [str(p) for p in EXAMPLE_SPACES])
def test_counts_and_shapes_for_random_archs(name: str) -> None:
    space = load_space(name)
    rng = np.random.default_rng(1)
    archs = [space.smallest, space.heaviest] + [space.sample(rng) for _ in range(2)]
    for arch in archs:
        model = build_child(space, arch)
        cost = network_cost(space, arch)
        assert _params(model) == cost["params"]
        if space.input_size <= 32:  # the 224 px space is covered by the anchors above
            assert _hook_macs(model, space) == cost["macs"]
            x = torch.randn(2, space.in_channels, space.input_size, space.input_size)
            model.train()
            assert model(x).shape == (2, space.num_classes)
            features = model.forward_features(x)
            assert [f.shape[1] for f in features] == [s.out_channels for s in space.stages]


def test_mobilenetv3_forward_and_macs() -> None:
    arch = MBV3.sample(np.random.default_rng(3))
    model = build_child(MBV3, arch).eval()
    assert _hook_macs(model, MBV3) == network_cost(MBV3, arch)["macs"]
    with torch.no_grad():
        assert model(torch.randn(1, 3, 224, 224)).shape == (1, 1000)


def test_residuals_follow_shapes() -> None:
    model = build_child(MBV3, MBV3.heaviest)
    first, second = model.stages[0][0], model.stages[0][1]
    assert not first.has_residual and second.has_residual
    assert not model.fixed_blocks[0].has_residual  # 32 -> 16 channels
    se = model.stages[0][0].se
    assert se.conv_reduce.out_channels == 24  # mid = 16 * 6 = 96, make_divisible(96 / 4) = 24
    assert isinstance(se.gate, nn.Hardsigmoid) and isinstance(se.act, nn.ReLU)


def test_fold_batchnorm_keeps_the_function_and_the_original() -> None:
    space = load_space("mobilenetv3-tiny")
    net = build_child(space, space.sample(np.random.default_rng(3)))
    with torch.no_grad():  # non-trivial running statistics and affine parameters
        for bn in (m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)):
            bn.running_mean.uniform_(-0.5, 0.5), bn.running_var.uniform_(0.5, 2.0)
            bn.weight.uniform_(0.5, 1.5), bn.bias.uniform_(-0.2, 0.2)
    net.eval()
    x = torch.randn(4, space.in_channels, space.input_size, space.input_size)
    folded = fold_batchnorm(net)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules()) > 0  # the original is untouched
    with torch.no_grad():
        assert torch.allclose(folded(x), net(x), atol=1e-4, rtol=1e-4)
