"""Linear semantic segmentation on cached patch grids, DINOv2's "lin." head (BatchNorm + 1x1 conv).

Patch features of one layer or several (concatenated on channels, DINOv2's "+ms" uses the last 4);
logits bilinearly upsampled to the label size; cross-entropy with an ignore index (255), optional
reduce-zero-label (ADE20K). mIoU from one dataset-wide confusion matrix, as mmsegmentation.
No augmentation: the features are cached, so the images are seen exactly as extracted.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from probekit.errors import ProbekitError
from probekit.features.store import FeatureStore
from probekit.metrics.segmentation import SegmentationMetrics, reduce_zero_label
from probekit.probes.heads import SegmentationHead
from probekit.probes.resize import resize_bilinear
from probekit.probes.stream import StoreView, iterate_batches
from probekit.device import resolve_device
from probekit.probes.trainer import HeadGrid, HeadSpec, TrainConfig, fit, to_device
from probekit.tasks.base import (
    TASKS,
    Splits,
    TaskOutput,
    best_index,
    choose_layers,
    grid_table,
    require_target,
    training_stream,
)

DEFAULT_LRS = (1e-4, 3e-4, 1e-3, 3e-3)


def read_patch_grid(store: FeatureStore, begin: int, end: int, layers: list[int]) -> np.ndarray:
    """(B, h, w, L*D): the chosen layers' patch grids concatenated on channels."""
    return np.concatenate([store.read("patch", begin, end, k) for k in layers], axis=-1)


def head_input(batch: dict[str, torch.Tensor], spec: HeadSpec) -> torch.Tensor:
    return batch["x"].permute(0, 3, 1, 2)  # (B, h, w, C) -> (B, C, h, w)


def upsampled_logits(logits: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return resize_bilinear(logits, size)  # (B, K, H, W)


class SegmentationTask:
    name = "segmentation"
    main_metrics = ("mIoU", "pixel_accuracy")

    def check_options(self, options: dict[str, Any]) -> None:
        if options.get("unknown_ids", "raise") not in ("raise", "ignore"):
            raise ProbekitError(f"--unknown-ids must be raise or ignore, not {options['unknown_ids']!r}")

    def run(self, splits: Splits, options: dict[str, Any], train: TrainConfig, progress: bool) -> TaskOutput:
        store = splits.train.store
        require_target(store, "mask", self.name)
        attrs = store.target_attrs("mask")
        layers = choose_layers(store, options.get("layers") or [-1])
        ignore_index = int(options.get("ignore_index", attrs.get("ignore_index", 255)))
        zero_label = bool(options.get("reduce_zero_label", False))
        if zero_label and attrs.get("zero_label_reduced"):
            raise ProbekitError(f"{store.path}: its masks are reduced already (label 0 ignored at extraction): "
                                f"drop --reduce-zero-label")
        num_classes = int(options.get("num_classes") or attrs.get("num_classes", 0)) - int(zero_label)
        if num_classes <= 1:
            raise ProbekitError(f"{store.path}: mask target has no usable num_classes attribute; pass --num-classes")

        unknown_ids = options.get("unknown_ids", "raise")

        def read_mask(s: FeatureStore, begin: int, end: int) -> dict[str, np.ndarray]:
            mask = s.read_target("mask", begin, end).astype(np.int64)
            if zero_label:
                mask = reduce_zero_label(torch.from_numpy(mask)).numpy()
            return {"mask": outside_scheme(mask, num_classes, ignore_index, unknown_ids, s)}

        def read(s: FeatureStore, begin: int, end: int) -> dict[str, np.ndarray]:
            return {"x": read_patch_grid(s, begin, end, layers), **read_mask(s, begin, end)}

        specs = [HeadSpec(lr, wd) for lr in options.get("lrs") or DEFAULT_LRS
                 for wd in options.get("weight_decays", (1e-4,))]
        torch.manual_seed(train.seed)
        in_dim = store.dim * len(layers)
        grid = HeadGrid([SegmentationHead(in_dim, num_classes) for _ in specs], specs, head_input)
        device = resolve_device(train.device)

        def loss(logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
            target = batch["mask"]
            return F.cross_entropy(upsampled_logits(logits, target.shape[-2:]), target, ignore_index=ignore_index)

        def evaluate(view: StoreView, heads: list[int]) -> list[SegmentationMetrics]:
            metrics = [SegmentationMetrics(num_classes, ignore_index) for _ in heads]
            for arrays in iterate_batches(view, read, train.batch_size):
                batch = to_device(arrays, device)
                x = head_input(batch, grid.specs[0])
                for metric, i in zip(metrics, heads):
                    pred = upsampled_logits(grid.heads[i](x), batch["mask"].shape[-2:]).argmax(1)
                    metric.update(pred, batch["mask"])
            return metrics

        result = fit(
            grid, loss,
            *training_stream(splits.train, read, train), train,
            lambda _: [m.compute()["mIoU"] for m in evaluate(splits.val, list(range(len(specs))))], progress,
        )
        chosen = best_index(result.best_scores)
        final = splits.test or splits.val
        metrics = evaluate(final, [chosen])[0].compute()
        class_names = attrs.get("class_names")
        if class_names and not zero_label:
            metrics["class_names"] = list(class_names)
        return TaskOutput(
            trivial=_majority_baseline(splits.train, final, read_mask, num_classes, ignore_index, train.batch_size),
            metrics=metrics, chosen={**specs[chosen].describe(), "val_mIoU": result.best_scores[chosen]},
            grid=grid_table(specs, result.best_scores, result.best_epochs),
            head_state=dict(grid.heads[chosen].state_dict()),
            settings={"layers": layers, "head": "bn+conv1x1", "num_classes": num_classes,
                      "ignore_index": ignore_index, "reduce_zero_label": zero_label, "unknown_ids": unknown_ids,
                      "upsampling": "bilinear logits to label size", "train": asdict(train)},
            history=result.history,
        )


def outside_scheme(mask: np.ndarray, num_classes: int, ignore_index: int, unknown_ids: str,
                   store: FeatureStore) -> np.ndarray:
    """The mask with ids that are neither a class (< num_classes) nor the ignore index refused, or (`ignore`)
    set to the ignore index.  # (B, H, W) int64"""
    unknown = (mask >= num_classes) & (mask != ignore_index) | (mask < 0)
    if not unknown.any():
        return mask
    if unknown_ids == "ignore":
        return np.where(unknown, ignore_index, mask)
    found = np.unique(mask[unknown])
    raise ProbekitError(f"{store.path}: masks hold ids {found[:8].tolist()} outside the {num_classes} classes and the "
                        f"ignore index {ignore_index}: check --ignore-index/--reduce-zero-label, or pass "
                        f"--unknown-ids ignore to ignore those pixels")


def _majority_baseline(train: StoreView, final: StoreView, read, num_classes: int, ignore_index: int,
                       batch_size: int) -> dict[str, Any]:
    """Every pixel labelled with the most frequent training class."""
    counts = np.zeros(num_classes + 1, dtype=np.int64)
    for arrays in iterate_batches(train, read, batch_size):
        mask = arrays["mask"]
        counts += np.bincount(np.where(mask == ignore_index, num_classes, mask).ravel(), minlength=num_classes + 1)
    majority = int(counts[:num_classes].argmax())
    metric = SegmentationMetrics(num_classes, ignore_index)
    for arrays in iterate_batches(final, read, batch_size):
        target = torch.from_numpy(arrays["mask"])
        metric.update(torch.full_like(target, majority), target)
    result = metric.compute()
    result.pop("confusion_matrix", None)
    return {"predictor": f"majority class ({majority})", **result}


TASKS.register("segmentation", SegmentationTask())
