"""`probekit report DIR --out report/`: one static HTML page of the results JSONs in DIR."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from probekit.cli.common import check_output, fails_cleanly, setup_logging


@fails_cleanly
def report_command(
    directory: Annotated[Path, typer.Argument(help="Directory of results JSONs (probekit probe --out).")],
    out: Annotated[Path, typer.Option(help="Output directory: index.html, plots/ and figures/.")] = Path("report"),
    stores: Annotated[
        Path | None,
        typer.Option(help="Where the stores named in the results are (default: beside the results, then ../features)."),
    ] = None,
    images: Annotated[int, typer.Option(min=1, help="Evaluation images per picture (PCA maps, predictions).")] = 3,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No info lines.")] = False,
) -> None:
    """Write a static, self-contained HTML page: the sortable comparison table, the plots, PCA maps and
    predictions of a few evaluation images, and every run's provenance (no server, nothing downloaded)."""
    from probekit.report.html import write_report

    setup_logging(quiet)
    check_output(out, "--out", directory=True)
    page = write_report(directory, out, stores=stores, images=images)
    typer.echo(f"wrote {page} (open it in a browser)", err=True)
