"""`probekit plot DIR`: figures from the results JSONs in DIR (PNG and SVG, matplotlib)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from probekit.cli.common import fails_cleanly, setup_logging


@fails_cleanly
def plot_command(
    directory: Annotated[Path, typer.Argument(help="Directory of results JSONs (probekit probe --out).")],
    x: Annotated[
        list[str] | None,
        typer.Option(
            "--x",
            help="What the x axis is: layer (relative depth, from layer sweeps) | image_size | params | backbone "
            "(bars with the trivial baseline); repeat for several. Default: bars, plus layer and size plots "
            "when the results have them.",
        ),
    ] = None,
    y: Annotated[
        str | None,
        typer.Option("--y", help="The metric key (e.g. mIoU, d1, rmse, top1). Default: each task's first column."),
    ] = None,
    hue: Annotated[
        str, typer.Option(help="What separates the lines: backbone | dataset | image_size | layers | split.")
    ] = "backbone",
    out: Annotated[Path | None, typer.Option(help="Output directory (default: DIRECTORY/plots).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No info lines.")] = False,
) -> None:
    """Write one PNG + SVG per task and plot kind: a metric against layer depth, image size, parameter count,
    or one bar per backbone with the trivial baseline."""
    from probekit.report.plots import write_plots

    setup_logging(quiet)
    paths = write_plots(directory, out, x, y, hue)
    typer.echo(f"wrote {len(paths)} plot(s) (PNG and SVG) to {paths[0].parent}", err=True)
    for path in paths:
        typer.echo(str(path))
