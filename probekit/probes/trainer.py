"""One small training loop for every task: a grid of heads trained together in one pass over the data.

Each head of the grid has its own learning rate / weight decay (its own optimiser parameter group)
and may read its own input variant; the loss is the sum over heads, which leaves every head's
gradient exactly what it would be alone. This is how DINOv2 trains 13 learning rates x 4 input
variants at the cost of one pass over the features.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from probekit.device import resolve_device
from probekit.errors import ProbekitError
from probekit.progress import progress_bar

log = logging.getLogger("probekit.probe")


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "sgd"  # 'sgd' (DINOv2 classification) | 'adamw'
    momentum: float = 0.9
    seed: int = 0
    device: str = "auto"
    early_stopping: int | None = None  # stop after this many evaluations without improvement of any head
    eval_every: int = 1  # epochs between validation passes (when a validation is given)

    def __post_init__(self) -> None:
        """Counts that must be positive fail here, before any store is read (suites and the API alike)."""
        for name in ("epochs", "batch_size", "eval_every", "early_stopping"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ProbekitError(f"{name} must be a positive integer, not {value!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ProbekitError(f"seed must be a non-negative integer, not {self.seed!r}")


@dataclass(frozen=True)
class HeadSpec:
    """One member of the grid: its hyper-parameters, recorded in the results."""

    lr: float
    weight_decay: float
    variant: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {"lr": self.lr, "weight_decay": self.weight_decay, **self.variant}


class HeadGrid(nn.Module):
    """A list of heads with their specs; `inputs(batch, spec)` builds each head's input from a batch."""

    def __init__(
        self,
        heads: Sequence[nn.Module],
        specs: Sequence[HeadSpec],
        inputs: Callable[[dict[str, torch.Tensor], HeadSpec], torch.Tensor],
    ):
        super().__init__()
        if len(heads) != len(specs):
            raise ValueError("one spec per head")
        self.heads = nn.ModuleList(heads)
        self.specs = list(specs)
        self.inputs = inputs

    def forward(self, batch: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        return [head(self.inputs(batch, spec)) for head, spec in zip(self.heads, self.specs, strict=True)]


@dataclass
class FitResult:
    history: list[dict[str, Any]]
    best_scores: list[float] | None  # per head, on validation (higher is better)
    best_epochs: list[int] | None
    epochs_run: int


def to_device(arrays: Mapping[str, np.ndarray], device: torch.device) -> dict[str, torch.Tensor]:
    """numpy batch -> float32 / int64 tensors on the device."""
    out = {}
    for key, value in arrays.items():
        tensor = torch.from_numpy(value)
        tensor = tensor.float() if tensor.is_floating_point() else tensor.long()
        out[key] = tensor.to(device, non_blocking=True)
    return out


def fit(
    grid: HeadGrid,
    loss_fn: Callable[[torch.Tensor, dict[str, torch.Tensor]], torch.Tensor],
    train_batches: Callable[[int], Iterable[dict[str, Any]]],
    steps_per_epoch: int,
    config: TrainConfig,
    evaluate: Callable[[HeadGrid], list[float]] | None = None,
    progress: bool = True,
) -> FitResult:
    """Train every head of `grid` with a cosine schedule; keep each head's best weights on validation."""
    device = resolve_device(config.device)
    grid.to(device)
    groups = [
        {"params": list(head.parameters()), "lr": spec.lr, "weight_decay": spec.weight_decay}
        for head, spec in zip(grid.heads, grid.specs, strict=True)
    ]
    optimizers: dict[str, Callable[[], torch.optim.Optimizer]] = {
        "sgd": lambda: torch.optim.SGD(groups, momentum=config.momentum),
        "adamw": lambda: torch.optim.AdamW(groups),
    }
    if config.optimizer not in optimizers:
        raise ProbekitError(f"optimizer must be one of {', '.join(optimizers)}, not {config.optimizer!r}")
    optimizer = optimizers[config.optimizer]()
    total = max(1, config.epochs * steps_per_epoch)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, total) / total))
    )

    best_scores = [-math.inf] * len(grid.heads)  # reported only with `evaluate`
    best_epochs = [0] * len(grid.heads)
    best_states = [copy.deepcopy(h.state_dict()) for h in grid.heads] if evaluate else []
    history, stale, epoch = [], 0, 0
    bar = progress_bar(total, "probe", "step", enabled=progress)
    for epoch in range(1, config.epochs + 1):
        grid.train()
        running, steps = 0.0, 0
        for arrays in train_batches(epoch):
            batch = to_device(arrays, device)
            outputs = grid(batch)
            loss = torch.stack([loss_fn(out, batch) for out in outputs]).sum()
            if not torch.isfinite(loss):
                raise ProbekitError(
                    f"the training loss became {loss.item()} at epoch {epoch}: lower the learning rates"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]  # unannotated in torch
            optimizer.step()
            schedule.step()
            running += loss.item() / len(outputs)
            steps += 1
            bar.update(1)
        record: dict[str, Any] = {"epoch": epoch, "train_loss": running / max(steps, 1)}
        if evaluate and (epoch % config.eval_every == 0 or epoch == config.epochs):
            grid.eval()
            with torch.no_grad():
                scores = evaluate(grid)
            record["val_scores"] = scores
            improved = False
            for i, score in enumerate(scores):
                if score > best_scores[i]:
                    best_scores[i], best_epochs[i], improved = score, epoch, True
                    best_states[i] = copy.deepcopy(grid.heads[i].state_dict())
            stale = 0 if improved else stale + 1
            bar.set_postfix(best=f"{max(best_scores):.4f}")
        history.append(record)
        if config.early_stopping is not None and stale >= config.early_stopping:
            log.info("early stopping at epoch %d: no head improved for %d evaluations", epoch, stale)
            break
    bar.close()
    if evaluate:
        for head, state in zip(grid.heads, best_states, strict=True):
            head.load_state_dict(state)
    grid.eval()
    return FitResult(history, best_scores if evaluate else None, best_epochs if evaluate else None, epoch)
