"""Hand-made results JSONs for plot and report tests: only the keys the readers use, values chosen per test."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from probekit.tasks.results import RESULTS_FORMAT


def make_result(
    task: str = "segmentation",
    backbone: str = "test-vit",
    label: str | None = None,
    metrics: dict[str, float] | None = None,
    image_size: tuple[int, int] = (32, 32),
    layers: tuple[int, ...] = (3,),
    depth: int = 4,
    **extra: Any,
) -> dict[str, Any]:
    """A results object as `probekit probe` writes it, reduced to what tables, plots and reports read."""
    defaults = {"segmentation": {"mIoU": 0.4, "pixel_accuracy": 0.8}, "depth": {"d1": 0.5, "abs_rel": 0.3, "rmse": 1.2}}
    return {
        "format": RESULTS_FORMAT,
        "task": task,
        "label": label or backbone,
        "backbone": {"backbone": backbone, "weights_sha256": "ab" * 32, "weights_source": "bundled", "depth": depth},
        "features": {"image_size": list(image_size), "layers": list(layers), "features_fingerprint": "f" * 16},
        "dataset": {"dataset": "synthetic"},
        "metrics": metrics or defaults.get(task, {"top1": 0.5, "mean_per_class_recall": 0.5}),
        "evaluated_on": "val",
        "splits": {"train": f"{backbone}-train.h5", "val": f"{backbone}-val.h5", "test": None},
        "store_fingerprints": {"train": "1" * 16, "val": "2" * 16},
        "probe": {"settings": {"layers": list(layers)}, "chosen": {"lr": 0.001}},
        "warnings": [],
        "created": "2026-01-01T00:00:00+00:00",
        **extra,
    }


def write_results(directory: Path, results: list[dict[str, Any]]) -> Path:
    """Each result as DIRECTORY/<task>__<n>.json; returns DIRECTORY."""
    directory.mkdir(parents=True, exist_ok=True)
    for n, result in enumerate(results):
        (directory / f"{result['task']}__{n}.json").write_text(json.dumps(result))
    return directory


def layer_sweep(depth: int, scores: list[float], key: str = "mIoU") -> list[dict[str, Any]]:
    """The `layer_sweep` key (engineer A's contract): one entry per stored block."""
    return [
        {"layer": k, "relative_depth": (k + 1) / depth, "metrics": {key: s}, "selection": s}
        for k, s in zip(range(depth - len(scores), depth), scores, strict=True)
    ]
