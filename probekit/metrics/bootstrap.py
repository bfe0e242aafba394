"""Bootstrap 95% intervals over evaluation images, from per-image sufficient statistics (no extra forward pass).

The final scoring of each task keeps, per evaluated image (sample, pair), the few numbers its dataset-level
metrics are sums or means of, and a resample recomputes the metrics from the drawn images' numbers:
- classification: top-1 hit and label -> top-1, mean per-class recall (per-class hits / support of the draw);
- segmentation: per-class intersection, predicted and label areas (K per image, never K x K) -> mIoU and pixel
  accuracy of the summed areas, as mmsegmentation sums them over the dataset;
- depth: each image's metric values -> their mean over the drawn images (the toolbox averages per image);
- surface normals: per-image sums of the angle, its square and the hits within each threshold, and the valid
  pixel count -> the metrics pooled over the drawn images' pixels (as `NormalMetrics` pools them);
- multiview: per-pair hits per threshold, matches and rotation bin -> pooled recall and per-bin mean recall;
- correspondence: per-pair hits at each α and annotated points -> PCK per image (mean of the pairs' ratios) and
  per point (pooled hits / pooled points).
A resample draws N of the N images with replacement (`resample_indices`: numpy's default_rng with a fixed
seed, so a rerun gives the same interval); the interval is the 2.5th and 97.5th percentile of the metric over
the resamples (percentile bootstrap). It covers the sampling of evaluation images only, not training seeds.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from probekit.errors import MetricError

__all__ = [
    "BOOTSTRAP_SEED",
    "RESAMPLES",
    "BinnedRecallSamples",
    "ClassificationSamples",
    "CorrespondenceSamples",
    "DepthSamples",
    "PerImage",
    "PooledSamples",
    "SegmentationSamples",
    "bootstrap_intervals",
    "draw_counts",
    "resample_indices",
]

RESAMPLES = 1000
BOOTSTRAP_SEED = 0
PERCENTILES = (2.5, 97.5)  # a 95% percentile interval
CHUNK_ELEMENTS = 1 << 22  # resamples are drawn in chunks of about this many array elements (bounds the memory)


class PerImage(Protocol):
    """Per-image statistics of one scoring: what a resample of the evaluated images needs."""

    @property
    def count(self) -> int:
        """Evaluated images (samples, pairs): N."""
        ...

    @property
    def row_size(self) -> int:
        """Array elements one resample holds at once (sizes the chunks)."""
        ...

    def resampled(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        """The metrics of each resample: indices (R, N) of the drawn images -> {key: (R,)}."""
        ...


def resample_indices(
    n: int, resamples: int = RESAMPLES, seed: int = BOOTSTRAP_SEED, row_size: int = 0
) -> Iterator[np.ndarray]:
    """Image indices of `resamples` draws of n images with replacement, in chunks (r, n): the same draws for the
    same (n, resamples, seed, row_size)."""
    rng = np.random.default_rng(seed)
    rows = max(1, CHUNK_ELEMENTS // max(n, row_size, 1))
    for start in range(0, resamples, rows):
        yield rng.integers(0, n, size=(min(rows, resamples - start), n))


def draw_counts(indices: np.ndarray) -> np.ndarray:
    """How many times each image is drawn in each resample: indices (R, N) -> counts (R, N) float64."""
    r, n = indices.shape
    flat = (np.arange(r)[:, None] * n + indices).ravel()  # (R * N,)
    return np.bincount(flat, minlength=r * n).reshape(r, n).astype(np.float64)


def bootstrap_intervals(
    samples: Sequence[PerImage], keys: Sequence[str], resamples: int = RESAMPLES, seed: int = BOOTSTRAP_SEED
) -> dict[str, list[float]]:
    """{key: [low, high]}, the 95% percentile interval of each metric in `keys` the samples give.

    Several samples (one per training seed or few-shot draw, scored on the same images) share each resample's
    indices and the resampled metric is their mean, as the reported metric is. Resamples whose metric is
    undefined (NaN: e.g. no valid pixel drawn) are left out. No samples or no images: {}.
    """
    if not samples or samples[0].count == 0:
        return {}
    n = samples[0].count
    if any(s.count != n for s in samples):
        counts = [s.count for s in samples]
        raise MetricError(f"per-image statistics of one interval must count the same images, got {counts}")
    drawn: dict[str, list[np.ndarray]] = {}
    for indices in resample_indices(n, resamples, seed, max(s.row_size for s in samples)):
        per_run = [s.resampled(indices) for s in samples]
        for key in keys:
            if all(key in values for values in per_run):
                drawn.setdefault(key, []).append(np.mean([values[key] for values in per_run], axis=0))  # (r,)
    intervals = {}
    for key, chunks in drawn.items():
        values = np.concatenate(chunks)  # (R,)
        values = values[np.isfinite(values)]
        if len(values):
            low, high = np.percentile(values, PERCENTILES)
            intervals[key] = [float(low), float(high)]
    return intervals


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, NaN where the denominator is 0 (an undefined class or resample)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio: np.ndarray = numerator / denominator
    return ratio


def _nanmean_rows(x: np.ndarray) -> np.ndarray:
    """Mean of each row over its finite entries (NaN for a row with none), without numpy's empty-slice warning."""
    finite = np.isfinite(x)
    return _ratio(np.where(finite, x, 0.0).sum(axis=1), finite.sum(axis=1))


@dataclass(frozen=True)
class ClassificationSamples:
    """Per sample: top-1 hit (N,) bool and label (N,) int."""

    correct: np.ndarray
    labels: np.ndarray
    num_classes: int

    @property
    def count(self) -> int:
        return len(self.labels)

    @property
    def row_size(self) -> int:
        return max(self.count, self.num_classes)

    def resampled(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        """top1 and mean_per_class_recall (mean over the classes present in the draw) per resample."""
        r, c = len(indices), self.num_classes
        hits = self.correct[indices]  # (R, N)
        flat = (np.arange(r)[:, None] * c + self.labels[indices]).ravel()  # (R * N,) resample-major class ids
        support = np.bincount(flat, minlength=r * c).reshape(r, c)  # (R, C)
        right = np.bincount(flat, weights=hits.ravel().astype(np.float64), minlength=r * c).reshape(r, c)
        return {"top1": hits.mean(axis=1), "mean_per_class_recall": _nanmean_rows(_ratio(right, support))}


@dataclass(frozen=True)
class SegmentationSamples:
    """Per image and class: intersection, predicted and label areas in pixels, each (N, K)."""

    intersect: np.ndarray
    pred_area: np.ndarray
    label_area: np.ndarray

    @property
    def count(self) -> int:
        return len(self.intersect)

    @property
    def row_size(self) -> int:
        return self.count + int(self.intersect.shape[1])

    def resampled(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        """mIoU (over classes with a union) and pixel accuracy of the drawn images' summed areas."""
        counts = draw_counts(indices)  # (R, N); integer sums in float64 are exact below 2**53
        intersect, label = counts @ self.intersect, counts @ self.label_area  # (R, K)
        union = label + counts @ self.pred_area - intersect  # (R, K)
        return {
            "mIoU": _nanmean_rows(_ratio(intersect, union)),
            "pixel_accuracy": _ratio(intersect.sum(axis=1), label.sum(axis=1)),
        }


@dataclass(frozen=True)
class DepthSamples:
    """Per image: each depth metric's value over its valid pixels, {key: (N,)} (images with none left out)."""

    values: dict[str, np.ndarray]

    @property
    def count(self) -> int:
        return len(next(iter(self.values.values()))) if self.values else 0

    @property
    def row_size(self) -> int:
        return self.count

    def resampled(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        """Each metric's mean over the drawn images (the toolbox's per-image average)."""
        return {key: v[indices].mean(axis=1) for key, v in self.values.items()}


@dataclass(frozen=True)
class PooledSamples:
    """Per image: sums over its valid pixels, {key: (N,)}, and its valid pixel count (N,): a metric pooled over the
    pixels of the drawn images is the drawn sums over the drawn counts (surface normals: mean angle, fractions
    within a threshold); keys named in `roots` are square roots of such a ratio (an RMSE from summed squares)."""

    sums: dict[str, np.ndarray]
    pixels: np.ndarray
    roots: tuple[str, ...] = ()

    @property
    def count(self) -> int:
        return len(self.pixels)

    @property
    def row_size(self) -> int:
        return self.count

    def resampled(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        """Each metric pooled over the pixels of the drawn images."""
        pixels = self.pixels[indices].sum(axis=1)  # (R,)
        pooled = {key: v[indices].sum(axis=1) / pixels for key, v in self.sums.items()}
        return {key: np.sqrt(v) if key in self.roots else v for key, v in pooled.items()}


@dataclass(frozen=True)
class BinnedRecallSamples:
    """Per pair with at least one match: hits per threshold (N, T), matches (N,) and its bin's index (N,; -1
    outside every bin). Overall recall pools the drawn pairs' matches; a bin's recall is the mean of its drawn
    pairs' recalls (NaN for a resample that drew none of its pairs: left out of the interval)."""

    hits: np.ndarray
    matches: np.ndarray
    bin_index: np.ndarray
    overall_keys: tuple[str, ...]  # per threshold
    bin_keys: tuple[tuple[str, ...], ...]  # per bin, per threshold

    @property
    def count(self) -> int:
        return len(self.matches)

    @property
    def row_size(self) -> int:
        return self.count

    def resampled(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        weights = draw_counts(indices)  # (R, N)
        out = {}
        pooled = (weights @ self.hits) / (weights @ self.matches)[:, None]  # (R, T)
        out.update({key: pooled[:, t] for t, key in enumerate(self.overall_keys)})
        recalls = self.hits / self.matches[:, None]  # (N, T)
        for b, keys in enumerate(self.bin_keys):
            inside = weights * (self.bin_index == b)[None, :]  # (R, N)
            drawn = inside.sum(axis=1)  # (R,)
            with np.errstate(invalid="ignore", divide="ignore"):
                means = (inside @ recalls) / drawn[:, None]  # (R, T)
            out.update({key: means[:, t] for t, key in enumerate(keys)})
        return out


@dataclass(frozen=True)
class CorrespondenceSamples:
    """Per pair (with at least one annotated keypoint): hits at each α (N, A) and annotated points (N,)."""

    hits: np.ndarray
    points: np.ndarray
    keys: tuple[tuple[str, str], ...]  # per α: (per-image key, per-point key)

    @property
    def count(self) -> int:
        return len(self.points)

    @property
    def row_size(self) -> int:
        return self.count * max(int(self.hits.shape[1]), 1)

    def resampled(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        """PCK per image (mean of the drawn pairs' ratios) and per point (pooled), per α."""
        hits, points = self.hits[indices], self.points[indices]  # (R, N, A), (R, N)
        per_image = (hits / points[..., None]).mean(axis=1)  # (R, A)
        per_point = hits.sum(axis=1) / points.sum(axis=1)[:, None]  # (R, A)
        out = {}
        for a, (image_key, point_key) in enumerate(self.keys):
            out[image_key], out[point_key] = per_image[:, a], per_point[:, a]
        return out
