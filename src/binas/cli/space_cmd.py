"""``binas space``: inspect search spaces."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from binas.cli.common import BinasTyper, out_console, print_json

if TYPE_CHECKING:
    from binas.space import SearchSpace

app = BinasTyper(help="Inspect search spaces (built-in names or YAML files).", no_args_is_help=True)

SpaceOption = Annotated[str, typer.Option("--space", "-s", help="Built-in space name or YAML file.")]


def space_summary(space: SearchSpace) -> dict[str, Any]:
    """The ``space show --json`` object."""
    from binas.codec import format_timm
    from binas.space.cost import network_cost

    def extreme(arch: Any) -> dict[str, Any]:
        return {**network_cost(space, arch), "timm": format_timm(space, arch)}

    return {
        "name": space.name,
        "space_hash": space.space_hash,
        "input_size": space.input_size,
        "in_channels": space.in_channels,
        "num_classes": space.num_classes,
        "num_alpha": space.num_alpha,
        "num_beta": space.num_beta,
        "size": space.size,
        "stages": [
            {"stage": s + 1, "out_channels": st.out_channels, "stride": st.stride, "activation": st.activation,
             "input": list(space.stage_inputs[s]), "depths": list(st.depths),
             "positions": [[c.id for c in p] for p in st.positions]}
            for s, st in enumerate(space.stages)
        ],
        "smallest": extreme(space.smallest),
        "heaviest": extreme(space.heaviest),
    }


@app.command("show")
def show(
    space: SpaceOption = "mobilenetv3",
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Show a space's stages, choices, depth options, variable counts and extreme networks."""
    from rich.table import Table

    from binas.space import load_space

    summary = space_summary(load_space(space))
    if json_out:
        print_json(summary)
        return
    out_console.print(f"{summary['name']}  hash {summary['space_hash']}  input "
                      f"{summary['input_size']}px x {summary['in_channels']}ch, {summary['num_classes']} classes")
    table = Table("stage", "in (ch, px)", "out ch", "stride", "act", "depths", "choices per position")
    all_lists = [p for st in summary["stages"] for p in st["positions"]]
    uniform = all(p == all_lists[0] for p in all_lists)
    for st in summary["stages"]:
        shown = " | ".join(str(len(p)) for p in st["positions"]) if uniform else \
            " | ".join(",".join(p) for p in st["positions"])
        table.add_row(str(st["stage"]), f"{st['input'][0]}, {st['input'][1]}", str(st["out_channels"]),
                      str(st["stride"]), st["activation"], ",".join(map(str, st["depths"])), shown)
    out_console.print(table)
    if uniform:
        out_console.print(f"choices at every position: {', '.join(all_lists[0])}")
    out_console.print(f"{summary['num_alpha']} alpha + {summary['num_beta']} beta variables, "
                      f"{summary['size']:.4g} networks")
    for key in ("smallest", "heaviest"):
        e = summary[key]
        out_console.print(f"{key}: {e['params']:,} params, {e['macs']:,} MACs\n  {e['timm']}")


def list_entry(space: SearchSpace) -> dict[str, Any]:
    """One built-in space in ``space list --json``: what identifies it and how large it is."""
    return {"name": space.name, "space_hash": space.space_hash, "input_size": space.input_size,
            "in_channels": space.in_channels, "num_classes": space.num_classes, "stages": len(space.stages),
            "positions": sum(len(st.positions) for st in space.stages), "choices": space.num_alpha,
            "depth_options": space.num_beta, "size": space.size}


@app.command("list")
def list_spaces(
    json_out: Annotated[bool, typer.Option("--json", help="Print each space's name, hash, input, number of "
                        "stages, block positions, choices and networks as JSON.")] = False,
) -> None:
    """List the built-in spaces."""
    from binas.space import builtin_spaces, load_space

    if json_out:
        print_json([list_entry(load_space(name)) for name in builtin_spaces()])
        return
    for name in builtin_spaces():
        typer.echo(name)
