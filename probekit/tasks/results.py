"""The results JSON a probe run writes: its format tag, file name, provenance and a NaN-safe atomic write.

The reading side (scanning a folder, checking a file's keys) is probekit.report.results.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from probekit.features.store import FeatureStore
from probekit.files import atomic_write_text
from probekit.provenance import short_hash

RESULTS_FORMAT = "probekit-result/1"


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
        "backbone": {
            k: a.get(k)
            for k in (
                "backbone",
                "backbone_model",
                "weights_sha256",
                "weights_source",
                "global_source",
                "patch_size",
                "embed_dim",
                "depth",
                "num_registers",
                "extract_config",
            )
        }
        | _present(a, ("strides", "stage_dims")),
        "features": {
            k: a.get(k)
            for k in (
                "image_size",
                "grid",
                "layers",
                "norm",
                "dtype",
                "pixel_mean",
                "pixel_std",
                "interpolation",
                "pos_embed_resample",
                "features_fingerprint",
            )
        }
        | _present(a, ("layer_grids", "layer_dims", "layer_strides")),
        "dataset": {k: a.get(k) for k in ("dataset", "root", "dataset_fingerprint")},
        "label": backbone_label(a),
    }


def _present(attrs: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """The keys a store has: the per-stage attrs of feature-map backbones, absent from ViT stores (and their JSON)."""
    return {k: attrs[k] for k in keys if k in attrs}


def file_safe(text: Any) -> str:
    """`text` as part of a file name: every character but letters, digits and '-._' becomes '-', so
    names such as 'hf:org/model' or '../x' cannot make folders or leave the output folder."""
    return "".join(c if c.isalnum() or c in "-._" else "-" for c in str(text))


def run_name(task: str, attrs: dict[str, Any], settings_hash: str) -> str:
    return f"{task}__{file_safe(attrs.get('backbone'))}__{file_safe(attrs.get('dataset'))}__{settings_hash}"


def settings_hash(task: str, fingerprints: Mapping[str, str | None], options: dict[str, Any]) -> str:
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
