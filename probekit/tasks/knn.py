"""k-nearest-neighbour classification on cached global features: DINOv2's kNN evaluation.

Features are L2-normalised; a query's neighbours are the max(ks) training samples of highest cosine
similarity; each neighbour votes for its class with softmax(sim / T) over those neighbours, and the
first k votes are summed per class (facebookresearch/dinov2, dinov2/eval/knn.py, `KnnModule`). The
softmax's normaliser is the same for every class of a query, so the ranking equals summing exp(sim / T).
k is chosen on val (top-1), then reported on test; every k's scores are in the grid.

Memory: train features are streamed in chunks of `chunk_size` rows against query chunks of the same
size, keeping a running top-max(ks) per query, so it is bounded by the chunk size, never the store size.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from probekit.device import resolve_device
from probekit.errors import ProbekitError
from probekit.features.store import FeatureStore
from probekit.metrics.classification import ClassificationMetrics
from probekit.probes.stream import Reader, StoreView, iterate_batches
from probekit.tasks.base import (
    TASKS,
    Column,
    Splits,
    TaskBase,
    TaskOutput,
    best_index,
    choose_layers,
    log,
    option,
    require_target,
)
from probekit.tasks.classification import majority_class_baseline
from probekit.tasks.fewshot import FewShotOptions, run_few_shot

FEATURES = ("cls", "mean", "cls+mean")
DINOV2_KS = (10, 20, 100, 200)


@dataclass(frozen=True)
class GlobalFeatureOptions(FewShotOptions):
    """What the probes fitted on one global feature share (kNN, logistic regression): its layer and kind."""

    layers: tuple[int, ...] | None = option(None, "Stored layer whose feature is used (default: the last stored).")
    seed: int = option(0, "Seed of the few-shot draws (the fit itself has no randomness).")
    feature: str = option("cls", "Global feature: cls (DINOv2), mean of patch tokens, or both concatenated.", FEATURES)


@dataclass(frozen=True)
class KnnOptions(GlobalFeatureOptions):
    """kNN classification: DINOv2's kNN evaluation (dinov2/eval/knn.py) on cached features."""

    ks: tuple[int, ...] = option(DINOV2_KS, "Numbers of neighbours, a grid chosen on val (DINOv2: 10,20,100,200).")
    temperature: float = option(0.07, "Temperature T of the votes' weights softmax(sim / T) (DINOv2: 0.07).")
    chunk_size: int = option(4096, "Rows of query and of train features compared at once (bounds the memory).")

    def check(self) -> None:
        if not self.ks or any(k < 1 for k in self.ks):
            raise ProbekitError(f"ks must be positive integers, not {list(self.ks)}")
        if not self.temperature > 0 or not np.isfinite(self.temperature):
            raise ProbekitError(f"temperature must be a finite number > 0, not {self.temperature!r}")
        if self.chunk_size < 1:
            raise ProbekitError(f"chunk_size must be a positive integer, not {self.chunk_size!r}")


def global_reader(layer: int, feature: str) -> Reader:
    """Reads {"x": (B, D or 2D) the chosen global feature of `layer`, "label": (B,)}."""

    def read(store: FeatureStore, begin: int, end: int) -> dict[str, np.ndarray]:
        parts = [store.read(name, begin, end, layer) for name in feature.split("+")]  # each (B, D)
        return {"x": np.concatenate(parts, axis=1), "label": store.read_target("label", begin, end)}

    return read


def num_classes_of(store: FeatureStore) -> int:
    """Classes of the store's label target: its `num_classes` attribute, else the largest id + 1."""
    return int(store.target_attrs("label").get("num_classes") or store.read_target("label").max() + 1)


def chunks(
    view: StoreView, read: Reader, rows: int, device: torch.device
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(L2-normalised features (B, F), labels (B,)) of `view`, `rows` at a time, on `device`."""
    for arrays in iterate_batches(view, read, rows, block_batches=1):
        x = F.normalize(torch.from_numpy(arrays["x"]).float().to(device), dim=1)  # (B, F)
        yield x, torch.from_numpy(arrays["label"]).long().to(device)


def neighbours(
    queries: torch.Tensor, train: StoreView, read: Reader, rows: int, max_k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The `max_k` most similar training samples of each query: similarities (Q, K) sorted high to low, and
    their labels (Q, K). Train is streamed `rows` at a time; only a running top-k is kept."""
    best_sims = queries.new_empty(len(queries), 0)  # (Q, 0)
    best_labels = torch.empty(len(queries), 0, dtype=torch.long, device=queries.device)
    for x, labels in chunks(train, read, rows, queries.device):
        sims = queries @ x.T  # (Q, T)
        top = sims.topk(min(max_k, sims.shape[1]), dim=1)  # (Q, k') each
        sims_all = torch.cat([best_sims, top.values], dim=1)  # (Q, K + k')
        labels_all = torch.cat([best_labels, labels[top.indices]], dim=1)  # (Q, K + k')
        merged = sims_all.topk(min(max_k, sims_all.shape[1]), dim=1)  # sorted, (Q, K)
        best_sims, best_labels = merged.values, labels_all.gather(1, merged.indices)
    return best_sims, best_labels


def vote(
    sims: torch.Tensor, labels: torch.Tensor, ks: list[int], temperature: float, num_classes: int
) -> list[torch.Tensor]:
    """Class scores (Q, C) for each k: the first k neighbours' weights softmax(sims / T) summed per class."""
    weights = torch.softmax(sims / temperature, dim=1)  # (Q, K)
    scores = []
    for k in ks:
        total = weights.new_zeros(len(sims), num_classes)  # (Q, C)
        scores.append(total.scatter_add_(1, labels[:, :k], weights[:, :k]))
    return scores


class KnnTask(TaskBase):
    name = "knn"
    options_type = KnnOptions
    main_metrics = ("top1", "mean_per_class_recall")
    columns = (Column("top1", "knn top-1", True, True), Column("mean_per_class_recall", "knn mean-recall", True, True))
    trivial_name = "majority class"
    outputs = ("cls", "mean")  # --feature cls, mean or cls+mean

    def run(self, splits: Splits, options: KnnOptions, device: str, progress: bool) -> TaskOutput:
        store = splits.train.store
        require_target(store, "label", self.name)
        return run_few_shot(
            splits, options, lambda: store.read_target("label"), lambda s: self._run(s, options, device)
        )

    def _run(self, splits: Splits, options: KnnOptions, device: str) -> TaskOutput:
        store = splits.train.store
        layer = choose_layers(store, options.layers, default="last")[-1]
        read = global_reader(layer, options.feature)
        num_classes = num_classes_of(store)
        ks = self._usable_ks(options.ks, len(splits.train))
        torch_device = resolve_device(device)

        def score(view: StoreView) -> list[ClassificationMetrics]:
            metrics = [ClassificationMetrics(num_classes, keep_samples=True) for _ in ks]
            for queries, labels in chunks(view, read, options.chunk_size, torch_device):
                sims, near = neighbours(queries, splits.train, read, options.chunk_size, max(ks))
                for metric, scores in zip(metrics, vote(sims, near, ks, options.temperature, num_classes), strict=True):
                    metric.update(scores, labels)
            return metrics

        val_metrics = score(splits.val)
        on_val = [m.compute() for m in val_metrics]
        chosen = best_index([m["top1"] for m in on_val])
        final_view = splits.test or splits.val
        final_metrics = score(splits.test) if splits.test is not None else val_metrics
        final = [m.compute() for m in final_metrics] if splits.test is not None else on_val
        return TaskOutput(
            trivial=majority_class_baseline(splits.train, final_view, num_classes),
            metrics=final[chosen],
            chosen={"k": ks[chosen], "val_top1": on_val[chosen]["top1"]},
            grid=[
                {"k": k, "val_score": v["top1"], f"{splits.evaluated_on}_top1": f["top1"]}
                for k, v, f in zip(ks, on_val, final, strict=True)
            ],
            head_state={},
            settings={
                "layers": [layer],
                "head": "knn",
                "feature": options.feature,
                "num_classes": num_classes,
                "ks": ks,
                "temperature": options.temperature,
                "train_samples": len(splits.train),
            },
            samples=[final_metrics[chosen].samples()],
        )

    def deterministic(self, options: Any) -> str | None:
        return "kNN has no randomness (exact neighbours and votes): every seed gives the same numbers"

    @staticmethod
    def _usable_ks(ks: tuple[int, ...], train_samples: int) -> list[int]:
        """The ks the training split can serve (k <= its samples), in order; none: one error line."""
        usable = sorted({k for k in ks if k <= train_samples})
        if usable and len(usable) < len(set(ks)):
            log.warning("warning: knn: %d training samples: k > %d left out of the grid", train_samples, train_samples)
        if not usable:
            raise ProbekitError(
                f"knn: ks {list(ks)} all exceed the {train_samples} training samples: pass --ks with smaller values"
            )
        return usable


TASKS.register("knn", KnnTask())
