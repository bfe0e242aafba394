"""`run_probe`: stores in, one results JSON (+ the chosen head's weights) out."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from safetensors.torch import save_file

from probekit.errors import ProbekitError
from probekit.features.store import FeatureStore
from probekit.files import atomic_path
from probekit.metrics.bootstrap import RESAMPLES, bootstrap_intervals
from probekit.probes.distributed import current_ranks
from probekit.provenance import git_sha, utc_now, versions
from probekit.tasks.base import TASKS, ProbeOptions, choose_layers, make_splits
from probekit.tasks.guard import run_warnings
from probekit.tasks.results import (
    RESULTS_FORMAT,
    run_name,
    settings_hash,
    store_provenance,
    write_result,
)
from probekit.tasks.seeds import run_seeds
from probekit.tasks.sweep import layer_sets

log = logging.getLogger("probekit.probe")


def run_probe(
    task: str,
    train: str | Path,
    out_dir: str | Path,
    val: str | Path | None = None,
    test: str | Path | None = None,
    options: ProbeOptions | None = None,
    device: str = "auto",
    overwrite: bool = False,
    progress: bool = True,
    label_map: str = "none",
    preset: str | None = None,
) -> Path:
    """Train the task's grid of linear heads on `train`, select on `val`, evaluate on `test`; write the JSON.

    `options` are the task's typed options (`TASKS.get(task).parse_options(...)`; None: its defaults), checked
    when they were made, so bad options fail before any store is opened. A run whose JSON exists already
    (same task, stores and options) is skipped unless `overwrite`. `device` says where, so it is not in the
    run's identity. `label_map='names'` matches val/test class ids to train's by class name where schemes differ.
    `preset` names the preset the options came from (recorded; the options it set are what identify the run).
    Each warning (probekit.tasks.guard: under-training, scoring) is logged as `warning: ...` and kept in the JSON.
    `options.seeds` trains once per seed (probekit.tasks.seeds); `metrics_ci` holds bootstrap 95% intervals of
    the main metrics over the evaluated images (probekit.metrics.bootstrap).
    """
    runner = TASKS.get(task)
    if options is None:
        options = runner.parse_options({})
    if not isinstance(options, runner.options_type):
        raise ProbekitError(
            f"the {task} task takes {runner.options_type.__name__}, not {type(options).__name__}: "
            f"build them with TASKS.get({task!r}).parse_options(...)"
        )
    stores = {name: FeatureStore(path) for name, path in (("train", train), ("val", val), ("test", test)) if path}
    fingerprints = {name: store.fingerprint for name, store in stores.items()}
    remap = {"label_map": label_map} if label_map != "none" else {}  # the default keeps existing run names
    described = {k: v for k, v in options.describe().items() if k != "seeds" or v is not None}  # (so does no --seeds)
    digest = settings_hash(task, fingerprints, {**described, **remap})
    path = Path(out_dir) / f"{run_name(task, stores['train'].attrs, digest)}.json"
    if path.exists() and not overwrite:
        log.info("%s exists: skipping (pass --overwrite to run again)", path)
        return path

    ranks = current_ranks()  # a torchrun job: its process group, started here
    if ranks is not None and not runner.distributed:
        raise ProbekitError(
            f"the {task} task does not train over torchrun ranks (only classification does): run it without torchrun"
        )
    choose_layers(stores["train"], options.layers)  # layers the store lacks: one line naming the stored ones, first
    layer_sets(stores["train"], None, getattr(options, "sweep_layers", None), "last")  # and swept layers it lacks
    for store in stores.values():  # outputs it lacks (extract --outputs): one line naming the flag to re-extract with
        store.require_outputs(runner.required_outputs(options), f"the {task} task")
    splits = make_splits(stores["train"], stores.get("val"), stores.get("test"), label_map)
    began = time.perf_counter()
    output = run_seeds(runner, splits, options, device, progress)
    wall = time.perf_counter() - began
    if ranks is not None and not ranks.is_main:  # every rank has the same heads and scores: rank 0 writes them
        ranks.barrier()
        return path
    timer = time.perf_counter()
    intervals = bootstrap_intervals(output.samples, runner.main_metrics)  # over evaluation images: no forward pass
    log.info("bootstrap intervals (%d resamples) in %.2f s", RESAMPLES, time.perf_counter() - timer)
    warnings = run_warnings(runner.columns[0], output)
    for warning in warnings:
        log.warning("warning: %s: %s", task, warning["message"])
    weights_path = path.with_suffix(".safetensors")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(weights_path) as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in output.head_state.items()}, str(tmp))
    result = {
        "format": RESULTS_FORMAT,
        "task": task,
        **store_provenance(stores["train"]),
        "metrics": output.metrics,
        "metrics_ci": intervals,
        **output.extra_metrics,
        "trivial_baseline": output.trivial,
        "evaluated_on": splits.evaluated_on,
        "splits": splits.describe(),
        "split_sizes": {
            "train": len(splits.train),
            "val": len(splits.val),
            "test": len(splits.test) if splits.test is not None else None,
        },
        "store_fingerprints": fingerprints,
        "probe": {
            "settings": output.settings,
            "head": output.head or None,
            "options": options.describe(),
            "chosen": output.chosen,
            "grid": output.grid,
            "label_map": label_map,
            "schedule": output.schedule,
            "preset": preset,
        },
        "warnings": warnings,
        "seed": options.seeds[0] if options.seeds else options.seed,  # the saved head's
        "head_weights": weights_path.name,
        "history": output.history,
        "versions": versions(),
        "git_sha": git_sha(),
        "wall_seconds": round(wall, 3),
        "created": utc_now(),
    }
    write_result(path, result)
    log.info("wrote %s", path)
    if ranks is not None:
        ranks.barrier()  # the other ranks return once the results exist
    return path
