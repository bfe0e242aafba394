"""`probekit info FILE.h5`: what a feature store holds and how it was made (and, with --verify, whether it is
intact)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from probekit.cli.common import fails_cleanly
from probekit.errors import ProbekitError, StoreError


@fails_cleanly
def info_command(
    path: Annotated[Path, typer.Argument(help="A feature store written by `probekit extract`.")],
    verify: Annotated[
        bool,
        typer.Option("--verify", help="Read every dataset whole: chunk checksums and zeroed rows (exit 2 if damaged)."),
    ] = False,
) -> None:
    """Print a feature store's provenance and the shape of everything in it."""
    from probekit.features.store import FeatureStore
    from probekit.features.summary import store_summary

    if path.is_dir():
        raise ProbekitError(f"{path} is a directory: pass a feature store file (.h5) written by `probekit extract`")
    typer.echo(store_summary(path))
    if verify:
        with FeatureStore(path, allow_incomplete=True) as store:
            problems, checksums = store.verify(), store.has_checksums
        if problems:
            raise StoreError(f"{path} failed verification: " + "; ".join(problems))
        if not checksums:
            typer.echo(
                f"probekit: warning: {path} has no chunk checksums (written by an older probekit): only its "
                f"readability was checked; re-extract with --overwrite to add them",
                err=True,
            )
        typer.echo(f"verified {path}: every dataset read back" + (", checksums intact" if checksums else ""))
