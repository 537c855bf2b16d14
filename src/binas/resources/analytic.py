"""Exact analytic parameter and MAC counts as LUT resources (the counters live in :mod:`binas.space.cost`)."""

from __future__ import annotations

from binas.space.cost import ANALYTIC_RESOURCES, block_cost, fixed_cost, network_cost

__all__ = ["ANALYTIC_RESOURCES", "block_cost", "fixed_cost", "network_cost"]
