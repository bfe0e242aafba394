"""The under-training guard: after a trained run, say when the probe is not to be trusted, and how to fix it.

Three checks, each a warning with a `cause` and a one-line `message` naming the fix (docs/results.md):
- `below_trivial`: the chosen head does not beat the task's trivial predictor (majority class, majority pixel
  class, mean depth, identity map) on the task's main metric (its first table column, with its direction),
  on the same split.
- `loss_flat`: the chosen head's training loss did not fall: the mean over the last 10% of the optimizer steps
  is not LOSS_DROP (10%) below the initial loss, the mean over the first 10% of the steps but at most the
  first INITIAL_STEPS (so a long run that converges early still compares with where it started).
- `few_steps`: fewer than MIN_STEPS optimizer steps were taken.
Runs that train nothing (kNN, logistic regression, zero-shot correspondence) get the `below_trivial` check
only; a dense task's scoring adds `scoring_frame` when part of the original labels could not be scored.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from probekit.tasks.base import Column, TaskOutput

MIN_STEPS = 100  # fewer optimizer steps than this: a linear head has barely left its initialisation
LOSS_DROP = 0.1  # the last 10% of steps must average at least 10% below the first 10%
LOSS_WINDOW = 0.1  # the fraction of the steps averaged at each end of the loss curve
INITIAL_STEPS = 50  # ... but at most this many steps at the start


def _suggested_iters(steps: int) -> int:
    """A run length to try: ten times the steps taken, and at least ten times MIN_STEPS."""
    return max(10 * steps, 10 * MIN_STEPS)


def below_trivial(column: Column, output: TaskOutput, steps: int | None) -> dict[str, str] | None:
    """The head's main metric against the trivial predictor's (ties count as not beating it); `steps` None:
    nothing was trained (kNN, logistic regression, zero-shot), so the fix named is not --iters."""
    head, trivial = _number(output.metrics.get(column.key)), _number(output.trivial.get(column.key))
    if head is None or trivial is None:
        return None
    beats = head > trivial if column.higher_is_better else head < trivial
    if beats:
        return None
    predictor = output.trivial.get("predictor", "the trivial predictor")
    return {
        "cause": "below_trivial",
        "message": f"the probe's {column.key} {head:.4g} does not beat {predictor} ({trivial:.4g}) on the same "
        + (
            f"split: the head is undertrained or the features carry no signal; train longer with "
            f"--iters {_suggested_iters(steps)}"
            if steps is not None
            else "split: the features carry no usable signal for this task at these settings (check the "
            "layers and the stores)"
        ),
    }


def loss_flat(losses: np.ndarray, steps: int) -> dict[str, str] | None:
    """The chosen head's loss, mean of the last LOSS_WINDOW of steps against the initial loss."""
    if len(losses) < 2:
        return None
    n = max(1, int(len(losses) * LOSS_WINDOW))
    k = min(n, INITIAL_STEPS)
    first, last = float(np.mean(losses[:k])), float(np.mean(losses[-n:]))
    if last <= first - LOSS_DROP * abs(first):
        return None
    return {
        "cause": "loss_flat",
        "message": f"the training loss did not fall by {LOSS_DROP:.0%} (mean of the first {k} steps {first:.4g}, "
        f"of the last {n} {last:.4g}): train longer with --iters {_suggested_iters(steps)} or raise --lrs",
    }


def few_steps(steps: int, planned: int) -> dict[str, str] | None:
    """Fewer than MIN_STEPS optimizer steps (early stopping may have cut a longer plan)."""
    if steps >= MIN_STEPS:
        return None
    cut = f" of {planned} planned (early stopping)" if steps < planned else ""
    return {
        "cause": "few_steps",
        "message": f"only {steps} optimizer steps were taken{cut}, fewer than {MIN_STEPS}: pass "
        f"--iters {_suggested_iters(steps)} (or more epochs)",
    }


def undertraining_warnings(column: Column, output: TaskOutput) -> list[dict[str, str]]:
    """The guard's warnings for a trained run (none for a run without training, e.g. zero-shot)."""
    if not output.schedule or output.train_losses is None:
        return []
    steps, planned = int(output.schedule["steps"]), int(output.schedule["iters"])
    found = [
        below_trivial(column, output, steps),
        loss_flat(np.asarray(output.train_losses, dtype=np.float64), steps),
        few_steps(steps, planned),
    ]
    return [w for w in found if w is not None]


def run_warnings(column: Column, output: TaskOutput) -> list[dict[str, str]]:
    """Every warning of a run, as the results JSON's `warnings` holds them: the guard's for a trained run,
    the trivial-predictor comparison for an untrained one, and what the scoring could not cover (a dense
    task's `scoring.warning`: original pixels outside the stored image, or no originals in the store)."""
    found = undertraining_warnings(column, output) if output.schedule else [below_trivial(column, output, None)]
    scoring = output.extra_metrics.get("scoring")
    if isinstance(scoring, dict) and scoring.get("warning"):
        found.append({"cause": "scoring_frame", "message": str(scoring["warning"])})
    return [w for w in found if w is not None]


def _number(value: Any) -> float | None:
    """A finite metric value, or None (absent, NaN, not a number): then there is nothing to compare."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None
