"""The `probekit` command line: a thin typer layer over the library, one module per command."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from probekit.allocator import keep_freed_memory
from probekit.cli.backbones import backbones_command
from probekit.cli.benchmark import benchmark_command
from probekit.cli.common import DEBUG_ENV, INTERRUPTED, CleanGroup
from probekit.cli.datasets import datasets_command
from probekit.cli.extract import extract_command
from probekit.cli.info import info_command
from probekit.cli.plot import plot_command
from probekit.cli.pretrain import pretrain_command
from probekit.cli.probe import probe_command
from probekit.cli.report import report_command
from probekit.cli.show import show_app
from probekit.cli.table import table_command

app = typer.Typer(
    name="probekit",
    help="What does a frozen vision encoder know? Extract features once, probe them, compare encoders.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=CleanGroup,
)


@app.callback()
def _global_options(
    debug: Annotated[
        bool, typer.Option("--debug", help=f"Show the full traceback of a failure (also {DEBUG_ENV}=1).")
    ] = False,
) -> None:
    """Options before the command name, for every command (read back by probekit.cli.common.debug_enabled)."""
    keep_freed_memory()  # big tensors reused from the heap, not page-faulted anew each step (probekit/allocator.py)


app.command("extract")(extract_command)
app.command("info")(info_command)
app.command("probe")(probe_command)
app.command("table")(table_command)
app.command("plot")(plot_command)
app.command("report")(report_command)
app.command("benchmark")(benchmark_command)
app.command("backbones")(backbones_command)
app.command("datasets")(datasets_command)
app.add_typer(show_app, name="show")
app.command("pretrain")(pretrain_command)


def main() -> None:
    """The `probekit` entry point; Ctrl-C outside a command (say, while importing) is one line too."""
    try:
        app()
    except KeyboardInterrupt:
        print("probekit: interrupted", file=sys.stderr)
        sys.exit(INTERRUPTED)
