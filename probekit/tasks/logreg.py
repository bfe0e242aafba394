"""Logistic regression on cached global features: DINOv2's `log_regression` evaluation, solved by torch L-BFGS.

Multinomial logistic regression with an L2 penalty, the objective of scikit-learn's (and cuML's)
`LogisticRegression`: C * sum of log-losses + 0.5 * ||W||^2, intercept not penalised (minimised here in
the equivalent form mean log-loss + ||W||^2 / (2 C N)). A grid of C is fitted on train and the best
top-1 on val is refitted on train + val, then scored on test (facebookresearch/dinov2,
dinov2/eval/log_regression.py: `C_POWER_RANGE`, `DEFAULT_MAX_ITER`, tol 1e-12, float64).

The features are loaded into memory (float64, on `device`): `max_memory_gb` bounds them and a larger
problem is refused with one line pointing to the streamed probes (knn, classification).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from probekit.device import resolve_device
from probekit.errors import ProbekitError
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
    option,
    require_target,
)
from probekit.tasks.classification import majority_class_baseline
from probekit.tasks.fewshot import run_few_shot
from probekit.tasks.knn import GlobalFeatureOptions, global_reader, num_classes_of

DINOV2_CS = tuple(float(c) for c in 10 ** np.linspace(-6, 5, 45))  # torch.linspace(-6, 5, 45) in DINOv2
BYTES = 8  # float64, as DINOv2 fits


@dataclass(frozen=True)
class LogregOptions(GlobalFeatureOptions):
    """Logistic regression: DINOv2's log_regression protocol (dinov2/eval/log_regression.py) on cached features."""

    cs: tuple[float, ...] = option(DINOV2_CS, "Inverse L2 strengths C, a grid chosen on val (DINOv2: 10^[-6..5], 45).")
    max_iter: int = option(1000, "L-BFGS iterations per fit at most (DINOv2: 1000).")
    tol: float = option(1e-12, "L-BFGS stops when the largest gradient entry or the change falls below it (DINOv2).")
    max_memory_gb: float = option(4.0, "Refuse when train+val+test features in float64 exceed this many GB.")

    def check(self) -> None:
        if not self.cs or not all(np.isfinite(c) and c > 0 for c in self.cs):
            raise ProbekitError(f"cs must be finite numbers > 0, not {list(self.cs)}")
        if self.max_iter < 1:
            raise ProbekitError(f"max_iter must be a positive integer, not {self.max_iter!r}")
        if not (np.isfinite(self.tol) and self.tol >= 0):
            raise ProbekitError(f"tol must be a finite number >= 0, not {self.tol!r}")
        if not self.max_memory_gb > 0:
            raise ProbekitError(f"max_memory_gb must be > 0, not {self.max_memory_gb!r}")


@dataclass
class Linear:
    """A fitted multinomial model: weight (C, F) and bias (C,), float64."""

    weight: torch.Tensor
    bias: torch.Tensor
    iterations: int

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight.T + self.bias  # (N, C)


def fit(
    x: torch.Tensor, y: torch.Tensor, c: float, num_classes: int, max_iter: int, tol: float, start: Linear | None = None
) -> Linear:
    """scikit-learn's multinomial L2 logistic regression for one C, by L-BFGS (strong Wolfe line search)."""
    weight = (start.weight.clone() if start else x.new_zeros(num_classes, x.shape[1])).requires_grad_(True)
    bias = (start.bias.clone() if start else x.new_zeros(num_classes)).requires_grad_(True)
    solver = torch.optim.LBFGS(
        [weight, bias],
        lr=1.0,
        max_iter=max_iter,
        tolerance_grad=tol,
        tolerance_change=tol,
        history_size=10,  # scipy's L-BFGS-B default (maxcor), which scikit-learn uses
        line_search_fn="strong_wolfe",
    )
    penalty = 1.0 / (2.0 * c * len(x))

    def objective() -> torch.Tensor:
        solver.zero_grad()
        loss = F.cross_entropy(x @ weight.T + bias, y) + penalty * weight.pow(2).sum()
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    solver.step(objective)  # type: ignore[no-untyped-call]
    iterations = int(solver.state[weight].get("n_iter", 0))
    return Linear(weight.detach(), bias.detach(), iterations)


def load(view: StoreView, read: Reader, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The whole view in memory: features (N, F) float64 and labels (N,), on `device`."""
    parts = list(iterate_batches(view, read, 8192))
    x = np.concatenate([p["x"] for p in parts]).astype(np.float64)
    y = np.concatenate([p["label"] for p in parts]).astype(np.int64)
    return torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)


def score(model: Linear, x: torch.Tensor, y: torch.Tensor, num_classes: int) -> ClassificationMetrics:
    metric = ClassificationMetrics(num_classes, keep_samples=True)
    metric.update(model.logits(x), y)
    return metric


class LogregTask(TaskBase):
    name = "logreg"
    options_type = LogregOptions
    main_metrics = ("top1", "mean_per_class_recall")
    columns = (
        Column("top1", "logreg top-1", True, True),
        Column("mean_per_class_recall", "logreg mean-recall", True, True),
    )
    trivial_name = "majority class"
    outputs = ("cls", "mean")  # --feature cls, mean or cls+mean

    def run(self, splits: Splits, options: LogregOptions, device: str, progress: bool) -> TaskOutput:
        store = splits.train.store
        require_target(store, "label", self.name)
        self._check_memory(splits, options)
        return run_few_shot(
            splits, options, lambda: store.read_target("label"), lambda s: self._run(s, options, device)
        )

    @staticmethod
    def _check_memory(splits: Splits, options: LogregOptions) -> None:
        """One error line when the features would not fit the documented in-memory bound."""
        rows = len(splits.train) + len(splits.val) + (len(splits.test) if splits.test is not None else 0)
        store = splits.train.store
        width = store.dim_of(choose_layers(store, options.layers, default="last")[-1]) * len(options.feature.split("+"))
        size = rows * width * BYTES / 1e9
        if size > options.max_memory_gb:
            raise ProbekitError(
                f"logreg loads the features into memory: {rows} samples x {width} dims in float64 = {size:.3g} GB, "
                f"over --max-memory-gb {options.max_memory_gb:g}: raise it, or use --task knn or classification "
                "(both stream the store)"
            )

    def _run(self, splits: Splits, options: LogregOptions, device: str) -> TaskOutput:
        store = splits.train.store
        layer = choose_layers(store, options.layers, default="last")[-1]
        read = global_reader(layer, options.feature)
        num_classes = num_classes_of(store)
        torch_device = resolve_device(device)
        x_train, y_train = load(splits.train, read, torch_device)
        x_val, y_val = load(splits.val, read, torch_device)
        cs = sorted(options.cs)  # ascending, each fit warm-started from the previous (same optimum, fewer steps)
        models: list[Linear] = []
        for c in cs:
            models.append(
                fit(x_train, y_train, c, num_classes, options.max_iter, options.tol, models[-1] if models else None)
            )
        on_val = [score(m, x_val, y_val, num_classes).compute() for m in models]
        chosen = best_index([m["top1"] for m in on_val])
        refit = self._refit_reason(splits, options)
        final_model = models[chosen]
        if refit is None:
            x_all, y_all = torch.cat([x_train, x_val]), torch.cat([y_train, y_val])
            final_model = fit(x_all, y_all, cs[chosen], num_classes, options.max_iter, options.tol, models[chosen])
        final_view = splits.test or splits.val
        scored = score(final_model, *load(final_view, read, torch_device), num_classes)
        final = scored.compute()
        return TaskOutput(
            trivial=majority_class_baseline(splits.train, final_view, num_classes),
            metrics=final,
            chosen={"C": cs[chosen], "val_top1": on_val[chosen]["top1"]},
            grid=[
                {"C": c, "val_score": v["top1"], "iterations": m.iterations}
                for c, v, m in zip(cs, on_val, models, strict=True)
            ],
            head_state={"weight": final_model.weight.cpu(), "bias": final_model.bias.cpu()},
            settings={
                "layers": [layer],
                "head": "logreg",
                "feature": options.feature,
                "num_classes": num_classes,
                "refit_on_train_val": refit is None,
                "no_refit_because": refit,
                "final_iterations": final_model.iterations,
                "train_samples": len(splits.train),
            },
            samples=[scored.samples()],
        )

    def deterministic(self, options: Any) -> str | None:
        return "logistic regression is a convex fit by L-BFGS from zero: every seed gives the same numbers"

    @staticmethod
    def _refit_reason(splits: Splits, options: LogregOptions) -> str | None:
        """Why the chosen C is not refitted on train + val (None: it is, as DINOv2 does)."""
        if splits.test is None:
            return "no test store: val is the evaluated split, so it stays out of the training"
        if options.shots is not None:
            return "few-shot: the training set is the k-per-class sample"
        return None


TASKS.register("logreg", LogregTask())
