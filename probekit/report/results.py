"""Reading probe results back: every JSON of a folder, each usable or named with what is wrong with it.

One JSON per probe run, named from its settings; probekit.tasks.results writes them.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from probekit.tasks.results import (  # noqa: F401  re-exported for old imports: writing moved below tasks/run
    RESULTS_FORMAT,
    backbone_label,
    file_safe,
    json_safe,
    write_result,
)

# Keys every results file must have, with their JSON types (what tables and reports read).
REQUIRED_KEYS: dict[str, type] = {"task": str, "label": str, "metrics": dict}
OPTIONAL_KEYS: dict[str, type] = {"created": str, "trivial_baseline": dict}

log = logging.getLogger(__name__)


@dataclass
class ResultsScan:
    """The JSONs of a directory: usable results, probekit results that are not (file, why), and other JSONs."""

    results: list[dict[str, Any]] = field(default_factory=list)
    unreadable: list[tuple[Path, str]] = field(default_factory=list)
    ignored: list[Path] = field(default_factory=list)


def scan_results(directory: str | Path) -> ResultsScan:
    """Read every *.json of `directory`; a broken results file is listed with its problem, never dropped silently.

    JSONs without a `format` key (configs, other tools' files) are not probekit results and are only counted.
    """
    scan = ResultsScan()
    for path in sorted(Path(directory).glob("*.json")):
        data, problem = _read_json(path)
        if problem is None and isinstance(data, dict) and not str(data.get("format", "")).startswith("probekit-result"):
            scan.ignored.append(path)
            continue
        problem = problem or result_problem(data)
        if problem:
            scan.unreadable.append((path, problem))
        else:
            scan.results.append(dict(data, _path=str(path)))
    if scan.ignored:
        log.info(
            "%d JSON file(s) in %s are not probekit results and were ignored: %s",
            len(scan.ignored),
            directory,
            ", ".join(p.name for p in scan.ignored),
        )
    return scan


def _read_json(path: Path) -> tuple[Any, str | None]:
    """(parsed JSON, None), or (None, what is wrong with the file)."""
    if not path.is_file():
        return None, "is not a regular file"
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None, "is not UTF-8 text (corrupt?)"
    except OSError as error:
        return None, f"cannot be read ({error.strerror or error})"
    if not text.strip():
        return None, "is empty"
    try:
        return json.loads(text), None
    except json.JSONDecodeError as error:
        where = f"line {error.lineno} column {error.colno}"
        return None, f"is not valid JSON (truncated or corrupt: {error.msg.removesuffix(' at')} at {where})"
    except RecursionError:
        return None, "is not valid JSON (nested too deeply)"


def result_problem(data: Any) -> str | None:
    """Why `data` is not a usable probekit result (wrong format, missing or mistyped keys), or None."""
    if not isinstance(data, dict):
        return f"holds a JSON {type(data).__name__}, not a probekit results object"
    if data.get("format") != RESULTS_FORMAT:
        return f"has format {data.get('format')!r}, not {RESULTS_FORMAT!r} (written by another probekit version?)"
    missing = [key for key in REQUIRED_KEYS if key not in data]
    if missing:
        return "misses key(s) " + ", ".join(repr(key) for key in missing)
    for key, kind in (REQUIRED_KEYS | OPTIONAL_KEYS).items():
        if key in data and not isinstance(data[key], kind):
            return f"has {key!r} = {_short(data[key])}, not a JSON {'object' if kind is dict else 'string'}"
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
