"""Repeated runs: `--seeds 0,1,2` trains once per seed; few-shot draws (probekit.tasks.fewshot) repeat the same way.

`aggregate_runs` is the one place runs are combined: `metrics` = the mean over runs of every scalar metric,
`metrics_std` their standard deviation (ddof 0), `per_seed` each run's record, metrics and chosen settings; the
rest (grid, head, history, trivial baseline, extra metrics) is the first run's, and every run's per-image
statistics are kept, so the bootstrap interval is of the mean over runs. A task whose run does not depend on
the seed (`Task.deterministic`) is run once and says why.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Any

import numpy as np

from probekit.tasks.base import ProbeOptions, Splits, Task, TaskOutput

log = logging.getLogger("probekit.probe")


def _scalars(metrics: dict[str, Any]) -> dict[str, float]:
    """The single-number metrics (per-class lists and confusion matrices are per seed only)."""
    return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def aggregate_runs(outputs: list[TaskOutput], records: list[dict[str, Any]]) -> TaskOutput:
    """One TaskOutput for all runs: mean and standard deviation (over runs, ddof 0) of every scalar metric,
    each run's `records` entry (its seed, ...) with its metrics and chosen settings in `per_seed`."""
    per_seed = [_scalars(out.metrics) for out in outputs]
    keys = [k for k in per_seed[0] if all(k in m for m in per_seed)]
    mean = {k: float(np.mean([m[k] for m in per_seed])) for k in keys}
    std = {k: float(np.std([m[k] for m in per_seed])) for k in keys if not k.startswith("num_")}
    first = outputs[0]
    return dataclasses.replace(
        first,
        metrics={k: (int(v) if k.startswith("num_") and math.isfinite(v) else v) for k, v in mean.items()},
        extra_metrics={
            **first.extra_metrics,
            "metrics_std": std,
            "per_seed": [
                {**record, "metrics": metrics, "chosen": out.chosen}
                for record, metrics, out in zip(records, per_seed, outputs, strict=True)
            ],
        },
        samples=[s for out in outputs for s in out.samples],
    )


def run_seeds(task: Task, splits: Splits, options: ProbeOptions, device: str, progress: bool) -> TaskOutput:
    """`task.run` once, or with `options.seeds` once per seed (aggregated); a deterministic task runs once and
    records why in `seeds` (and the log)."""
    if options.seeds is None:
        return task.run(splits, options, device, progress)
    seeds = list(options.seeds)
    reason = task.deterministic(options)
    if reason is not None:
        log.info("%s: --seeds %s: %s; running once", task.name, ",".join(map(str, seeds)), reason)
        output = task.run(splits, dataclasses.replace(options, seed=seeds[0]), device, progress)
        note = {"seeds": seeds, "runs": 1, "deterministic": reason}
        return dataclasses.replace(output, extra_metrics={**output.extra_metrics, "seeds": note})
    outputs: list[TaskOutput] = []
    for seed in seeds:
        log.info("%s: seed %d (%d of %d)", task.name, seed, len(outputs) + 1, len(seeds))
        outputs.append(task.run(splits, dataclasses.replace(options, seed=seed), device, progress))
    output = aggregate_runs(outputs, [{"seed": seed} for seed in seeds])
    note = {"seeds": seeds, "runs": len(seeds), "deterministic": None}
    return dataclasses.replace(output, extra_metrics={**output.extra_metrics, "seeds": note})
