"""Semantic-segmentation metrics as mmsegmentation's `IoUMetric` computes them.

One dataset-wide confusion matrix is accumulated; per-class IoU = intersect / union of the dataset-wide areas
(mmseg 1.x `mmseg/evaluation/metrics/iou_metric.py`: `intersect_and_union` per image, summed, then
`total_area_to_metrics`). Hence:
- a class with zero union (never predicted, never in the ground truth) has IoU NaN and is left out of mIoU;
- a class predicted but absent from the ground truth has IoU 0 and stays in the mean;
- pixels whose target is `ignore_index` are left out entirely;
- aAcc = correct / valid pixels; mAcc = nanmean of per-class recall (NaN for classes absent from the ground truth).
mmseg reports percentages rounded to 2 decimals; probekit returns unrounded fractions in [0, 1].
Averaging IoU per image instead gives different (usually lower) numbers.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from probekit.errors import MetricError
from probekit.metrics.bootstrap import SegmentationSamples
from probekit.metrics.common import nan_to_none, require_tensor

__all__ = [
    "SegmentationMetrics",
    "image_areas",
    "metrics_from_confusion",
    "reduce_zero_label",
    "segmentation_confusion",
    "segmentation_metrics",
]


def reduce_zero_label(target: torch.Tensor) -> torch.Tensor:
    """ADE20K labels: 0 ("other") -> 255 (ignored), k -> k - 1, 255 stays 255 (mmseg `reduce_zero_label`)."""
    out = target - 1
    out = torch.where((target == 0) | (target == 255), torch.full_like(target, 255), out)
    return out


def segmentation_confusion(
    pred: torch.Tensor, target: torch.Tensor, num_classes: int, ignore_index: int = 255, per_image: bool = False
) -> torch.Tensor:
    """Counts [true, pred] over the pixels whose target is not `ignore_index`.  # (C, C) int64

    `per_image`: one matrix per image of a (B, H, W) batch (anything else is one image).  # (B, C, C) int64

    Raises MetricError for target (or prediction) values outside [0, num_classes) other than `ignore_index`;
    mmseg's `torch.histc` would drop them silently and bias the areas.
    """
    _check_classes(num_classes, ignore_index)
    if require_tensor(pred, "pred").shape != require_tensor(target, "target").shape:
        raise MetricError(
            f"pred and target must have the same shape, got {tuple(pred.shape)} and {tuple(target.shape)}"
        )
    if pred.is_floating_point() or target.is_floating_point():
        raise MetricError("pred and target must hold integer labels (take logits.argmax(dim=1) first)")
    target = target.to(pred.device)
    if per_image and pred.ndim != 3:
        pred, target = pred.reshape(1, -1), target.reshape(1, -1)  # one image
    keep = target != ignore_index
    t = target[keep].long()  # (N,)
    p = pred[keep].long()  # (N,)
    if t.numel():
        lo, hi = int(t.min()), int(t.max())
        if lo < 0 or hi >= num_classes:
            raise MetricError(
                f"target labels must lie in [0, {num_classes}) or equal ignore_index={ignore_index}, "
                f"got values in [{lo}, {hi}] (ADE20K raw labels need reduce_zero_label)"
            )
        lo, hi = int(p.min()), int(p.max())
        if lo < 0 or hi >= num_classes:
            raise MetricError(f"predicted labels must lie in [0, {num_classes}), got values in [{lo}, {hi}]")
    flat = t * num_classes + p  # (N,)
    if not per_image:
        return torch.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)
    b, cells = pred.shape[0], num_classes * num_classes
    offsets = torch.arange(b, device=pred.device) * cells  # (B,) each image's block of bins
    flat = flat + offsets.repeat_interleave(keep.reshape(b, -1).sum(dim=1))  # (N,) kept pixels are image-major
    return torch.bincount(flat, minlength=b * cells).reshape(b, num_classes, num_classes)


def image_areas(confusions: torch.Tensor) -> torch.Tensor:
    """Per image and class: intersection, predicted and label areas, from per-image [true, pred] matrices
    (B, K, K).  # (B, 3, K)"""
    return torch.stack([confusions.diagonal(dim1=1, dim2=2), confusions.sum(dim=1), confusions.sum(dim=2)], dim=1)


def _check_classes(num_classes: int, ignore_index: int) -> None:
    if num_classes < 1:
        raise MetricError(f"num_classes must be >= 1, got {num_classes}")
    if 0 <= ignore_index < num_classes:
        raise MetricError(f"ignore_index={ignore_index} collides with a class index in [0, {num_classes})")


def _nanmean(x: torch.Tensor) -> float:
    finite = x[~torch.isnan(x)]
    return float(finite.mean()) if finite.numel() else math.nan


def metrics_from_confusion(confmat: torch.Tensor) -> dict[str, Any]:
    """mIoU, aAcc, mAcc and per-class values from a dataset-wide [true, pred] confusion matrix."""
    if require_tensor(confmat, "confmat").ndim != 2 or confmat.shape[0] != confmat.shape[1] or confmat.numel() == 0:
        raise MetricError(f"confmat must be a non-empty square (C, C) matrix, got shape {tuple(confmat.shape)}")
    if confmat.is_floating_point() or bool((confmat < 0).any()):
        raise MetricError("confmat must hold non-negative integer counts")
    cm = confmat.double()  # (C, C)
    intersect = cm.diagonal()  # (C,)
    area_label = cm.sum(dim=1)  # (C,) ground-truth pixels per class
    area_pred = cm.sum(dim=0)  # (C,) predicted pixels per class
    union = area_label + area_pred - intersect
    iou = intersect / union  # NaN where union == 0
    acc = intersect / area_label  # NaN where the class is absent from the ground truth
    total = area_label.sum()
    return {
        "mIoU": _nanmean(iou),
        "per_class_iou": nan_to_none(iou.tolist()),
        "pixel_accuracy": float(intersect.sum() / total) if total > 0 else math.nan,
        "mean_accuracy": _nanmean(acc),
        "per_class_accuracy": nan_to_none(acc.tolist()),
        "num_pixels": int(total),
        "confusion_matrix": confmat.long().tolist(),
    }


class SegmentationMetrics:
    """Streaming mIoU / aAcc / mAcc over a dataset, mmsegmentation's `IoUMetric` convention.

    `update(pred (B, H, W) labels, target (B, H, W) labels)`; `compute()` -> {"mIoU", "per_class_iou",
    "pixel_accuracy", "mean_accuracy", "per_class_accuracy", "num_pixels", "confusion_matrix"}.
    NaN per-class values (class never seen) become None; the means ignore them and are NaN when nothing is valid.
    `per_image=True` also keeps each image's per-class areas for bootstrap intervals (`samples()`).
    """

    def __init__(self, num_classes: int, ignore_index: int = 255, per_image: bool = False):
        _check_classes(num_classes, ignore_index)
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.per_image = per_image
        self.reset()

    def reset(self) -> None:
        self.confmat = torch.zeros(self.num_classes, self.num_classes, dtype=torch.long)  # (C, C) [true, pred]
        self._areas: list[torch.Tensor] = []  # per batch (B, 3, K), with per_image

    @torch.no_grad()
    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        cm = segmentation_confusion(pred, target, self.num_classes, self.ignore_index, self.per_image)
        if self.per_image:  # (B, C, C): one matrix per image, kept as K areas each
            self._areas.append(image_areas(cm).cpu())
            cm = cm.sum(dim=0)
        self.confmat = self.confmat.to(cm.device) + cm

    def compute(self) -> dict[str, Any]:
        return metrics_from_confusion(self.confmat)

    def samples(self) -> SegmentationSamples:
        """Each image's per-class intersection, predicted and label areas (bootstrap intervals); needs per_image."""
        if not self.per_image:
            raise MetricError("SegmentationMetrics keeps per-image areas only when built with per_image=True")
        areas = torch.cat(self._areas).numpy() if self._areas else np.zeros((0, 3, self.num_classes), np.int64)
        return SegmentationSamples(areas[:, 0], areas[:, 1], areas[:, 2])


def segmentation_metrics(
    pred: torch.Tensor, target: torch.Tensor, num_classes: int, ignore_index: int = 255
) -> dict[str, Any]:
    """Functional form of `SegmentationMetrics` (one confusion matrix over all given pixels)."""
    return metrics_from_confusion(segmentation_confusion(pred, target, num_classes, ignore_index))
