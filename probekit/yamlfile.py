"""Reading a YAML file the user wrote: syntax errors become one line naming the file and line:column."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from probekit.errors import ProbekitError


def read_yaml(path: str | Path, what: str = "YAML file") -> Any:
    """The parsed contents of `path` (None for an empty file); a ProbekitError when unreadable or malformed."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ProbekitError(f"{what} {path} does not exist")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise ProbekitError(f"cannot read {what} {path}: {error}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ProbekitError(f"{path}{_where(error)}: not valid YAML ({_problem(error)}): fix the syntax") from None


def _where(error: Exception) -> str:
    """':line:column' (1-based) of a YAML error, or '' when yaml gives no position."""
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    return f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""


def _problem(error: Exception) -> str:
    return str(getattr(error, "problem", None) or error).splitlines()[0]
