"""A toy task, written as docs/adding-a-task.md says: regress a per-image scalar target ('value') from the
CLS token with a linear head. It lives outside probekit and needs no edit inside it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from probekit.device import resolve_device
from probekit.features.store import FeatureStore
from probekit.probes.stream import StoreView, iterate_batches
from probekit.probes.trainer import HeadGrid, HeadSpec, fit, to_device
from probekit.tasks.base import (
    TASKS,
    Column,
    Splits,
    TaskBase,
    TaskOutput,
    TrainedOptions,
    best_index,
    choose_layers,
    grid_table,
    option,
    require_target,
    training_stream,
)


@dataclass(frozen=True)
class MeanRegressionOptions(TrainedOptions):
    """Linear regression of a scalar per image (a toy protocol: MSE, AdamW)."""

    lrs: tuple[float, ...] = option((1e-2, 1e-1), "Learning-rate grid.")
    batch_size: int = option(16, "Training batch size.")
    optimizer: str = option("adamw", "Optimiser.", choices=("sgd", "adamw"))


def _input(batch: dict[str, torch.Tensor], spec: HeadSpec) -> torch.Tensor:
    return batch["cls"]  # (B, D)


class MeanRegressionTask(TaskBase):
    name = "mean-regression"
    options_type = MeanRegressionOptions
    main_metrics = ("mse",)
    columns = (Column("mse", "mean-reg MSE", False, False),)
    trivial_name = "training mean"

    def run(self, splits: Splits, options: MeanRegressionOptions, device: str, progress: bool) -> TaskOutput:
        store = splits.train.store
        require_target(store, "value", self.name)
        train = options.train_config(device)
        layer = choose_layers(store, options.layers, default="last")[-1]

        def read(s: FeatureStore, begin: int, end: int) -> dict[str, np.ndarray]:
            return {"cls": s.read("cls", begin, end, layer), "value": s.read_target("value", begin, end)}

        @torch.no_grad()
        def mse(view: StoreView, predict) -> float:  # mean over images
            total, count = 0.0, 0
            for arrays in iterate_batches(view, read, 256):
                batch = to_device(arrays, resolve_device(train.device))
                total += float(((predict(batch) - batch["value"]) ** 2).sum())
                count += len(batch["value"])
            return total / count

        specs = [HeadSpec(lr, wd) for lr in options.lrs for wd in options.weight_decays]
        torch.manual_seed(train.seed)
        grid = HeadGrid([nn.Linear(store.dim, 1) for _ in specs], specs, _input)
        periodic, full = options.validation_views(splits.val)  # full: None when the subset is all of val

        def validate(view: StoreView) -> list[float]:
            return [-mse(view, lambda b, h=h: h(b["cls"])[:, 0]) for h in grid.heads]

        result = fit(
            grid,
            lambda out, batch: F.mse_loss(out[:, 0], batch["value"]),
            *training_stream(splits.train, read, train),
            train,
            lambda _: validate(periodic),
            progress,
            final_evaluate=(lambda _: validate(full)) if full is not None else None,
        )
        chosen = best_index(result.best_scores)
        final = splits.test or splits.val
        mean = float(np.mean([a["value"].mean() for a in iterate_batches(splits.train, read, 10**6)]))
        return TaskOutput(
            metrics={"mse": mse(final, lambda b: grid.heads[chosen](b["cls"])[:, 0])},
            trivial={
                "predictor": f"training mean ({mean:.3f})",
                "mse": mse(final, lambda b: torch.full_like(b["value"], mean)),
            },
            chosen=specs[chosen].describe(),
            grid=grid_table(specs, result.best_scores, result.best_iters),
            head_state=dict(grid.heads[chosen].state_dict()),
            settings={"layers": [layer], "head": "linear", "train": vars(train)},
            history=result.history,
            schedule=result.schedule,
            train_losses=result.head_losses[:, chosen],
        )


TASKS.register("mean-regression", MeanRegressionTask())
