"""`run_probe`: stores in, one results JSON (+ the chosen head's weights) out."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from safetensors.torch import save_file

from probekit.errors import ProbekitError
from probekit.features.store import FeatureStore
from probekit.files import atomic_path
from probekit.probes.trainer import TrainConfig
from probekit.provenance import git_sha, utc_now, versions
from probekit.tasks.results import (
    RESULTS_FORMAT,
    run_name,
    settings_hash,
    store_provenance,
    write_result,
)
from probekit.tasks.base import TASKS, make_splits

log = logging.getLogger("probekit.probe")


def check_grid(options: dict[str, Any]) -> None:
    """The learning-rate and weight-decay grids every task shares: finite, lrs > 0, weight decays >= 0."""
    for name, low_open in (("lrs", True), ("weight_decays", False)):
        values = options.get(name)
        if values is None:
            continue
        if isinstance(values, (str, int, float)) or not values:
            raise ProbekitError(f"{name} must be a non-empty list of numbers, not {values!r}")
        for value in values:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            if not ok or value < 0 or (low_open and value == 0):
                raise ProbekitError(f"{name} holds {value!r}: use finite numbers {'> 0' if low_open else '>= 0'}")


def run_probe(
    task: str,
    train: str | Path,
    out_dir: str | Path,
    val: str | Path | None = None,
    test: str | Path | None = None,
    options: dict[str, Any] | None = None,
    train_config: TrainConfig = TrainConfig(),
    overwrite: bool = False,
    progress: bool = True,
    label_map: str = "none",
) -> Path:
    """Train the task's grid of linear heads on `train`, select on `val`, evaluate on `test`; write the JSON.

    A run whose JSON exists already (same task, stores and settings) is skipped unless `overwrite`.
    `label_map='names'` matches val/test class ids to train's by class name where the stores' schemes differ.
    """
    runner = TASKS.get(task)
    options = {k: v for k, v in (options or {}).items() if v is not None}
    check_grid(options)
    runner.check_options(options)  # bad options fail before any store is opened
    stores = {name: FeatureStore(path) for name, path in (("train", train), ("val", val), ("test", test)) if path}
    fingerprints = {name: store.fingerprint for name, store in stores.items()}
    remap = {"label_map": label_map} if label_map != "none" else {}  # the default keeps existing run names
    digest = settings_hash(task, fingerprints, {**options, **remap}, asdict(train_config))
    path = Path(out_dir) / f"{run_name(task, stores['train'].attrs, digest)}.json"
    if path.exists() and not overwrite:
        log.info("%s exists: skipping (pass --overwrite to run again)", path)
        return path

    splits = make_splits(stores["train"], stores.get("val"), stores.get("test"), label_map)
    began = time.perf_counter()
    output = runner.run(splits, options, train_config, progress)
    wall = time.perf_counter() - began
    weights_path = path.with_suffix(".safetensors")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(weights_path) as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in output.head_state.items()}, str(tmp))
    result = {
        "format": RESULTS_FORMAT,
        "task": task,
        **store_provenance(stores["train"]),
        "metrics": output.metrics,
        **output.extra_metrics,
        "trivial_baseline": output.trivial,
        "evaluated_on": splits.evaluated_on,
        "splits": splits.describe(),
        "split_sizes": {"train": len(splits.train), "val": len(splits.val),
                        "test": len(splits.test) if splits.test is not None else None},
        "store_fingerprints": fingerprints,
        "probe": {"settings": output.settings, "options": options, "chosen": output.chosen, "grid": output.grid,
                  "label_map": label_map},
        "seed": train_config.seed,
        "head_weights": weights_path.name,
        "history": output.history,
        "versions": versions(),
        "git_sha": git_sha(),
        "wall_seconds": round(wall, 3),
        "created": utc_now(),
    }
    write_result(path, result)
    log.info("wrote %s", path)
    return path
