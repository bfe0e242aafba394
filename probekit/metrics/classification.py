"""Classification metrics: top-k accuracy, mean per-class recall (balanced accuracy), confusion matrix.

Streaming classes (`update` per batch, `compute` once) and functional forms with the same maths. State lives on
the device of the first batch; `compute` returns plain Python numbers so the result dumps to JSON as is.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from probekit.errors import MetricError
from probekit.metrics.bootstrap import ClassificationSamples
from probekit.metrics.common import nan_to_none, require_no_nan, require_tensor

__all__ = [
    "ClassificationMetrics",
    "classification_metrics",
    "confusion_matrix",
    "mean_per_class_recall",
    "topk_correct",
]


def _check_inputs(logits: torch.Tensor, target: torch.Tensor, num_classes: int) -> None:
    require_tensor(logits, "logits")
    require_tensor(target, "target")
    if logits.ndim != 2:
        raise MetricError(f"logits must be (B, C), got shape {tuple(logits.shape)}; score a stack of heads one by one")
    if logits.shape[-1] != num_classes:
        raise MetricError(f"logits have {logits.shape[-1]} classes, the metric was built for {num_classes}")
    if target.ndim != 1 or target.shape[0] != logits.shape[-2]:
        raise MetricError(f"target must be (B,) with B = {logits.shape[-2]}, got shape {tuple(target.shape)}")
    if target.is_floating_point() or target.is_complex():
        raise MetricError(f"target must hold integer class indices, got {target.dtype}")
    if logits.dtype == torch.bool or logits.is_complex():
        raise MetricError(f"logits must be real scores, got {logits.dtype}")
    require_no_nan(logits, "logits")
    if target.numel() and (int(target.min()) < 0 or int(target.max()) >= num_classes):
        raise MetricError(
            f"target values must lie in [0, {num_classes}), got [{int(target.min())}, {int(target.max())}]"
        )


def topk_correct(logits: torch.Tensor, target: torch.Tensor, ks: tuple[int, ...]) -> torch.Tensor:
    """Number of samples whose target is among the k highest logits, for each k.  # (len(ks),) int64

    Ties between logits are broken by `torch.topk` (irrelevant for continuous scores).
    """
    if not ks or min(ks) < 1 or max(ks) > logits.shape[-1]:
        raise MetricError(f"top-k needs 1 <= k <= {logits.shape[-1]} classes, got ks={tuple(ks)}")
    kmax = max(ks)
    top = logits.topk(kmax, dim=-1).indices  # (B, kmax)
    hit = top == target[:, None]  # (B, kmax)
    cum = hit.cumsum(dim=-1)  # (B, kmax): hit within the first j+1
    return torch.stack([cum[:, k - 1].sum() for k in ks])


def confusion_matrix(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Counts [true, pred] for integer labels.  # (C, C) int64"""
    if pred.shape != target.shape or pred.is_floating_point() or target.is_floating_point():
        raise MetricError(
            f"pred and target must be integer labels of one shape, got {pred.dtype} {tuple(pred.shape)}"
            f" and {target.dtype} {tuple(target.shape)}"
        )
    if pred.numel() and (
        min(int(pred.min()), int(target.min())) < 0 or max(int(pred.max()), int(target.max())) >= num_classes
    ):
        raise MetricError(f"labels must lie in [0, {num_classes})")
    flat = target.long() * num_classes + pred.long()  # (N,)
    return torch.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def mean_per_class_recall(correct: torch.Tensor, support: torch.Tensor) -> float:
    """Balanced accuracy: mean over classes present in the targets (support > 0) of correct / support.

    Classes absent from the targets are left out, as in sklearn's `balanced_accuracy_score`. NaN if no sample.
    """
    if correct.shape != support.shape:
        raise MetricError(
            f"correct and support must have one shape, got {tuple(correct.shape)}, {tuple(support.shape)}"
        )
    present = support > 0
    if not bool(present.any()):
        return math.nan
    recall = correct[present].double() / support[present].double()
    return float(recall.mean())


class ClassificationMetrics:
    """Top-k accuracy, mean per-class recall and the confusion matrix over a stream of batches.

    `compute()` -> {"top1", "top5" (each k <= num_classes), "mean_per_class_recall", "per_class_recall",
    "num_samples", "confusion_matrix" ([true][pred] counts)}. Accuracies are fractions in [0, 1].
    Set `keep_confusion=False` for very many classes (the matrix is C x C); `keep_samples=True` keeps each
    sample's top-1 hit and label for bootstrap intervals (`samples()`).
    """

    def __init__(
        self,
        num_classes: int,
        top_k: tuple[int, ...] = (1, 5),
        keep_confusion: bool = True,
        keep_samples: bool = False,
    ):
        if num_classes < 1:
            raise MetricError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes = num_classes
        self.top_k = tuple(k for k in top_k if k <= num_classes)
        if any(k < 1 for k in self.top_k):
            raise MetricError(f"top_k values must be >= 1, got {top_k}")
        self.keep_confusion = keep_confusion
        self.keep_samples = keep_samples
        self.reset()

    def reset(self) -> None:
        self._device: torch.device | None = None
        self._topk = torch.zeros(len(self.top_k), dtype=torch.long)  # (K,)
        self._correct = torch.zeros(self.num_classes, dtype=torch.long)  # (C,) per-class hits
        self._support = torch.zeros(self.num_classes, dtype=torch.long)  # (C,) per-class samples
        self._confmat = (
            torch.zeros(self.num_classes, self.num_classes, dtype=torch.long) if self.keep_confusion else None
        )
        self.num_samples = 0
        self._hits: list[torch.Tensor] = []  # per batch (B,) top-1 hits, with keep_samples
        self._labels: list[torch.Tensor] = []  # per batch (B,) labels, with keep_samples

    def _to(self, device: torch.device) -> None:
        if self._device != device:
            self._device = device
            self._topk = self._topk.to(device)
            self._correct = self._correct.to(device)
            self._support = self._support.to(device)
            if self._confmat is not None:
                self._confmat = self._confmat.to(device)

    @torch.no_grad()
    def update(self, logits: torch.Tensor, target: torch.Tensor) -> None:
        """logits (B, C) scores of any kind (argmax/top-k only); target (B,) class indices."""
        _check_inputs(logits, target, self.num_classes)
        self._to(logits.device)
        target = target.to(logits.device).long()
        if self.top_k:
            self._topk += topk_correct(logits, target, self.top_k)
        pred = logits.argmax(dim=-1)  # (B,)
        self._support += torch.bincount(target, minlength=self.num_classes)
        self._correct += torch.bincount(target[pred == target], minlength=self.num_classes)
        if self._confmat is not None:
            self._confmat += confusion_matrix(pred, target, self.num_classes)
        if self.keep_samples:
            self._hits.append((pred == target).cpu())
            self._labels.append(target.cpu())
        self.num_samples += target.shape[0]

    def compute(self) -> dict[str, Any]:
        n = self.num_samples
        out: dict[str, Any] = {
            f"top{k}": (float(c) / n if n else math.nan) for k, c in zip(self.top_k, self._topk.tolist(), strict=True)
        }
        support = self._support.double()
        recall = (self._correct.double() / support).tolist()  # NaN where the class never occurs
        out["mean_per_class_recall"] = mean_per_class_recall(self._correct, self._support)
        out["per_class_recall"] = nan_to_none(recall)
        out["num_samples"] = n
        if self._confmat is not None:
            out["confusion_matrix"] = self._confmat.tolist()
        return out

    def samples(self) -> ClassificationSamples:
        """Each sample's top-1 hit and label (bootstrap intervals); needs keep_samples=True."""
        if not self.keep_samples:
            raise MetricError("ClassificationMetrics keeps per-sample hits only when built with keep_samples=True")
        hits = torch.cat(self._hits).numpy() if self._hits else np.zeros(0, dtype=bool)
        labels = torch.cat(self._labels).numpy() if self._labels else np.zeros(0, dtype=np.int64)
        return ClassificationSamples(hits, labels, self.num_classes)


def classification_metrics(
    logits: torch.Tensor, target: torch.Tensor, num_classes: int, top_k: tuple[int, ...] = (1, 5)
) -> dict[str, Any]:
    """Functional form of `ClassificationMetrics` for one set of logits."""
    metric = ClassificationMetrics(num_classes, top_k)
    metric.update(logits, target)
    return metric.compute()
