"""One JSON per probe run, named from its settings; everything a number needs to be traced back."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from probekit.features.store import FeatureStore
from probekit.files import atomic_write_text
from probekit.provenance import short_hash

RESULTS_FORMAT = "probekit-result/1"
# Keys every results file must have, with their JSON types (what tables and reports read).
REQUIRED_KEYS: dict[str, type] = {"task": str, "label": str, "metrics": dict}
OPTIONAL_KEYS: dict[str, type] = {"created": str, "trivial_baseline": dict}

log = logging.getLogger(__name__)


def backbone_label(attrs: dict[str, Any]) -> str:
    """How a backbone is named in tables: alias, plus the weights when they are not the hub's."""
    source = str(attrs.get("weights_source", ""))
    if source == "random-init":
        return f"{attrs['backbone']} (random init)"
    if source.startswith("file:"):
        return f"{attrs['backbone']} ({Path(source[5:]).name}, {str(attrs.get('weights_sha256'))[:8]})"
    return str(attrs["backbone"])


def store_provenance(store: FeatureStore) -> dict[str, Any]:
    a = store.attrs
    return {
        "backbone": {k: a.get(k) for k in ("backbone", "backbone_model", "weights_sha256", "weights_source",
                                           "global_source", "patch_size", "embed_dim", "depth", "num_registers")},
        "features": {k: a.get(k) for k in ("image_size", "grid", "layers", "norm", "dtype", "pixel_mean", "pixel_std",
                                           "interpolation", "pos_embed_resample", "features_fingerprint")},
        "dataset": {k: a.get(k) for k in ("dataset", "root", "dataset_fingerprint")},
        "label": backbone_label(a),
    }


def file_safe(text: Any) -> str:
    """`text` as part of a file name: every character but letters, digits and '-._' becomes '-', so
    names such as 'hf:org/model' or '../x' cannot make folders or leave the output folder."""
    return "".join(c if c.isalnum() or c in "-._" else "-" for c in str(text))


def run_name(task: str, attrs: dict[str, Any], settings_hash: str) -> str:
    return f"{task}__{file_safe(attrs.get('backbone'))}__{file_safe(attrs.get('dataset'))}__{settings_hash}"


def settings_hash(task: str, fingerprints: dict[str, str | None], options: dict[str, Any]) -> str:
    """A run's identity: the task, the stores' fingerprints (backbone, weights, dataset, split, size, layers
    stored) and every option of the task (layers used, grid, training), so other settings never share a name."""
    return short_hash(task, fingerprints, options, length=12)


def json_safe(value: Any) -> Any:
    """NaN/inf -> None, numpy and tuples -> plain JSON types."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return json_safe(value.item())
    if hasattr(value, "tolist"):
        return json_safe(value.tolist())
    return value


def write_result(path: Path, result: dict[str, Any]) -> Path:
    """Write the results JSON whole or not at all (never a half-written file)."""
    return atomic_write_text(path, json.dumps(json_safe(result), indent=2, sort_keys=False) + "\n")


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
        log.info("%d JSON file(s) in %s are not probekit results and were ignored: %s", len(scan.ignored), directory,
                 ", ".join(p.name for p in scan.ignored))
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
