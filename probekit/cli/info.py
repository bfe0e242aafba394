"""`probekit info FILE.h5`: what a feature store holds and how it was made."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from probekit.cli.common import fails_cleanly


@fails_cleanly
def info_command(
    path: Annotated[Path, typer.Argument(help="A feature store written by `probekit extract`.")],
) -> None:
    """Print a feature store's provenance and the shape of everything in it."""
    from probekit.features.summary import store_summary

    typer.echo(store_summary(path))
