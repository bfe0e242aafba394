"""What every command shares: one-line errors instead of tracebacks, and logging to stderr."""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable
from typing import TypeVar

import typer

from probekit.errors import ProbekitError

F = TypeVar("F", bound=Callable)


def fails_cleanly(command: F) -> F:
    """Print a ProbekitError as `probekit: error: ...` on stderr and exit with status 2."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except ProbekitError as error:
            typer.echo(f"probekit: error: {error}", err=True)
            if getattr(error, "exit_now", False):  # a library (HDF5) left in a state that crashes at normal exit
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(2)
            raise typer.Exit(code=2) from None

    return wrapper  # type: ignore[return-value]


def setup_logging(quiet: bool) -> None:
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, stream=sys.stderr,
                        format="probekit: %(message)s", force=True)


def parse_size(text: str) -> tuple[int, int]:
    """'224' -> (224, 224); '224x320' (height x width) -> (224, 320)."""
    try:
        parts = [int(p) for p in text.lower().split("x")]
    except ValueError:
        parts = []
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or min(parts) <= 0:
        raise ProbekitError(f"bad image size {text!r}: use e.g. 224 or 224x320 (height x width)")
    return parts[0], parts[1]
