"""`probekit benchmark SUITE.yaml`: extract + probe + table for several backbones in one command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from probekit.cli.common import check_output, fails_cleanly, setup_logging


@fails_cleanly
def benchmark_command(
    suite: Annotated[Path, typer.Argument(help="A suite YAML (see configs/suites/).")],
    out: Annotated[Path | None, typer.Option(help="Output directory (default: the suite's 'out').")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or log lines.")] = False,
) -> None:
    """Run a benchmark suite: stores for every backbone and split, every task's probe, then the table, the
    plots (OUT/plots) and the HTML report (OUT/report/index.html)."""
    setup_logging(quiet)
    from probekit.benchmark import Suite, run_suite

    loaded = Suite.load(suite)
    check_output(out or Path(loaded.out), "--out" if out else f"{suite}: out", directory=True)
    typer.echo(f"\n{loaded.name}\n")
    typer.echo(run_suite(loaded, out, progress=not quiet))
    where = out or Path(loaded.out)
    typer.echo(f"\nplots: {where / 'plots'}/  report: {where / 'report' / 'index.html'} (open it in a browser)")
