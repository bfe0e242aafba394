"""Linear classification on cached global features, DINOv2's linear evaluation.

Input variants (the grid, all trained in one pass): the CLS of the last n chosen blocks,
optionally with the mean of the last block's patch tokens ("avgpool"), or patch means only:
    pooling 'cls'       cat(cls of last n blocks)
    pooling 'cls+mean'  cat(cls of last n blocks, mean of the last block)   (DINOv2 use_avgpool)
    pooling 'mean'      cat(mean of last n blocks)
Learning rates are DINOv2's 13 values, scaled by batch_size / 256; SGD with momentum 0.9,
cosine schedule, weight decay 0. Selection: top-1 on val.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from probekit.device import resolve_device
from probekit.errors import ProbekitError
from probekit.features.store import FeatureStore
from probekit.metrics.classification import ClassificationMetrics
from probekit.probes.distributed import current_ranks
from probekit.probes.heads import LinearClassifier
from probekit.probes.stream import Reader, StoreView, iterate_batches
from probekit.probes.trainer import SCHEDULERS, HeadSpec, to_device
from probekit.tasks.base import (
    TASKS,
    Column,
    Splits,
    TaskBase,
    TaskOutput,
    TrainedOptions,
    fit_on_val,
    grid_table,
    option,
    require_target,
)
from probekit.tasks.fewshot import FewShotOptions, run_few_shot
from probekit.tasks.sweep import best_per_set, build_grid, layer_sets, set_index, sweep_record

DINOV2_LRS = (1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 1e-1)
POOLINGS = ("cls", "cls+mean", "mean")


@dataclass(frozen=True)
class ClassificationOptions(FewShotOptions, TrainedOptions):
    """Linear classification: DINOv2's linear evaluation (dinov2/eval/linear.py) on cached features."""

    protocol_iters: ClassVar[int] = 12500  # DINOv2 linear.py: epochs 10 x epoch_length 1250
    protocol_warmup: ClassVar[int] = 0
    sweeps: ClassVar[bool] = True  # --sweep-layers: a grid per layer in one pass (probekit/tasks/sweep.py)

    layers: tuple[int, ...] | None = option(None, "Stored layers to use (default: every stored layer).")
    lrs: tuple[float, ...] = option(DINOV2_LRS, "Learning-rate grid, scaled by batch_size / 256 (DINOv2's 13 values).")
    weight_decays: tuple[float, ...] = option((0.0,), "Weight-decay grid (DINOv2: 0).")
    batch_size: int = option(128, "Training batch size (the learning rates scale with it).")
    optimizer: str = option("sgd", "Optimiser: SGD with momentum 0.9 (DINOv2) or AdamW.", choices=("sgd", "adamw"))
    pooling: tuple[str, ...] = option(
        ("cls", "cls+mean"), "Head inputs, a grid: cls, cls+mean (DINOv2 avgpool), mean.", choices=POOLINGS
    )
    n_blocks: tuple[int, ...] = option((1, 4), "Use the last n chosen blocks, a grid (DINOv2: 1 and 4).")
    iters: int | None = option(None, "Training length in optimizer steps (default: DINOv2's 12500 = 10 x 1250).")
    scheduler: str = option("cosine", "Learning-rate decay (DINOv2: cosine, no warm-up).", choices=SCHEDULERS)
    val_subset: int | None = option(
        10000, "Periodic validations read N val samples, strided (the final choice reads all of val; 0: all)."
    )

    def check(self) -> None:
        if any(n < 1 for n in self.n_blocks):
            raise ProbekitError(f"n_blocks must be positive integers, not {list(self.n_blocks)}")


def _reader(layers: list[int]) -> Reader:
    def read(store: FeatureStore, begin: int, end: int) -> dict[str, np.ndarray]:
        # layers concatenated in order, (B, D_0 + ... + D_L-1): a feature-map backbone's stages differ in width
        return {
            "cls": np.concatenate([store.read("cls", begin, end, k) for k in layers], axis=1),
            "mean": np.concatenate([store.read("mean", begin, end, k) for k in layers], axis=1),
            "label": store.read_target("label", begin, end),
        }

    return read


def _inputs(dims: list[int]) -> Callable[[dict[str, torch.Tensor], HeadSpec], torch.Tensor]:
    """The head input of a spec from a batch of concatenated layers of widths `dims` (in layer order)."""

    def head_input(batch: dict[str, torch.Tensor], spec: HeadSpec) -> torch.Tensor:
        width = sum(dims[-spec.variant["n_blocks"] :])  # the last n blocks
        pooling = spec.variant["pooling"]
        if pooling == "mean":
            return batch["mean"][:, -width:]  # (B, D_n + ... + D_L)
        x = batch["cls"][:, -width:]
        return torch.cat([x, batch["mean"][:, -dims[-1] :]], dim=1) if pooling == "cls+mean" else x

    return head_input


def _in_dim(spec: HeadSpec, dims: list[int]) -> int:
    n: int = spec.variant["n_blocks"]
    pooling: str = spec.variant["pooling"]
    return sum(dims[-n:]) + (dims[-1] if pooling == "cls+mean" else 0)


class ClassificationTask(TaskBase):
    name = "classification"
    options_type = ClassificationOptions
    main_metrics = ("top1", "mean_per_class_recall")
    columns = (Column("top1", "cls top-1", True, True), Column("mean_per_class_recall", "cls mean-recall", True, True))
    trivial_name = "majority class"
    distributed = True  # under torchrun each rank trains on its slice of every batch (DDP-style gradient sums)
    outputs = ("cls", "mean")  # every pooling of the grid reads from both

    def run(self, splits: Splits, options: ClassificationOptions, device: str, progress: bool) -> TaskOutput:
        store = splits.train.store
        require_target(store, "label", self.name)
        return run_few_shot(
            splits, options, lambda: store.read_target("label"), lambda s: self._run(s, options, device, progress)
        )

    def _run(self, splits: Splits, options: ClassificationOptions, device: str, progress: bool) -> TaskOutput:
        store = splits.train.store
        train = options.train_config(device)
        require_target(store, "label", self.name)
        sets = layer_sets(store, options.layers, options.sweep_layers, "all")
        layers = [k for chosen in sets for k in chosen]  # every layer read; a sweep's head reads one of them
        width = len(sets[0])  # layers per head input
        n_blocks = sorted({n for n in options.n_blocks if n <= width}) or [1]
        num_classes = int(store.target_attrs("label").get("num_classes") or store.read_target("label").max() + 1)
        scale = train.batch_size / 256.0  # DINOv2 scales its learning rates by the batch size
        lrs = [lr * scale for lr in options.lrs]
        specs = [
            HeadSpec(lr, wd, {"n_blocks": n, "pooling": p})
            for n in n_blocks
            for p in options.pooling
            for lr in lrs
            for wd in options.weight_decays
        ]
        position = set_index(sets)
        set_dims = [[store.dim_of(k) for k in chosen] for chosen in sets]  # per set, its layers' widths
        offsets = np.cumsum([0] + [sum(d) for d in set_dims]).tolist()  # where each set starts on the read axis
        set_inputs = [_inputs(d) for d in set_dims]

        def inputs(batch: dict[str, torch.Tensor], spec: HeadSpec) -> torch.Tensor:
            j = position(spec)  # this head's layers: their columns of the concatenated read
            own = {key: batch[key][:, offsets[j] : offsets[j + 1]] for key in ("cls", "mean")}  # (B, width) each
            return set_inputs[j](own, spec)

        grid = build_grid(
            sets,
            specs,
            lambda s: LinearClassifier(_in_dim(s, set_dims[position(s)]), num_classes),
            inputs,
            train.seed,
        )
        read = _reader(layers)
        torch_device = resolve_device(train.device)
        ranks = current_ranks()

        def evaluate_views(
            view: StoreView, heads: list[int], keep_samples: bool = False
        ) -> list[ClassificationMetrics]:
            metrics = [ClassificationMetrics(num_classes, keep_samples=keep_samples) for _ in heads]
            for arrays in iterate_batches(view, read, 1024):
                batch = to_device(arrays, torch_device)
                for metric, i in zip(metrics, heads, strict=True):
                    metric.update(grid.heads[i](inputs(batch, grid.specs[i])), batch["label"])
            return metrics

        def validate(view: StoreView) -> list[float]:
            return [m.compute()["top1"] for m in evaluate_views(view, list(range(len(grid.specs))))]

        result, scores, iters, chosen = fit_on_val(
            grid,
            lambda out, batch: F.cross_entropy(out, batch["label"]),
            splits,
            read,
            train,
            options,
            validate,
            progress,
            ranks=ranks,
        )
        per_set = best_per_set(sets, len(specs), scores)
        final_view = splits.test or splits.val
        evaluated = evaluate_views(final_view, per_set, keep_samples=True)  # each set's best head, one pass
        scored = [m.compute() for m in evaluated]
        sweep = {}
        if options.sweep_layers is not None:
            selection = [scores[i] for i in per_set]
            sweep = {"layer_sweep": sweep_record(store, sets, scored, selection)}
        return TaskOutput(
            trivial=majority_class_baseline(splits.train, final_view, num_classes),
            metrics=scored[per_set.index(chosen)],
            extra_metrics=sweep,
            chosen={**grid.specs[chosen].describe(), "val_top1": scores[chosen]},
            grid=grid_table(grid.specs, scores, iters),
            head_state=dict(grid.heads[chosen].state_dict()),
            settings={
                "layers": sets[position(grid.specs[chosen])],
                "head": "linear",
                "num_classes": num_classes,
                "lr_scale": scale,
                "train": asdict(train),
                "lrs_unscaled": list(options.lrs),
                "train_ranks": ranks.world if ranks is not None else 1,
            },
            history=result.history,
            schedule=result.schedule,
            train_losses=result.head_losses[:, chosen],
            samples=[evaluated[per_set.index(chosen)].samples()],
        )


def majority_class_baseline(train: StoreView, final: StoreView, num_classes: int) -> dict[str, Any]:
    """Always predicting the most frequent training class: the accuracy a probe must beat."""
    read = lambda store, begin, end: {"label": store.read_target("label", begin, end)}  # noqa: E731 - labels only
    counts = np.zeros(num_classes, dtype=np.int64)
    for arrays in iterate_batches(train, read, 4096):
        counts += np.bincount(arrays["label"], minlength=num_classes)
    majority = int(counts.argmax())
    metric = ClassificationMetrics(num_classes, keep_confusion=False)
    for arrays in iterate_batches(final, read, 4096):
        labels = torch.from_numpy(arrays["label"])
        metric.update(F.one_hot(torch.full_like(labels, majority), num_classes).float(), labels)
    result = metric.compute()
    result = {k: v for k, v in result.items() if not k.startswith("top") or k == "top1"}  # top-k of a constant is moot
    return {"predictor": f"majority class ({majority})", **result}


TASKS.register("classification", ClassificationTask())
