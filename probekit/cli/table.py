"""`probekit table DIR`: one comparison table from the results JSONs in DIR (markdown, CSV, LaTeX)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from probekit.cli.common import fails_cleanly, setup_logging
from probekit.errors import ProbekitError


@fails_cleanly
def table_command(
    directory: Annotated[Path, typer.Argument(help="Directory of results JSONs (probekit probe --out).")],
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No info lines (warnings about results files stay).")
    ] = False,
    group_by: Annotated[
        str,
        typer.Option(
            help="What the rows are: backbone | dataset | image_size | layers | split; "
            "the other keys that vary get their own columns."
        ),
    ] = "backbone",
    published: Annotated[
        bool,
        typer.Option(
            "--published",
            help="Under each row, the published numbers its runs match (paper rows, cited) and ours minus them "
            "(docs/published.md).",
        ),
    ] = False,
) -> None:
    """Print a backbone x task-metric table and write table.md, table.csv, table.tex and table_values.csv (the
    numbers, unrounded, one row per cell) beside the JSONs.

    A results file that cannot be read is named in a warning and in a footnote under the table."""
    from probekit.report.table import write_tables

    setup_logging(quiet)
    if not directory.is_dir():
        raise ProbekitError(
            f"{directory} is not a directory of results: run `probekit probe ... --out {directory}` first"
        )
    markdown, paths = write_tables(directory, group_by, published)
    if not paths:
        raise ProbekitError(f"no probekit results JSONs in {directory}")
    typer.echo(markdown)
    typer.echo("wrote " + ", ".join(str(p) for p in paths), err=True)
