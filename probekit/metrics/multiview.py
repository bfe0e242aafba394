"""Correspondence recall at pixel thresholds, overall and binned by the pair's relative camera rotation.

Probe3D's multi-view protocol (mbanani/probe3d, evaluate_scannet_correspondence.py and
evaluate_navi_correspondence.py): a match is correct when its 2-D error in the target view is *below* the
threshold (`err < th`); the overall recall pools every match of every pair; the binned recall is the mean
over the pairs whose rotation angle lies in [low, high) of each pair's own recall
(`compute_binned_performance`, evals/utils/correspondence.py). Errors are in original target pixels here.
Ground-truth rows that are NaN are not matches; a NaN prediction for a match counts as wrong.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from probekit.errors import MetricError
from probekit.metrics.bootstrap import BinnedRecallSamples

RECALL_PIXELS = (5.0, 10.0, 20.0)  # Probe3D ScanNet pairs: px_thresh = [5, 10, 20]
ROTATION_BINS = (0.0, 30.0, 60.0, 90.0, 120.0)  # Probe3D NAVI: compute_binned_performance(..., [0, 30, 60, 90, 120])


def recall_key(pixels: float) -> str:
    """Metric name, e.g. recall_key(10) == 'recall@10px'."""
    return f"recall@{pixels:g}px"


def bin_name(low: float, high: float) -> str:
    """A rotation bin's name, e.g. '0-30' (degrees)."""
    return f"{low:g}-{high:g}"


def bin_key(pixels: float, low: float, high: float) -> str:
    """The flat metric name of one bin's recall, e.g. 'recall@10px_rot0-30' (a table column)."""
    return f"{recall_key(pixels)}_rot{bin_name(low, high)}"


def check_bins(edges: Sequence[float]) -> None:
    """Edges in degrees: at least two, finite, non-negative and strictly increasing."""
    ok = len(edges) >= 2 and all(math.isfinite(e) and e >= 0 for e in edges)
    if not ok or any(b <= a for a, b in itertools.pairwise(edges)):
        raise MetricError(f"rotation bins must be >= 2 increasing angles >= 0 (degrees), got {tuple(edges)}")


def point_errors(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(K,) Euclidean distance of predictions (K, 2) to ground truth (K, 2); NaN where the ground truth is
    NaN (not a match), +inf where only the prediction is NaN (a match never predicted is wrong)."""
    pred, target = np.asarray(pred, dtype=np.float64), np.asarray(target, dtype=np.float64)
    if pred.shape != target.shape or pred.shape[-1:] != (2,):
        raise MetricError(f"multiview recall: predictions {pred.shape} and targets {target.shape}, want (K, 2) both")
    errors = np.linalg.norm(pred - target, axis=-1)  # (K,)
    return np.where(np.isnan(target).any(-1), np.nan, np.where(np.isnan(errors), np.inf, errors))


class MultiviewRecall:
    """Accumulates pairs (errors and rotation angle) and reports recall overall and per rotation bin."""

    def __init__(self, pixels: Sequence[float] = RECALL_PIXELS, bins: Sequence[float] = ROTATION_BINS):
        if not pixels or not all(math.isfinite(p) and p > 0 for p in pixels):
            raise MetricError(f"recall thresholds must be positive pixels, got {tuple(pixels)}")
        check_bins(bins)
        self.pixels, self.bins = tuple(float(p) for p in pixels), tuple(float(b) for b in bins)
        self.hits: list[np.ndarray] = []  # per pair: (T, K_p) bool, correct per threshold
        self.angles: list[float] = []

    def update(self, pred: np.ndarray, target: np.ndarray, angle_deg: float) -> None:
        """One pair: predictions and ground truth (K, 2) in target pixels, and its rotation angle (degrees)."""
        errors = point_errors(pred, target)
        errors = errors[~np.isnan(errors)]  # (K_p,) the pair's matches
        self.hits.append(errors[None, :] < np.asarray(self.pixels)[:, None])  # (T, K_p)
        self.angles.append(float(angle_deg))

    def compute(self) -> dict[str, Any]:
        """Overall recall per threshold (every match pooled), and per bin the mean of its pairs' recalls."""
        pooled = np.concatenate(self.hits, axis=1) if self.hits else np.zeros((len(self.pixels), 0), bool)
        if pooled.shape[1] == 0:
            raise MetricError("multiview recall: no ground-truth matches to score")
        result: dict[str, Any] = {recall_key(p): float(pooled[t].mean()) for t, p in enumerate(self.pixels)}
        scored = [i for i, h in enumerate(self.hits) if h.shape[1]]  # pairs with at least one match
        angles = np.array([self.angles[i] for i in scored])  # (P,)
        bins: dict[str, dict[str, Any]] = {}
        for low, high in itertools.pairwise(self.bins):
            inside = [scored[i] for i in np.flatnonzero((angles >= low) & (angles < high))]
            bins[bin_name(low, high)] = entry = self._bin(inside)
            result.update({bin_key(p, low, high): entry[recall_key(p)] for p in self.pixels})
        result["bins"] = bins
        result["pairs"] = len(self.hits)
        result["pairs_outside_bins"] = int(((angles < self.bins[0]) | (angles >= self.bins[-1])).sum())
        result["matches"] = int(pooled.shape[1])
        return result

    def samples(self) -> BinnedRecallSamples:
        """Per pair with a match: its hits per threshold, matches and bin (the bootstrap's per-image statistics)."""
        scored = [i for i, h in enumerate(self.hits) if h.shape[1]]
        hits = np.array([self.hits[i].sum(axis=1) for i in scored], dtype=np.float64).reshape(-1, len(self.pixels))
        matches = np.array([self.hits[i].shape[1] for i in scored], dtype=np.float64)
        angles = np.array([self.angles[i] for i in scored])
        bin_index = np.searchsorted(np.asarray(self.bins), angles, side="right") - 1  # (P,) [low, high) bins
        bin_index[(angles < self.bins[0]) | (angles >= self.bins[-1])] = -1
        edges = list(itertools.pairwise(self.bins))
        return BinnedRecallSamples(
            hits,
            matches,
            bin_index,
            tuple(recall_key(p) for p in self.pixels),
            tuple(tuple(bin_key(p, low, high) for p in self.pixels) for low, high in edges),
        )

    def _bin(self, pairs: list[int]) -> dict[str, Any]:
        """One bin: its pairs, their matches, and per threshold the mean of the pairs' recalls (None if empty)."""
        per_pair = np.array([self.hits[i].mean(axis=1) for i in pairs]).reshape(-1, len(self.pixels))  # (P, T)
        entry: dict[str, Any] = {"pairs": len(pairs), "matches": int(sum(self.hits[i].shape[1] for i in pairs))}
        for t, p in enumerate(self.pixels):
            entry[recall_key(p)] = float(per_pair[:, t].mean()) if pairs else None
        return entry
