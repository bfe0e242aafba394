"""What every command shares: one error path (one line, no traceback), option validators, logging to stderr."""

from __future__ import annotations

import contextlib
import contextvars
import errno
import functools
import logging
import math
import os
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import typer
from typer.core import TyperGroup

from probekit.errors import ProbekitError

if TYPE_CHECKING:  # the click that this typer uses (its vendored copy in the pinned version)
    from typer._click.core import Context as ClickContext
    from typer._click.exceptions import ClickException

F = TypeVar("F", bound=Callable[..., Any])
NumberT = TypeVar("NumberT", int, float)

DEBUG_ENV = "PROBEKIT_DEBUG"
USER_ERROR, INTERNAL_ERROR, INTERRUPTED = 2, 1, 130
# typer's own exits and usage errors, which print themselves (typer may vendor its own click, so found by name)
_CLICK_EXCEPTION = cast(
    "type[ClickException]", next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
)
TYPER_OWN = (typer.Exit, typer.Abort, _CLICK_EXCEPTION)
_debug_flag: contextvars.ContextVar[bool] = contextvars.ContextVar("probekit_debug", default=False)

# errno -> what went wrong with the path, and the fix
OS_ERRORS = {
    errno.EACCES: "permission denied: fix its permissions or choose another path",
    errno.EPERM: "operation not permitted: fix its permissions or choose another path",
    errno.EROFS: "read-only file system: choose a path on a writable file system",
    errno.ENOSPC: "no space left on the device: free some space or choose another path",
    errno.EDQUOT: "disk quota exceeded: free some space or choose another path",
    errno.EISDIR: "is a directory: give a file path",
    errno.ENOTDIR: "a part of the path is a file, not a directory: choose another path",
    errno.EEXIST: "a file is in the way: remove it or choose another path",
    errno.ENOENT: "no such file or directory: check the path",
    errno.ENAMETOOLONG: "file name too long: choose a shorter path",
}


# -- the one error path -------------------------------------------------------------------------


def debug_enabled() -> bool:
    """--debug on the command line or PROBEKIT_DEBUG=1 in the environment: show tracebacks."""
    return _debug_flag.get() or os.environ.get(DEBUG_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def os_error_message(error: OSError) -> str | None:
    """One line naming the path of an OSError the user can fix (permissions, disk full, ...); None otherwise."""
    if error.errno is None:
        return None
    path = error.filename if error.filename is not None else "a file"
    reason = OS_ERRORS.get(error.errno, error.strerror or os.strerror(error.errno))
    return f"cannot use {path}: {reason}"


def _fail(message: str, code: int, exit_now: bool = False) -> None:
    if debug_enabled():
        traceback.print_exc()
    typer.echo(message, err=True)
    if exit_now:  # skip interpreter shutdown (and the library cleanup that would crash there)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    raise typer.Exit(code=code)


@contextlib.contextmanager
def failing_cleanly() -> Iterator[None]:
    """Every failure as one line on stderr: user errors exit 2, interrupts 130, anything else 1 (a bug)."""
    try:
        yield
    except TYPER_OWN:
        raise
    except ProbekitError as error:
        # exit_now: a library (HDF5) was left in a state that crashes at a normal interpreter exit
        _fail(f"probekit: error: {error}", USER_ERROR, exit_now=getattr(error, "exit_now", False))
    except KeyboardInterrupt:
        _fail("probekit: interrupted", INTERRUPTED)
    except OSError as error:
        message = os_error_message(error)
        if message is None:
            _internal(error)
        _fail(f"probekit: error: {message}", USER_ERROR)
    except Exception as error:
        _internal(error)


def _internal(error: BaseException) -> None:
    text = str(error).splitlines()[0] if str(error) else ""
    _fail(
        f"probekit: internal error: {type(error).__name__}: {text} "
        f"(run with --debug or {DEBUG_ENV}=1 for the traceback; please report it)",
        INTERNAL_ERROR,
    )


def fails_cleanly(command: F) -> F:
    """A command whose failures go through `failing_cleanly` (one line on stderr, exit 2 for user errors)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with failing_cleanly():
            return command(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


class CleanGroup(TyperGroup):
    """The app's group: failures in option callbacks and sub-groups take the same one-line path as commands,
    and usage errors (a bad option value, an unknown option) are one line too, not typer's framed box."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        try:
            result = super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        except _CLICK_EXCEPTION as error:
            typer.echo(f"probekit: error: {usage_message(error)}", err=True)
            sys.exit(error.exit_code)
        except typer.Abort:
            typer.echo("probekit: interrupted", err=True)
            sys.exit(INTERRUPTED)
        sys.exit(result if isinstance(result, int) else 0)

    def invoke(self, ctx: ClickContext) -> Any:
        token = _debug_flag.set(bool(ctx.params.get("debug")))
        try:
            with failing_cleanly():
                return super().invoke(ctx)
        finally:
            _debug_flag.reset(token)


def usage_message(error: Exception) -> str:
    """A usage error as one line: what is wrong, and where the command's help is."""
    text = " ".join(error.format_message().split()) if hasattr(error, "format_message") else str(error)
    ctx = getattr(error, "ctx", None)
    return f"{text} (see `{ctx.command_path} --help`)" if ctx is not None else text


def setup_logging(quiet: bool) -> None:
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO, stream=sys.stderr, format="probekit: %(message)s", force=True
    )


# -- parsing and validating option values ------------------------------------------------------


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


def size_option(value: str | None) -> str | None:
    """Callback: --image-size must parse ('224' or 'HxW', positive); the patch multiple is checked with the backbone."""
    if value is not None:
        try:
            parse_size(value)
        except ProbekitError as error:
            raise typer.BadParameter(str(error)) from None
    return value


def choice(*allowed: str) -> Callable[[str | None], str | None]:
    """Callback: the value must be one of `allowed` (None passes: the option was not given)."""

    def check(value: str | None) -> str | None:
        if value is not None and value not in allowed:
            raise typer.BadParameter(f"{value!r} is not one of {', '.join(allowed)}")
        return value

    return check


def above(low: float) -> Callable[[float | None], float | None]:
    """Callback: a finite number strictly above `low` (typer's min= is inclusive and lets nan through)."""

    def check(value: float | None) -> float | None:
        if value is not None and not (math.isfinite(value) and value > low):
            raise typer.BadParameter(f"{value:g} must be a finite number above {low:g}")
        return value

    return check


def in_range(low: float, high: float = math.inf) -> Callable[[float | None], float | None]:
    """Callback: a finite number in [low, high] (typer's min=/max= let nan through)."""

    def check(value: float | None) -> float | None:
        if value is not None and not (math.isfinite(value) and low <= value <= high):
            bounds = f"in [{low:g}, {high:g}]" if math.isfinite(high) else f"of at least {low:g}"
            raise typer.BadParameter(f"{value:g} must be a finite number {bounds}")
        return value

    return check


def _items(text: str, kind: type[NumberT]) -> list[NumberT]:
    """'1,2,3' -> [1, 2, 3] of `kind`; BadParameter for an empty list, an empty item or a non-number."""
    items = [item.strip() for item in text.split(",")]
    if not text.strip() or any(not item for item in items):
        raise typer.BadParameter(f"{text!r} has an empty item: give comma-separated numbers, e.g. 1,2")
    try:
        return [kind(item) for item in items]
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a comma-separated list of {kind.__name__}s") from None


def float_list(low: float, high: float = math.inf, low_open: bool = True) -> Callable[[str | None], str | None]:
    """Callback: comma-separated finite floats in (low, high] (or [low, high] when not `low_open`)."""
    bounds = f"{'(' if low_open else '['}{low:g}, {high:g}{']' if math.isfinite(high) else ')'}"

    def check(value: str | None) -> str | None:
        if value is None:
            return value
        for number in _items(value, float):
            inside = (number > low if low_open else number >= low) and number <= high
            if not (math.isfinite(number) and inside):
                raise typer.BadParameter(f"{number:g} is outside {bounds}")
        return value

    return check


def int_list(low: int | None = None) -> Callable[[str | None], str | None]:
    """Callback: comma-separated integers, each at least `low` when given."""

    def check(value: str | None) -> str | None:
        if value is None:
            return value
        for number in _items(value, int):
            if low is not None and number < low:
                raise typer.BadParameter(f"{number} is below {low}")
        return value

    return check


def device_option(value: str | None) -> str | None:
    """Callback: --device must name a device this machine has ('auto' always passes)."""
    if value is not None and value != "auto":
        from probekit.device import resolve_device

        resolve_device(value)  # a ProbekitError naming --device and the fix
    return value


# -- output paths -------------------------------------------------------------------------------


def check_output(path: Path, option: str, directory: bool) -> None:
    """Fail before any work when output `path` (a directory if `directory`, else a file) cannot be written."""
    if directory and path.exists() and not path.is_dir():
        raise ProbekitError(f"{option} {path} is a file, not a directory: choose a directory path")
    if not directory and path.is_dir():
        raise ProbekitError(f"{option} {path} is a directory: give a file path inside it")
    parent = path if directory else path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ProbekitError(f"{option} {path}: {parent} is a file, not a directory: choose another path")
    if not os.access(parent, os.W_OK):
        raise ProbekitError(f"{option} {path}: {parent} is not writable: fix its permissions or choose another path")
