"""``binas arch``: inspect one architecture."""

from __future__ import annotations

from typing import Annotated, Iterator, Optional

import typer

from binas.cli.common import BinasTyper, print_result

app = BinasTyper(help="Inspect architectures (timm arch-def strings or arch JSON files).",
                  no_args_is_help=True)


@app.command("info")
def info(
    arch: Annotated[str, typer.Argument(help="timm arch-def string, or a binas.arch/1 JSON file.")],
    space: Annotated[Optional[str], typer.Option("--space", "-s", help="Space name or YAML file "
                     "(default: the one named in the JSON, else mobilenetv3).")] = None,
    lut: Annotated[Optional[list[str]], typer.Option("--lut", help="LUT file(s) to predict resources "
                   "with (repeatable).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Show an architecture's depths, choices, exact params/MACs and canonical timm string."""
    from binas.codec import format_timm, load_architecture
    from binas.lut.table import load_lut
    from binas.space.cost import network_cost

    sp, architecture = load_architecture(arch, space)
    cost = network_cost(sp, architecture)
    result = {"depths": list(architecture.depths), "choices": [list(b) for b in architecture.blocks],
              "params": cost["params"], "macs": cost["macs"], "timm": format_timm(sp, architecture)}
    predicted = {}
    for path in lut or []:
        table = load_lut(path, sp)
        predicted[table.resource] = table.value(sp, architecture)
    if predicted:
        result["predicted"] = predicted

    def summary() -> Iterator[str]:
        yield f"space {sp.name} ({sp.space_hash})"
        for s, (d, blocks) in enumerate(zip(architecture.depths, architecture.blocks)):
            yield f"  stage {s + 1}: depth {d}: {' '.join(blocks)}"
        yield f"params {cost['params']:,}   MACs {cost['macs']:,}"
        for name, value in predicted.items():
            yield f"predicted {name}: {value:.4g}"
        yield result["timm"]

    print_result(result, json_out, summary)
