"""`binas demo`: BINAS end to end on a CPU, and a fair comparison of its networks (docs/demo.md).

Default path ("pretrained", train once, specialise anywhere): unpack the supernet shipped with
binas, measure *this* machine's latency LUT, build the estimator, and search three latency budgets,
re-scoring the exact top-K networks at each on the supernet. ``--train`` ("train") trains the
supernet here first. Then, at each budget, the found network, the hand-scaled baseline
(:func:`binas.baselines.scaled_baseline`) and several random networks that use 90-100% of the same
budget all get the *same* training (a fixed number of fine-tuning steps from their inherited
supernet weights) and are measured on every test image; their end-to-end latency is measured the
way the LUT was taken. ``report.md`` shows the result.

Every step writes its artifact atomically and is skipped when the artifact exists, so a killed demo
continues where it stopped.
"""

from binas.demo.compare import random_under_budget
from binas.demo.config import DemoConfig, check_demo_config
from binas.demo.run import run_demo

__all__ = ["DemoConfig", "check_demo_config", "random_under_budget", "run_demo"]
