"""`probekit info FILE.h5`: what a feature store holds and how it was made."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from probekit.cli.common import fails_cleanly
from probekit.errors import ProbekitError


@fails_cleanly
def info_command(
    path: Annotated[Path, typer.Argument(help="A feature store written by `probekit extract`.")],
) -> None:
    """Print a feature store's provenance and the shape of everything in it."""
    from probekit.features.summary import store_summary

    if path.is_dir():
        raise ProbekitError(f"{path} is a directory: pass a feature store file (.h5) written by `probekit extract`")
    typer.echo(store_summary(path))
