"""What every probe task shares: splits (val given or held out), grid selection, and the task registry."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import torch

from probekit.errors import ProbekitError
from probekit.features.schemes import check_target_schemes
from probekit.features.store import FeatureStore
from probekit.probes.stream import Reader, StoreView, count_batches, iterate_batches
from probekit.probes.trainer import TrainConfig
from probekit.registry import Registry

log = logging.getLogger("probekit.probe")
HOLDOUT_EVERY = 10  # without a val store, every 10th training sample is held out for the grid selection


@dataclass(frozen=True)
class Splits:
    """Where the heads are trained, selected and finally evaluated."""

    train: StoreView
    val: StoreView
    test: StoreView | None

    @property
    def evaluated_on(self) -> str:
        return "test" if self.test is not None else "val"

    def describe(self) -> dict[str, Any]:
        return {"train": self.train.name, "val": self.val.name,
                "test": self.test.name if self.test is not None else None,
                "selected_on": "val", "evaluated_on": self.evaluated_on}


def make_splits(train: FeatureStore, val: FeatureStore | None, test: FeatureStore | None,
                label_map: str = "none") -> Splits:
    """Validate the stores against each other (features and label schemes); hold out part of train when
    there is no val store. `label_map='names'` reads val/test class ids through train's class names."""
    for other in (val, test):
        if other is not None:
            train.check_compatible(other)
            check_target_schemes(train, other, label_map)
    if val is None:
        log.info("no --val store: selecting hyper-parameters on every %dth training sample (held out)", HOLDOUT_EVERY)
        if len(train) < 2 * HOLDOUT_EVERY:
            raise ProbekitError(f"{train.path} has {len(train)} samples: too few to hold out a validation part; pass --val")
        return Splits(StoreView(train, HOLDOUT_EVERY, holdout=False), StoreView(train, HOLDOUT_EVERY, holdout=True),
                      StoreView(test) if test is not None else None)
    return Splits(StoreView(train), StoreView(val), StoreView(test) if test is not None else None)


def require_target(store: FeatureStore, name: str, task: str) -> None:
    if name not in store.targets:
        raise ProbekitError(f"{store.path} has no '{name}' target, which the {task} probe needs (targets: {store.targets})")


@dataclass
class TaskOutput:
    """What a task run returns; the results JSON is assembled from it."""

    metrics: dict[str, Any]
    chosen: dict[str, Any]
    grid: list[dict[str, Any]]
    head_state: dict[str, torch.Tensor]
    settings: dict[str, Any]
    extra_metrics: dict[str, Any] = field(default_factory=dict)
    trivial: dict[str, Any] = field(default_factory=dict)   # the no-features baseline on the same split
    history: list[dict[str, Any]] = field(default_factory=list)


class Task(Protocol):
    name: str
    main_metrics: tuple[str, ...]  # the columns a comparison table shows

    def check_options(self, options: dict[str, Any]) -> None:
        """Raise ProbekitError naming the first bad option."""

    def run(self, splits: Splits, options: dict[str, Any], train: TrainConfig, progress: bool) -> TaskOutput: ...


TASKS: Registry[Task] = Registry("task", ProbekitError)


def training_stream(view: StoreView, read: Reader, train: TrainConfig) -> tuple[Callable[[int], Iterator[dict]], int]:
    """What `fit` needs to train on `view`: seeded, shuffled batches per epoch, and batches per epoch."""
    def batches(epoch: int) -> Iterator[dict]:
        return iterate_batches(view, read, train.batch_size, shuffle=True, seed=train.seed, epoch=epoch)

    return batches, count_batches(view, train.batch_size)


def choose_layers(store: FeatureStore, layers: list[int] | None) -> list[int]:
    """Stored layers to use, in block order (negative = from the end of the network); default: all stored."""
    if not layers:
        return list(store.layers)
    return sorted({store.resolve_layer(k) for k in layers})


def grid_table(specs, scores, epochs) -> list[dict[str, Any]]:
    return [{**spec.describe(), "val_score": float(score), "best_epoch": int(epoch)}
            for spec, score, epoch in zip(specs, scores, epochs)]


def best_index(scores: list[float]) -> int:
    """The head with the best validation score; ties go to the first (smallest lr in grid order)."""
    return max(range(len(scores)), key=lambda i: (scores[i], -i))
