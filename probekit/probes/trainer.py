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
from probekit.probes.distributed import Ranks
from probekit.progress import progress_bar

log = logging.getLogger("probekit.probe")


SCHEDULERS = ("cosine", "poly")


@dataclass(frozen=True)
class TrainConfig:
    """The training loop's settings. Length in optimizer steps (`iters`), or `epochs` converted to steps by `fit`
    (epochs x batches per epoch); exactly one of them. `eval_every` None: 10 evaluations per run."""

    iters: int | None = None
    epochs: int | None = None
    batch_size: int = 128
    optimizer: str = "sgd"  # 'sgd' (DINOv2 classification) | 'adamw'
    momentum: float = 0.9
    seed: int = 0
    device: str = "auto"
    early_stopping: int | None = None  # stop after this many evaluations without improvement of any head
    eval_every: int | None = None  # optimizer steps between validations (None: a tenth of the run)
    scheduler: str = "cosine"  # 'cosine' (DINOv2 linear classification) | 'poly' (mmsegmentation PolyLR)
    warmup_iters: int | None = None  # linear warm-up steps from warmup_ratio x lr (mmcv's 'linear' warm-up)
    warmup_fraction: float = 0.0  # without warmup_iters: this fraction of the run's steps
    warmup_ratio: float = 1e-6
    poly_power: float = 1.0

    def __post_init__(self) -> None:
        """Counts that must be positive fail here, before any store is read (suites and the API alike)."""
        for name in ("iters", "epochs", "batch_size", "eval_every", "early_stopping"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ProbekitError(f"{name} must be a positive integer, not {value!r}")
        if (self.iters is None) == (self.epochs is None):
            raise ProbekitError("give the training length as iters or as epochs, not both (nor neither)")
        warmup = self.warmup_iters
        if warmup is not None and (not isinstance(warmup, int) or isinstance(warmup, bool) or warmup < 0):
            raise ProbekitError(f"warmup_iters must be a non-negative integer, not {warmup!r}")
        if self.iters is not None and warmup is not None and warmup >= self.iters:
            raise ProbekitError(f"warmup_iters {warmup} must be below iters {self.iters}")
        if not 0 <= self.warmup_fraction < 1:
            raise ProbekitError(f"warmup_fraction must be in [0, 1), not {self.warmup_fraction!r}")
        if self.scheduler not in SCHEDULERS:
            raise ProbekitError(f"scheduler must be one of {', '.join(SCHEDULERS)}, not {self.scheduler!r}")
        if not 0 < self.warmup_ratio <= 1:
            raise ProbekitError(f"warmup_ratio must be in (0, 1], not {self.warmup_ratio!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ProbekitError(f"seed must be a non-negative integer, not {self.seed!r}")

    def total_iters(self, steps_per_epoch: int) -> int:
        """Optimizer steps of the run: `iters`, or `epochs` x batches per epoch."""
        return self.iters if self.iters is not None else max(1, (self.epochs or 1) * steps_per_epoch)

    def warmup(self, total: int) -> int:
        """Warm-up steps of a `total`-step run: `warmup_iters`, else `warmup_fraction` of the run (below the run)."""
        if self.warmup_iters is not None:
            return min(self.warmup_iters, total - 1)
        return min(round(self.warmup_fraction * total), total - 1)

    def eval_period(self, total: int) -> int:
        """Steps between validations: `eval_every`, else a tenth of the run (10 evaluations, DINOv2's 1250 of 12500)."""
        return self.eval_every if self.eval_every is not None else max(1, total // 10)


def lr_factor(scheduler: str, total: int, warmup: int, warmup_ratio: float, power: float) -> Callable[[int], float]:
    """The learning-rate multiplier at optimizer step `step` (0-based): linear warm-up then cosine or poly decay.

    poly: (1 - step / total) ** power with min_lr 0, mmcv's PolyLrUpdaterHook; cosine: 0.5 (1 + cos(pi step / total)),
    torch's CosineAnnealingLR with eta_min 0 (DINOv2 linear.py). Warm-up as mmcv's 'linear' warm-up: the decayed
    rate times 1 - (1 - step / warmup_iters)(1 - warmup_ratio), so step 0 runs at warmup_ratio x the rate.
    """

    def decay(step: int) -> float:
        progress = min(step, total) / total
        if scheduler == "poly":
            return float((1 - progress) ** power)
        return 0.5 * (1 + math.cos(math.pi * progress))

    def factor(step: int) -> float:
        if step < warmup:
            return decay(step) * (1 - (1 - step / warmup) * (1 - warmup_ratio))
        return decay(step)

    return factor


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
    best_iters: list[int] | None  # per head, the optimizer step of its best validation
    steps: int  # optimizer steps actually taken (early stopping can stop before `schedule['iters']`)
    schedule: dict[str, Any]  # what the results JSON records under probe.schedule
    head_losses: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (steps, heads) training loss


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
    final_evaluate: Callable[[HeadGrid], list[float]] | None = None,
    ranks: Ranks | None = None,
) -> FitResult:
    """Train every head of `grid` for `config.total_iters` optimizer steps (the batch stream restarts, reshuffled,
    when an epoch ends) with warm-up and a cosine or poly schedule; every `eval_period` steps `evaluate` scores
    each head and each keeps its best weights. `final_evaluate` (e.g. the full val where `evaluate` reads a
    subset) rescores every head's best state once at the end: those are the returned best scores.
    `ranks` (a torchrun job): each rank trains on its slice of every batch and the gradients are summed over
    ranks (probekit.probes.distributed), for losses that are means over rows; validation runs on every rank."""
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
    total = config.total_iters(steps_per_epoch)
    period = config.eval_period(total)
    if config.epochs is not None:
        log.info("--epochs %d = %d optimizer steps (%d batches per epoch)", config.epochs, total, steps_per_epoch)
    warmup = config.warmup(total)
    factor = lr_factor(config.scheduler, total, warmup, config.warmup_ratio, config.poly_power)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)

    best_scores = [-math.inf] * len(grid.heads)  # reported only with `evaluate`
    best_iters = [0] * len(grid.heads)
    best_states = [copy.deepcopy(h.state_dict()) for h in grid.heads] if evaluate else []
    history: list[dict[str, Any]] = []
    losses = np.zeros((total, len(grid.heads)), dtype=np.float32)  # (steps, heads)
    stale, step, epoch, samples, since = 0, 0, 0, 0, 0
    bar = progress_bar(total, "probe", "step", enabled=progress and (ranks is None or ranks.is_main))
    while step < total and not (config.early_stopping is not None and stale >= config.early_stopping):
        epoch += 1
        grid.train()
        before = step
        for arrays in train_batches(epoch):
            samples += len(next(iter(arrays.values())))
            optimizer.zero_grad(set_to_none=True)
            per_head = _backward(grid, loss_fn, arrays, device, ranks)  # (heads,)
            if not torch.isfinite(per_head.sum()):
                raise ProbekitError(
                    f"the training loss became {per_head.sum().item()} at step {step + 1}: lower the learning rates"
                )
            optimizer.step()
            schedule.step()
            losses[step] = per_head.cpu().numpy()
            step += 1
            bar.update(1)
            if step % period and step != total:
                continue
            record: dict[str, Any] = {"iter": step, "epoch": epoch, "train_loss": float(losses[since:step].mean())}
            since = step
            if evaluate:
                scores = _scores(grid, evaluate)
                record["val_scores"] = scores
                improved = False
                for i, score in enumerate(scores):
                    if score > best_scores[i]:
                        best_scores[i], best_iters[i], improved = score, step, True
                        best_states[i] = copy.deepcopy(grid.heads[i].state_dict())
                stale = 0 if improved else stale + 1
                bar.set_postfix(best=f"{max(best_scores):.4f}")
                grid.train()
            history.append(record)
            if step >= total or (config.early_stopping is not None and stale >= config.early_stopping):
                break
        if step == before:
            raise ProbekitError("the training split yielded no batches: it holds no samples")
    bar.close()
    if config.early_stopping is not None and stale >= config.early_stopping and step < total:
        log.info("early stopping at step %d of %d: no head improved for %d evaluations", step, total, stale)
    if evaluate:
        for head, state in zip(grid.heads, best_states, strict=True):
            head.load_state_dict(state)
        if final_evaluate is not None:
            best_scores = _scores(grid, final_evaluate)
    grid.eval()
    record = {
        "iters": total,
        "steps": step,
        "samples_seen": samples,
        "epochs_begun": epoch,
        "batch_size": config.batch_size,
        "scheduler": config.scheduler,
        "warmup_iters": warmup,
        "warmup_ratio": config.warmup_ratio,
        "eval_every": period,
        "from_epochs": config.epochs,
    }
    return FitResult(
        history,
        best_scores if evaluate else None,
        best_iters if evaluate else None,
        step,
        record,
        losses[:step],
    )


def _backward(
    grid: HeadGrid,
    loss_fn: Callable[[torch.Tensor, dict[str, torch.Tensor]], torch.Tensor],
    arrays: Mapping[str, np.ndarray],
    device: torch.device,
    ranks: Ranks | None,
) -> torch.Tensor:
    """Each head's loss on the batch (heads,), its gradients left in the parameters. With `ranks`, this rank's
    slice of the batch, its losses weighted by its share, and gradients and losses summed over ranks."""
    if ranks is None:
        batch = to_device(arrays, device)
        per_head = torch.stack([loss_fn(out, batch) for out in grid(batch)])  # (heads,)
        per_head.sum().backward()  # type: ignore[no-untyped-call]  # unannotated in torch
        return per_head.detach()
    part, share = ranks.part(arrays)
    per_head = torch.zeros(len(grid.heads), device=device)  # (heads,) a rank with no rows adds nothing
    if share > 0:
        batch = to_device(part, device)
        per_head = torch.stack([loss_fn(out, batch) for out in grid(batch)]) * share  # (heads,)
        per_head.sum().backward()  # type: ignore[no-untyped-call]  # unannotated in torch
    return ranks.sum_gradients(list(grid.parameters()), per_head)


def _scores(grid: HeadGrid, evaluate: Callable[[HeadGrid], list[float]]) -> list[float]:
    """Each head's validation score, in eval mode without gradients."""
    grid.eval()
    with torch.no_grad():
        return [float(s) for s in evaluate(grid)]
