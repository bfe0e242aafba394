"""Semantic segmentation on cached patch grids, DINOv2's "lin." head (BatchNorm + 1x1 conv), or (`--head dpt`)
DPT's multi-layer decoder read out by that head (probekit/tasks/dense.py).

Patch features of one layer or several (concatenated on channels, DINOv2's "+ms" uses the last 4);
logits bilinearly upsampled to the label size; cross-entropy with an ignore index (255), optional
reduce-zero-label (ADE20K). mIoU from one dataset-wide confusion matrix, as mmsegmentation.
No augmentation: the features are cached, so the images are seen exactly as extracted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from probekit.device import resolve_device
from probekit.errors import ProbekitError
from probekit.features.store import FeatureStore
from probekit.metrics.bootstrap import SegmentationSamples
from probekit.metrics.segmentation import SegmentationMetrics, reduce_zero_label
from probekit.probes.heads import SegmentationHead
from probekit.probes.resize import resize_bilinear
from probekit.probes.stream import Reader, StoreView, iterate_batches
from probekit.probes.trainer import SCHEDULERS, HeadSpec, to_device
from probekit.tasks.base import (
    TASKS,
    Column,
    Splits,
    TaskBase,
    TaskOutput,
    fit_on_val,
    grid_table,
    option,
    require_target,
    spatial_size,
)
from probekit.tasks.dense import (
    DenseOptions,
    TestView,
    dense_head,
    dense_sets,
    fraction_warning,
    frame_predictions,
    head_summary,
    object_column,
    scoring_frame,
    test_views,
)
from probekit.tasks.sweep import best_per_set, build_grid, dense_layer_dim, set_index, stacked, sweep_record

DEFAULT_LRS = (1e-4, 3e-4, 1e-3, 3e-3)


@dataclass(frozen=True)
class SegmentationOptions(DenseOptions):
    """Linear segmentation: DINOv2's "lin." head (dinov2/eval/segmentation configs), trained on cached grids."""

    protocol_iters: ClassVar[int] = 40000  # DINOv2 ADE20K linear config: IterBasedRunner max_iters 40k
    protocol_warmup: ClassVar[int] = 1500  # its poly lr_config: linear warm-up, 1500 iterations
    sweeps: ClassVar[bool] = True  # --sweep-layers: a grid per layer in one pass (probekit/tasks/sweep.py)

    layers: tuple[int, ...] | None = option(
        None, "Stored layers to use, concatenated (default: the last stored; --head dpt: the quarters' ends)."
    )
    lrs: tuple[float, ...] = option(DEFAULT_LRS, "Learning-rate grid.")
    weight_decays: tuple[float, ...] = option((1e-4,), "Weight-decay grid.")
    batch_size: int = option(16, "Training batch size, in images.")
    optimizer: str = option(
        "adamw", "Optimiser: AdamW (DINOv2's segmentation configs) or SGD.", choices=("sgd", "adamw")
    )
    iters: int | None = option(None, "Training length in optimizer steps (default: DINOv2's ADE20K linear 40000).")
    scheduler: str = option("poly", "Learning-rate decay (DINOv2 / mmsegmentation: poly, power 1).", choices=SCHEDULERS)
    val_subset: int | None = option(
        250, "Periodic validations read N val images, strided (the final choice reads all of val; 0: all)."
    )
    ignore_index: int | None = option(None, "Label to ignore (default: the store's, else 255).")
    reduce_zero_label: bool = option(False, "0 -> ignore, k -> k-1 (ADE20K, as mmsegmentation).")
    num_classes: int | None = option(None, "Classes of the masks (default: the store's num_classes).")
    unknown_ids: str = option(
        "raise", "Mask ids that are neither a class nor the ignore index: raise | ignore.", choices=("raise", "ignore")
    )

    def check(self) -> None:
        if self.num_classes is not None and self.num_classes < 2:
            raise ProbekitError(f"num_classes must be at least 2, not {self.num_classes}")


def read_patch_grid(store: FeatureStore, begin: int, end: int, layers: list[int]) -> np.ndarray:
    """(B, h, w, L*D): the chosen layers' patch grids concatenated on channels."""
    return np.concatenate([store.read("patch", begin, end, k) for k in layers], axis=-1)


def head_input(batch: dict[str, torch.Tensor], spec: HeadSpec | None) -> torch.Tensor:
    return batch["x"].permute(0, 3, 1, 2)  # (B, h, w, C) -> (B, C, h, w)


def upsampled_logits(logits: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return resize_bilinear(logits, size)  # (B, K, H, W)


def class_map(scores: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """The arg-max class along `dim` (the class axis): `max(dim).indices`, the same labels as `argmax(dim)` (the
    first maximum on ties) and 5-10x faster on CPU over an axis that is not the last (32 ms vs 3 ms for 16
    maps of 9 classes at 96 x 96); evaluation took 40% of a quickstart segmentation probe in `argmax`."""
    return scores.max(dim=dim).indices


class SegmentationTask(TaskBase):
    name = "segmentation"
    options_type = SegmentationOptions
    main_metrics = ("mIoU", "pixel_accuracy")
    columns = (Column("mIoU", "seg mIoU", True, True), Column("pixel_accuracy", "seg pix-acc", True, True))
    trivial_name = "majority class"
    outputs = ("patch",)
    truth_target = "mask"

    def run(self, splits: Splits, options: SegmentationOptions, device: str, progress: bool) -> TaskOutput:
        store = splits.train.store
        train = options.train_config(device)
        require_target(store, "mask", self.name)
        attrs = store.target_attrs("mask")
        sets = dense_sets(store, options)
        ignore_index = int(options.ignore_index if options.ignore_index is not None else attrs.get("ignore_index", 255))
        zero_label = options.reduce_zero_label
        if zero_label and attrs.get("zero_label_reduced"):
            raise ProbekitError(
                f"{store.path}: its masks are reduced already (label 0 ignored at extraction): drop --reduce-zero-label"
            )
        num_classes = int(options.num_classes or attrs.get("num_classes", 0)) - int(zero_label)
        if num_classes <= 1:
            raise ProbekitError(f"{store.path}: mask target has no usable num_classes attribute; pass --num-classes")

        unknown_ids = options.unknown_ids

        def read_mask(s: FeatureStore, begin: int, end: int) -> dict[str, np.ndarray]:
            mask = s.read_target("mask", begin, end).astype(np.int64)
            if zero_label:
                mask = reduce_zero_label(torch.from_numpy(mask)).numpy()
            return {"mask": outside_scheme(mask, num_classes, ignore_index, unknown_ids, s)}

        def read(s: FeatureStore, begin: int, end: int) -> dict[str, np.ndarray]:
            x = stacked(sets, lambda layers: read_patch_grid(s, begin, end, layers))  # (B, S, h, w, C)
            return {"x": x, **read_mask(s, begin, end)}

        position = set_index(sets)

        def inputs(batch: dict[str, torch.Tensor], spec: HeadSpec) -> torch.Tensor:
            return head_input({"x": batch["x"][:, position(spec)]}, spec)  # (B, C, h, w) of this head's layers

        specs = [HeadSpec(lr, wd) for lr in options.lrs for wd in options.weight_decays]
        layer_dim = dense_layer_dim(store, sets, self.name)
        settings = {"head": options.head, "num_classes": num_classes, "dpt_features": options.dpt_features}
        grid = build_grid(
            sets,
            specs,
            lambda spec: self.build_head({**settings, "layers": sets[position(spec)]}, layer_dim),
            inputs,
            train.seed,
        )
        torch_device = resolve_device(train.device)

        def loss(logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
            target = batch["mask"]
            return F.cross_entropy(upsampled_logits(logits, spatial_size(target)), target, ignore_index=ignore_index)

        def evaluate(view: StoreView, heads: list[int]) -> list[SegmentationMetrics]:
            metrics = [SegmentationMetrics(num_classes, ignore_index) for _ in heads]
            for arrays in iterate_batches(view, read, train.batch_size):
                batch = to_device(arrays, torch_device)
                for metric, i in zip(metrics, heads, strict=True):
                    logits = grid.heads[i](inputs(batch, grid.specs[i]))
                    pred = class_map(upsampled_logits(logits, spatial_size(batch["mask"])))
                    metric.update(pred, batch["mask"])
            return metrics

        def validate(view: StoreView) -> list[float]:
            return [m.compute()["mIoU"] for m in evaluate(view, list(range(len(grid.specs))))]

        result, scores, iters, chosen = fit_on_val(grid, loss, splits, read, train, options, validate, progress)
        per_set = best_per_set(sets, len(specs), scores)
        layers = sets[position(grid.specs[chosen])]
        final = splits.test or splits.val
        frame, fallback = scoring_frame(final.store, options.score_at, "mask")
        views = test_views(final.store, options.protocol, options.ms_scales, options.ms_flip)

        def final_score(i: int) -> tuple[FinalScorer, dict[str, Any], dict[str, Any], Any]:
            """Head i scored on the final split (its own layers): the scorer, metrics, scoring record and per-image
            statistics (the bootstrap's)."""
            scorer = FinalScorer(
                final,
                frame,
                sets[position(grid.specs[i])],
                num_classes,
                ignore_index,
                zero_label,
                unknown_ids,
                torch_device,
            )
            head = grid.heads[i].eval()
            return scorer, *scorer.score(views, lambda batch: head(head_input(batch, None)), train.batch_size)

        scorer, metrics, scoring, samples = final_score(chosen)
        extra: dict[str, Any] = {}
        if options.sweep_layers is not None:  # each layer's best head on the final split, the chosen one scored once
            scored = [metrics if i == chosen else final_score(i)[1] for i in per_set]
            selection = [scores[i] for i in per_set]
            extra["layer_sweep"] = sweep_record(store, sets, scored, selection)
        scoring["protocol"] = options.protocol
        if fallback:
            scoring["warning"] = fallback
        if options.protocol == "ms":
            scoring["views"] = [{"scale": v.scale, "flip": v.flip, "store": v.store.path.name} for v in views]
        class_names = attrs.get("class_names")
        if class_names and not zero_label:
            metrics["class_names"] = list(class_names)
        return TaskOutput(
            trivial=_majority_baseline(splits.train, scorer, read_mask, num_classes, ignore_index, train.batch_size),
            metrics=metrics,
            extra_metrics={"scoring": scoring, **extra},
            chosen={**grid.specs[chosen].describe(), "val_mIoU": scores[chosen]},
            grid=grid_table(grid.specs, scores, iters),
            head_state=dict(grid.heads[chosen].state_dict()),
            head=head_summary(options.head, grid.heads[chosen], layers),
            settings={
                "layers": layers,
                "head": options.head,
                "readout": "bn+conv1x1",
                "dpt_features": options.dpt_features if options.head == "dpt" else None,
                "num_classes": num_classes,
                "ignore_index": ignore_index,
                "reduce_zero_label": zero_label,
                "unknown_ids": unknown_ids,
                "upsampling": "bilinear logits to label size"
                if frame == "stored"
                else "bilinear logits to the image size, then through the pixel map to the original labels",
                "score_at": frame,
                "protocol": options.protocol,
                "train": asdict(train),
            },
            history=result.history,
            schedule=result.schedule,
            train_losses=result.head_losses[:, chosen],
            samples=[samples],
        )

    def build_head(self, settings: Mapping[str, Any], embed_dim: int) -> torch.nn.Module:
        """BN + 1x1 conv on the layers' grids, or after the DPT decoder (results before `--head` say 'bn+conv1x1')."""
        num_classes = int(settings["num_classes"])
        kind = "dpt" if settings.get("head") == "dpt" else "linear"
        features = int(settings.get("dpt_features") or 0)
        return dense_head(
            kind, embed_dim, len(settings["layers"]), False, features, lambda dim: SegmentationHead(dim, num_classes)
        )

    def predict(
        self,
        head: torch.nn.Module,
        settings: Mapping[str, Any],
        batch: Mapping[str, torch.Tensor],
        size: tuple[int, int],
    ) -> torch.Tensor:
        """(B, H, W) labels in the dataset's ids: arg-max of the upsampled logits (+1 where zero was reduced)."""
        labels = class_map(upsampled_logits(head(head_input(dict(batch), None)), size))  # (B, H, W)
        return labels + 1 if settings.get("reduce_zero_label") else labels


def outside_scheme(
    mask: np.ndarray, num_classes: int, ignore_index: int, unknown_ids: str, store: FeatureStore
) -> np.ndarray:
    """The mask with ids that are neither a class (< num_classes) nor the ignore index refused, or (`ignore`)
    set to the ignore index.  # (B, H, W) int64"""
    unknown = (mask >= num_classes) & (mask != ignore_index) | (mask < 0)
    if not unknown.any():
        return mask
    if unknown_ids == "ignore":
        return np.where(unknown, ignore_index, mask)
    found = np.unique(mask[unknown])
    raise ProbekitError(
        f"{store.path}: masks hold ids {found[:8].tolist()} outside the {num_classes} classes and the "
        f"ignore index {ignore_index}: check --ignore-index/--reduce-zero-label, or pass "
        f"--unknown-ids ignore to ignore those pixels"
    )


class FinalScorer:
    """mIoU of the chosen head on the final split in the scoring frame (probekit/tasks/dense.py), over test views."""

    def __init__(
        self,
        split: StoreView,
        frame: str,
        layers: list[int],
        num_classes: int,
        ignore_index: int,
        zero_label: bool,
        unknown_ids: str,
        device: torch.device,
    ):
        self.split, self.frame, self.layers, self.device = split, frame, layers, device
        self.num_classes, self.ignore_index = num_classes, ignore_index
        self.zero_label, self.unknown_ids = zero_label, unknown_ids
        self.stored_hw = spatial_size_of(split.store, "mask")

    def inputs(self, store: FeatureStore, begin: int, end: int) -> dict[str, np.ndarray]:
        return {"x": read_patch_grid(store, begin, end, self.layers)}

    def truth(self, store: FeatureStore, begin: int, end: int) -> dict[str, np.ndarray]:
        """The masks to score against (class ids in the probe's scheme): stored rows or decoded originals."""
        if self.frame == "stored":
            return {"mask": self._scheme(store.read_target("mask", begin, end).astype(np.int64), store)}
        originals = store.read_originals("mask", begin, end)
        return {"mask": object_column([self._scheme(m.astype(np.int64), store) for m in originals])}

    def _scheme(self, mask: np.ndarray, store: FeatureStore) -> np.ndarray:
        if self.zero_label:
            mask = reduce_zero_label(torch.from_numpy(mask)).numpy()
        return outside_scheme(mask, self.num_classes, self.ignore_index, self.unknown_ids, store)

    def score(
        self, views: list[TestView], predict: Callable[[dict[str, torch.Tensor]], torch.Tensor], batch_size: int
    ) -> tuple[dict[str, Any], dict[str, Any], SegmentationSamples]:
        """(metrics, scoring, per-image areas): predictions averaged over views (softmax), arg-max, scored in the
        frame."""
        metric = SegmentationMetrics(self.num_classes, self.ignore_index, per_image=True)
        labelled = scored = 0
        for probs, inside, truth in frame_predictions(
            self.split,
            views,
            self.inputs,
            self.truth,
            predict,
            self.frame,
            self.stored_hw,
            True,
            batch_size,
            self.device,
        ):
            target = torch.as_tensor(np.asarray(truth["mask"], dtype=np.int64), device=probs.device)  # (H, W)
            known = target != self.ignore_index
            target = torch.where(inside, target, self.ignore_index)  # unseen original pixels are not scored
            labelled, scored = labelled + int(known.sum()), scored + int((known & inside).sum())
            metric.update(class_map(probs, dim=0)[None], target[None])
        scoring: dict[str, Any] = {"score_at": self.frame, "scored_fraction": scored / labelled if labelled else None}
        warning = fraction_warning(scored, labelled, "labelled")
        if warning:
            scoring["warning"] = f"{self.split.name}: {warning}"
        return metric.compute(), scoring, metric.samples()


def spatial_size_of(store: FeatureStore, target: str) -> tuple[int, int]:
    """(H, W) of a stored per-sample map target."""
    h, w = store.file[f"targets/{target}"].shape[1:3]
    return int(h), int(w)


def _majority_baseline(
    train: StoreView, scorer: FinalScorer, read: Reader, num_classes: int, ignore_index: int, batch_size: int
) -> dict[str, Any]:
    """Every pixel labelled with the most frequent training class, scored like the head (same frame)."""
    counts = np.zeros(num_classes + 1, dtype=np.int64)
    for arrays in iterate_batches(train, read, batch_size):
        mask = arrays["mask"]
        counts += np.bincount(np.where(mask == ignore_index, num_classes, mask).ravel(), minlength=num_classes + 1)
    majority = int(counts[:num_classes].argmax())

    def constant(batch: dict[str, torch.Tensor]) -> torch.Tensor:
        x = batch["x"]  # (B, h, w, C)
        logits = torch.zeros(x.shape[0], num_classes, *x.shape[1:3], device=x.device)  # (B, K, h, w)
        logits[:, majority] = 1.0
        return logits

    result, _, _ = scorer.score([TestView(scorer.split.store, 1.0, False)], constant, batch_size)
    result.pop("confusion_matrix", None)
    return {"predictor": f"majority class ({majority})", **result}


TASKS.register("segmentation", SegmentationTask())
