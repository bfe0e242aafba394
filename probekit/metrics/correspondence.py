"""PCK@α for keypoint transfer (SPair-71k, PF-PASCAL), per point and per image, overall and per category.

A predicted target point is correct when its distance to the ground truth, in original target pixels,
is within α times the pair's reference size: max(w, h) of the target object's box (SPair-71k) or of the
target image (PF-PASCAL). The comparison differs between public evaluations:
    "<=" (default): DIFT `eval_spair.py` (dist / threshold <= α), SD-DINO, CATs/HPF (`torch.le`)
    "<":            GeoAware-SC `pck_train.py` (err < α · bbox size)
Averages (docs/protocols/correspondence.md; they differ a lot, both are reported):
    per point: correct / annotated keypoints, all pairs pooled
    per image: mean over pairs of each pair's PCK (pairs without an annotated keypoint are skipped)
Keypoints are NaN-padded: a NaN ground-truth row is not a keypoint; a NaN prediction for an annotated
keypoint counts as wrong.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from probekit.errors import MetricError, ProbekitError
from probekit.metrics.bootstrap import CorrespondenceSamples

__all__ = ["PCK_ALPHAS", "PCK_COMPARISONS", "PCKMetrics", "pck_correct", "pck_key", "pck_metrics"]

PCK_ALPHAS = (0.01, 0.05, 0.1, 0.15)
PCK_COMPARISONS = {"<=": np.less_equal, "<": np.less}
# points or sizes: a tensor, an array, nested sequences or a scalar
Numeric = torch.Tensor | npt.ArrayLike


def pck_key(kind: str, alpha: float) -> str:
    """Metric name, e.g. pck_key('image', 0.1) == 'pck_image@0.1'."""
    return f"pck_{kind}@{alpha:g}"


def _array(x: Numeric, ndim: int) -> np.ndarray:
    try:
        a = x.detach().cpu().double().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError, RuntimeError) as error:
        raise MetricError(f"PCK inputs must be numeric arrays ({error})") from None
    return a[None] if a.ndim == ndim - 1 else a


def _check_alphas(alphas: Sequence[float]) -> None:
    if not len(alphas) or not all(math.isfinite(a) and a > 0 for a in alphas):
        raise ProbekitError(f"PCK alphas must be positive, got {tuple(alphas)}")


def pck_correct(
    pred: Numeric, target: Numeric, reference: Numeric, alphas: Sequence[float] = PCK_ALPHAS, comparison: str = "<="
) -> tuple[np.ndarray, np.ndarray]:
    """Correctness (A, B, K) bool per α, and the annotated-keypoint mask (B, K).

    pred, target: (B, K, 2) or (K, 2) original target pixels, target NaN-padded; reference: (B,) sizes.
    """
    if comparison not in PCK_COMPARISONS:
        raise ProbekitError(f"PCK comparison {comparison!r} is not one of {', '.join(PCK_COMPARISONS)}")
    _check_alphas(alphas)
    pred, target = _array(pred, 3), _array(target, 3)
    reference = np.atleast_1d(_array(reference, 1))  # (B,)
    if pred.ndim != 3 or pred.shape != target.shape or pred.shape[-1] != 2 or reference.shape != pred.shape[:1]:
        raise MetricError(
            f"want pred and target (B, K, 2) and reference (B,), got {pred.shape}, {target.shape}, {reference.shape}"
        )
    if not np.all(np.isfinite(reference) & (reference > 0)):
        raise ProbekitError("PCK reference sizes must be positive: check the target boxes or use --pck-reference image")
    valid = ~np.isnan(target).any(-1)  # (B, K)
    error = np.linalg.norm(pred - target, axis=-1)  # (B, K), NaN when either is NaN
    thresholds = np.asarray(alphas, dtype=np.float64)[:, None, None] * reference[None, :, None]  # (A, B, 1)
    with np.errstate(invalid="ignore"):
        correct = PCK_COMPARISONS[comparison](error[None], thresholds) & valid[None]  # (A, B, K); NaN -> False
    return correct, valid


class _Tally:
    """Sums for one group of pairs: correct points per α, points, per-image PCK sums, images."""

    def __init__(self, num_alphas: int):
        self.correct = np.zeros(num_alphas, dtype=np.int64)
        self.points = 0
        self.image_sum = np.zeros(num_alphas, dtype=np.float64)
        self.images = 0
        self.pair_hits: list[np.ndarray] = []  # per pair (A,) hits, for bootstrap intervals
        self.pair_points: list[int] = []  # per pair: annotated keypoints

    def add(self, correct: np.ndarray, valid: np.ndarray) -> None:
        """correct (A, K), valid (K,) for one pair."""
        n = int(valid.sum())
        if n == 0:
            return
        hits = correct.sum(-1)  # (A,)
        self.correct += hits
        self.points += n
        self.image_sum += hits / n
        self.images += 1
        self.pair_hits.append(hits)
        self.pair_points.append(n)

    def compute(self, alphas: Sequence[float]) -> dict[str, Any]:
        out = {}
        for kind, value, count in (("image", self.image_sum, self.images), ("point", self.correct, self.points)):
            for alpha, v in zip(alphas, value, strict=True):
                out[pck_key(kind, alpha)] = float(v) / count if count else math.nan
        return {**out, "num_pairs": self.images, "num_points": self.points}


class PCKMetrics:
    """Streaming PCK@α: `update(pred, target, reference, categories)` per pair or batch of pairs, then `compute()`.

    compute() -> {pck_image@α, pck_point@α for each α, num_pairs, num_points, num_skipped (pairs without
    keypoints), alphas, comparison, per_category: {category: same keys}}. Fractions in [0, 1].
    """

    def __init__(self, alphas: Sequence[float] = PCK_ALPHAS, comparison: str = "<="):
        if comparison not in PCK_COMPARISONS:
            raise ProbekitError(f"PCK comparison {comparison!r} is not one of {', '.join(PCK_COMPARISONS)}")
        _check_alphas(alphas)
        self.alphas, self.comparison = tuple(float(a) for a in alphas), comparison
        self.reset()

    def reset(self) -> None:
        self._all = _Tally(len(self.alphas))
        self._categories: dict[str, _Tally] = defaultdict(lambda: _Tally(len(self.alphas)))
        self.num_skipped = 0

    def update(
        self, pred: Numeric, target: Numeric, reference: Numeric, categories: Sequence[str] | str | None = None
    ) -> None:
        """pred, target (B, K, 2) or (K, 2) in original target pixels; reference (B,) or a scalar."""
        correct, valid = pck_correct(pred, target, reference, self.alphas, self.comparison)
        if isinstance(categories, str):
            categories = [categories]
        if categories is not None and len(categories) != valid.shape[0]:
            raise MetricError(f"got {len(categories)} categories for {valid.shape[0]} pairs")
        for b in range(valid.shape[0]):
            if not valid[b].any():
                self.num_skipped += 1
                continue
            self._all.add(correct[:, b], valid[b])
            if categories is not None:
                self._categories[categories[b]].add(correct[:, b], valid[b])

    def compute(self) -> dict[str, Any]:
        return {
            **self._all.compute(self.alphas),
            "num_skipped": self.num_skipped,
            "alphas": list(self.alphas),
            "comparison": self.comparison,
            "per_category": {c: t.compute(self.alphas) for c, t in sorted(self._categories.items())},
        }

    def samples(self) -> CorrespondenceSamples:
        """Each scored pair's hits per α and annotated points (pairs without keypoints are not among them)."""
        hits = np.array(self._all.pair_hits, dtype=np.int64).reshape(-1, len(self.alphas))  # (N, A)
        keys = tuple((pck_key("image", a), pck_key("point", a)) for a in self.alphas)
        return CorrespondenceSamples(hits, np.array(self._all.pair_points, dtype=np.int64), keys)


def pck_metrics(
    pred: Numeric,
    target: Numeric,
    reference: Numeric,
    categories: Sequence[str] | None = None,
    alphas: Sequence[float] = PCK_ALPHAS,
    comparison: str = "<=",
) -> dict[str, Any]:
    """Functional form of `PCKMetrics` for one batch of pairs."""
    metric = PCKMetrics(alphas, comparison)
    metric.update(pred, target, reference, categories)
    return metric.compute()
