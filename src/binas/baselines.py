"""Hand-scaled baselines: one depth and one block choice everywhere, scaled to a budget.

This is what a practitioner does without NAS (MobileNet-style width/depth scaling): pick the
uniform network that uses most of the budget. binas's searched networks are compared with it.
"""

from __future__ import annotations

from binas.lut.table import Lut
from binas.space import Architecture, SearchSpace

__all__ = ["scaled_baseline", "uniform_archs"]


def uniform_archs(space: SearchSpace) -> list[Architecture]:
    """Every network with the same depth in each stage and the same choice at each position.

    Only depths and choices that every stage offers are used (all of them in the built-in spaces).
    """
    depths = set(space.stages[0].depths)
    choices = [c.id for c in space.stages[0].positions[0]]
    for stage in space.stages:
        depths &= set(stage.depths)
        offered = {c.id for p in stage.positions for c in p}
        choices = [c for c in choices if c in offered and all(c in {x.id for x in p} for p in stage.positions)]
    return [Architecture(tuple(d for _ in space.stages), tuple((c,) * d for _ in space.stages))
            for d in sorted(depths) for c in choices]


def scaled_baseline(space: SearchSpace, luts: list[Lut], budgets: list[float]) -> Architecture | None:
    """The uniform network with the largest first-LUT value within every budget (None if none fits).

    ``luts[i]`` is compared with ``budgets[i]``; ties are broken by the other resources in order.
    """
    fitting = [a for a in uniform_archs(space)
               if all(lut.value(space, a) <= b for lut, b in zip(luts, budgets, strict=True))]
    if not fitting:
        return None
    return max(fitting, key=lambda a: tuple(lut.value(space, a) for lut in luts))
