"""Analytic params/MACs LUTs: their sums equal the static child's real counts, exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from binas.errors import FileFormatError
from binas.lut.table import analytic_lut, load_lut
from binas.nn.static import build_child
from binas.space import load_space
from binas.space.cost import network_cost


def counted_macs(model: nn.Module, input_size: int, in_channels: int) -> int:
    """Multiply-accumulates of convolutions and linear layers, counted with forward hooks."""
    total = 0

    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1]
            total += output[0].numel() * module.in_channels // module.groups * k
        else:
            total += module.in_features * module.out_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.inference_mode():
        model.eval()(torch.zeros(1, in_channels, input_size, input_size))
    for h in handles:
        h.remove()
    return total


@pytest.mark.parametrize("name", ["mobilenetv3-tiny", "mobilenetv3-tiny-cifar"])
def test_analytic_sums_equal_the_child_counts(name: str, rng: np.random.Generator) -> None:
    space = load_space(name)
    params, macs = analytic_lut(space, "params"), analytic_lut(space, "macs")
    archs = [space.sample(rng) for _ in range(6)] + [space.smallest, space.heaviest]
    for arch in archs:
        child = build_child(space, arch)
        real_params = sum(p.numel() for p in child.parameters())
        assert params.value(space, arch) == real_params == network_cost(space, arch)["params"]
        real_macs = counted_macs(child, space.input_size, space.in_channels)
        assert macs.value(space, arch) == real_macs == network_cost(space, arch)["macs"]


def test_analytic_sums_on_the_paper_space(rng: np.random.Generator) -> None:
    space = load_space("mobilenetv3")
    params, macs = analytic_lut(space, "params"), analytic_lut(space, "macs")
    assert params.value(space, space.heaviest) == 8_949_984 and params.value(space, space.smallest) == 3_246_072
    for arch in [space.sample(rng) for _ in range(3)]:
        child = build_child(space, arch)
        assert params.value(space, arch) == sum(p.numel() for p in child.parameters())
        assert macs.value(space, arch) == network_cost(space, arch)["macs"]
    assert macs.value(space, space.heaviest) == counted_macs(build_child(space, space.heaviest), 224, 3)


def test_saved_tables_are_refused_for_another_space_or_unit(tmp_path) -> None:
    tiny, cifar = load_space("mobilenetv3-tiny"), load_space("mobilenetv3-tiny-cifar")
    path = analytic_lut(tiny, "macs").save(tmp_path / "macs.json")
    assert load_lut(path, tiny).fixed == analytic_lut(tiny, "macs").fixed
    with pytest.raises(FileFormatError, match="made for space 'mobilenetv3-tiny'"):
        load_lut(path, cifar)
    with pytest.raises(FileFormatError, match="analytic LUTs exist for 'params' and 'macs'"):
        analytic_lut(tiny, "latency")
