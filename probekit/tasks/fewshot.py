"""Few-shot probes for the classification tasks: k training samples per class, drawn with a seed, repeated
over seeds; the results JSON reports the mean over seeds, their standard deviation and every seed's numbers.

One loop serves every task that takes `FewShotOptions`: the task's `run` hands its one-split run to
`run_few_shot`, which runs it on the full training split (`shots` None) or once per seed on a k-per-class
subset of it (`SubsetView`: the same contiguous block reads, masked).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from probekit.errors import ProbekitError
from probekit.probes.stream import StoreView, subset_view
from probekit.tasks.base import ProbeOptions, Splits, TaskOutput, option
from probekit.tasks.seeds import aggregate_runs

log = logging.getLogger("probekit.probe")


@dataclass(frozen=True)
class FewShotOptions(ProbeOptions):
    """The options of a task that can train on k samples per class, repeated over seeds."""

    shots: int | None = option(None, "Few-shot: train on k samples per class (default: the whole training split).")
    shot_seeds: int = option(5, "Few-shot: how many k-per-class samples (seeds seed, seed+1, ...) to average over.")

    def __post_init__(self) -> None:
        for name in ("shots", "shot_seeds"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ProbekitError(f"{name} must be a positive integer, not {value!r}")
        if self.shots is not None and self.seeds is not None:
            raise ProbekitError(
                "shots and seeds both repeat the run over seeds: few-shot runs average over their draws "
                "(--shot-seeds, from --seed); drop --seeds"
            )
        super().__post_init__()


def sample_shots(view: StoreView, labels: np.ndarray, shots: int, seed: int) -> tuple[np.ndarray, dict[int, int]]:
    """Store rows of `view` holding `shots` samples of every class present in it, drawn with `seed`, and the
    classes that have fewer (class -> how many it has; all of those are taken, as DINOv2's `filter_train`).

    `labels` are the whole store's labels (N,); the draw depends only on (labels in the view, shots, seed).
    """
    rows = np.flatnonzero(view.keep(0, len(labels)))  # (M,) store rows of the view
    rng = np.random.default_rng(seed)
    chosen, short = [], {}
    for cls in np.unique(labels[rows]):
        members = rows[labels[rows] == cls]  # (n_c,)
        if len(members) < shots:
            short[int(cls)] = len(members)
        chosen.append(rng.permutation(members)[:shots])
    return np.sort(np.concatenate(chosen)), short


def run_few_shot(
    splits: Splits, options: FewShotOptions, labels: Callable[[], np.ndarray], run_once: Callable[[Splits], TaskOutput]
) -> TaskOutput:
    """`run_once` on the whole training split, or (with `options.shots`) once per seed on k samples per class,
    averaged: metrics = the mean over seeds, `metrics_std` and `per_seed` beside them. The chosen
    hyper-parameters, grid, head and trivial baseline shown are the first seed's (each seed's are in `per_seed`)."""
    if options.shots is None:
        return run_once(splits)
    all_labels = labels()  # (N,) the training store's class ids
    outputs, draws = [], []
    for seed in range(options.seed, options.seed + options.shot_seeds):
        rows, short = sample_shots(splits.train, all_labels, options.shots, seed)
        if short:
            log.warning(
                "warning: few-shot seed %d: %d class(es) have fewer than %d training samples and use all they have: %s",
                seed,
                len(short),
                options.shots,
                ", ".join(f"class {c}: {n}" for c, n in sorted(short.items())),
            )
        train = subset_view(splits.train, rows, f"{options.shots}-shot seed {seed}")
        outputs.append(run_once(dataclasses.replace(splits, train=train)))
        draws.append({"seed": seed, "train_samples": len(rows), "short_classes": short})
    return _aggregate(outputs, draws, options)


def _aggregate(outputs: list[TaskOutput], draws: list[dict[str, Any]], options: FewShotOptions) -> TaskOutput:
    """One TaskOutput for all draws (probekit.tasks.seeds.aggregate_runs), with the k and the seeds."""
    output = aggregate_runs(outputs, draws)
    few_shot = {"shots": options.shots, "seeds": [d["seed"] for d in draws]}
    return dataclasses.replace(
        output,
        extra_metrics={**output.extra_metrics, "few_shot": few_shot},
        settings={**output.settings, "shots": options.shots, "shot_seeds": options.shot_seeds},
    )
