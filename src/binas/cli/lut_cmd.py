"""``binas lut``: measure, compute, validate, export and import resource lookup tables."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Callable, Iterator, Optional

import typer

from binas.cli.choices import TIME_UNITS, AnalyticResource, Backend, Clock, Statistic
from binas.cli.common import OUTPUT_DIR, OUTPUT_FILE, BinasTyper, err_console, out_console, print_json, print_result, print_warning

if TYPE_CHECKING:
    from binas.lut.table import Lut

# the measurement, ONNX and plotting modules are imported inside the commands (``binas --help`` stays fast)

__all__ = ["app"]

app = BinasTyper(help="Resource lookup tables: measure on a backend, compute exactly, validate, "
                       "export blocks for other devices and import their timings.", no_args_is_help=True)

SpaceOption = Annotated[str, typer.Option("--space", "-s", help="Built-in space name or YAML file.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]
OutOption = Annotated[Path, typer.Option("--out", "-o", help="Output LUT file (binas.lut/1 JSON)."), OUTPUT_FILE]


@contextlib.contextmanager
def _progress(enabled: bool) -> Iterator[Callable[..., None]]:
    """A ``progress(phase, done, total)`` callback drawing Rich bars on stderr (silent if disabled)."""
    if not enabled:
        yield lambda *args: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err_console, transient=False) as bar:
        tasks: dict[str, Any] = {}

        def update(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total)
            bar.update(tasks[phase], completed=done, total=total)

        yield update


def _report(lut: Lut, path: Path, json_out: bool) -> None:
    """The result of a command that wrote the LUT ``path``: its summary as JSON, or one line."""
    summary = {"out": str(path), "space": lut.space, "space_hash": lut.space_hash, "resource": lut.resource,
               "unit": lut.unit, "fixed": lut.fixed, "entries": sum(len(r) for r in lut.blocks.values()),
               "meta": lut.meta}

    def line() -> str:
        values = [v for row in lut.blocks.values() for v in row.values()]
        return (f"wrote {path}: {lut.resource} LUT ({lut.unit}) for {lut.space} ({lut.space_hash}), "
                f"{len(values)} block entries in [{min(values):.4g}, {max(values):.4g}], fixed {lut.fixed:.4g}")

    print_result(summary, json_out, line)


@app.command("measure")
def measure(
    out: OutOption,
    space: SpaceOption = "mobilenetv3",
    backend: Annotated[Backend, typer.Option(help="Timing backend.")] = Backend.torch,
    threads: Annotated[int, typer.Option(help="CPU threads (torch.set_num_threads / ORT intra-op).")] = 1,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Images per forward pass.")] = 1,
    resolution: Annotated[Optional[int], typer.Option(help="Input size in px (default: the space's).")] = None,
    repeats: Annotated[int, typer.Option(help="Timed calls per entry (interleaved rounds).")] = 30,
    warmup: Annotated[int, typer.Option(help="Untimed warm-up calls before each timed call.")] = 2,
    seed: Annotated[int, typer.Option(help="Seed of the shuffled measurement order.")] = 0,
    clock: Annotated[Clock, typer.Option(help="wall: elapsed time; cpu: the measuring thread's CPU time (ignores "
                                              "other processes on a busy machine; --threads 1).")] = Clock.wall,
    statistic: Annotated[Statistic, typer.Option(
        help="Each entry's value over its rounds: median, or min (the fastest round: steadier on a shared "
             "machine).")] = Statistic.median,
    json_out: JsonOption = False,
) -> None:
    """Time every block position x choice and the fixed part; resumable (re-run the same command)."""
    from binas.lut.measure import MeasureSettings, measure_lut, partial_path_for
    from binas.space import load_space

    sp = load_space(space)
    settings = MeasureSettings(backend.value, threads, batch_size, resolution, repeats, warmup, seed,
                               clock.value, statistic.value).check()
    partial = partial_path_for(out)
    if partial.exists() and not json_out:
        err_console.print(f"resuming the measurement saved in {partial}")
    with _progress(not json_out) as progress:
        lut = measure_lut(sp, settings, partial, progress)
    lut.save(out)
    partial.unlink(missing_ok=True)
    _report(lut, out, json_out)


@app.command("compute")
def compute(
    out: OutOption,
    space: SpaceOption = "mobilenetv3",
    resource: Annotated[AnalyticResource, typer.Option(help="Analytic resource (measure latency with 'binas lut "
                        "measure').")] = AnalyticResource.params,
    json_out: JsonOption = False,
) -> None:
    """Exact analytic params/MACs LUT: its sum equals the static child's count for every network."""
    from binas.lut.table import analytic_lut
    from binas.space import load_space

    lut = analytic_lut(load_space(space), resource.value)
    lut.save(out)
    _report(lut, out, json_out)


@app.command("validate")
def validate(
    lut: Annotated[Path, typer.Option("--lut", help="Measured latency LUT to check.")],
    space: Annotated[Optional[str], typer.Option("--space", "-s", help="Space name or YAML "
                     "(default: the one named in the LUT).")] = None,
    samples: Annotated[int, typer.Option(help="Random networks to time end to end.")] = 20,
    repeats: Annotated[int, typer.Option(help="Timed calls per network (interleaved rounds).")] = 15,
    warmup: Annotated[int, typer.Option(help="Untimed warm-up calls before each timed call.")] = 2,
    seed: Annotated[int, typer.Option(help="Seed of the random networks and the order.")] = 0,
    plot: Annotated[Optional[Path], typer.Option(help="Write a predicted-vs-measured scatter plot (PNG)."),
                    OUTPUT_FILE] = None,
    calibrated_out: Annotated[Optional[Path], typer.Option("--calibrated-out", help="Also write the LUT "
                              "calibrated with the fitted slope/intercept."), OUTPUT_FILE] = None,
    json_out: JsonOption = False,
) -> None:
    """Time random networks end to end with the LUT's own settings; report predicted vs measured."""
    from binas.artifacts import read_format
    from binas.lut.fidelity import calibrated_lut, plot_fidelity, validate_lut
    from binas.lut.table import LUT_FORMAT, load_lut
    from binas.space import load_space, space_named_in

    sp = load_space(space) if space else space_named_in(read_format(lut, LUT_FORMAT, "LUT file").get("space"),
                                                        f"LUT file {lut}")
    table = load_lut(lut, sp)
    with _progress(not json_out) as progress:
        result = validate_lut(sp, table, samples, seed, repeats, warmup, progress)
    if plot is not None:
        result["plot"] = str(plot_fidelity(result, plot))
    if calibrated_out is not None:
        calibrated_lut(table, result["slope"], result["intercept"], f"lut validate of {lut}").save(calibrated_out)
        result["calibrated_lut"] = str(calibrated_out)
    if json_out:
        print_json(result)
        return
    tau = result["kendall_tau"]
    out_console.print(f"{result['samples']} random {sp.name} networks, {result['backend']}, {result['threads']} "
                      f"thread(s), batch {result['batch_size']}, {result['resolution']} px, {result['clock']} clock")
    out_console.print(f"median |rel. error| {100 * result['median_abs_rel_err']:.2f}%   max "
                      f"{100 * result['max_abs_rel_err']:.2f}%   Kendall tau {tau if tau is None else round(tau, 3)}")
    out_console.print(f"fit: measured = {result['slope']:.4f} x predicted + {result['intercept']:.4f} ms "
                      f"(median |rel. error| after it {100 * result['calibrated_median_abs_rel_err']:.2f}%)")
    ref = result["reference"]
    out_console.print(f"fixed part now {ref['measured_fixed']:.4g} ms vs {ref['lut_fixed']:.4g} ms in the LUT")
    if ref["ratio"] is not None and abs(ref["ratio"] - 1) > 0.05:
        print_warning(f"the fixed part runs {100 * (ref['ratio'] - 1):+.0f}% vs the LUT: the "
                          "machine's speed has changed since the LUT was measured (load? clocks?), and the errors "
                          "above include that drift")


@app.command("export-blocks")
def export_blocks_cmd(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the ONNX files and manifest.json."),
                   OUTPUT_DIR],
    space: SpaceOption = "mobilenetv3",
    batch_size: Annotated[int, typer.Option("--batch-size", help="Batch size baked into the models.")] = 1,
    resolution: Annotated[Optional[int], typer.Option(help="Input size in px (default: the space's).")] = None,
    json_out: JsonOption = False,
) -> None:
    """Write every block position x choice and the fixed part as ONNX, to time on another device."""
    from binas.lut.onnx_blocks import export_blocks
    from binas.space import load_space

    sp = load_space(space)
    with _progress(not json_out) as progress:
        manifest = export_blocks(sp, out, batch_size, resolution, lambda i, n: progress("export", i, n))
    result = {"out": str(out), "manifest": str(Path(out) / "manifest.json"), "files": len(manifest["entries"]),
              "space_hash": manifest["space_hash"]}
    print_result(result, json_out, lambda: f"wrote {len(manifest['entries'])} ONNX models, manifest.json and the "
                 f"timings.csv template to {out}")


@app.command("import")
def import_cmd(
    csv: Annotated[Path, typer.Option("--csv", help="Timings CSV with columns key,choice,value.")],
    out: OutOption,
    space: SpaceOption = "mobilenetv3",
    resource: Annotated[str, typer.Option(help="Resource the values measure: latency, energy, memory, params, "
                                                "macs, or any other additive name (flops, ...).")] = "latency",
    unit: Annotated[Optional[str], typer.Option(help=f"Unit of the CSV values. latency: {', '.join(TIME_UNITS)} "
                                                     "(stored as ms); energy: J, mJ, uJ, nJ (stored as mJ); memory: "
                                                     "GB, MB, KB, B (stored as MB); params/macs: count, K, M, G; "
                                                     "other resources: stored as given (required).")] = None,
    device: Annotated[Optional[str], typer.Option(help="Name of the device the timings come from.")] = None,
    manifest: Annotated[Optional[Path], typer.Option(help="manifest.json of export-blocks (records batch "
                                                          "size and resolution).")] = None,
    json_out: JsonOption = False,
) -> None:
    """Turn values measured elsewhere (phone latency, energy, memory, FLOPs...) into a LUT."""
    from binas.lut.onnx_blocks import import_csv
    from binas.space import load_space

    lut = import_csv(load_space(space), csv, unit, device, manifest, resource=resource)
    lut.save(out)
    _report(lut, out, json_out)
