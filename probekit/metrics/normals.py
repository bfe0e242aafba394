"""Surface-normal metrics: angular error statistics over valid pixels.

The angular error of a pixel is acos(n_pred . n_true) in degrees, both normalised to unit length
first. Two aggregations are reported:
- pooled over every valid pixel of the split (the convention of the normal-estimation literature: Fouhey
  et al. 2013, Eigen & Fergus 2015, Bae et al. 2021): `mean_angle`, `median_angle`, `rmse_angle` (the root
  mean square of the angle) and `within_11_25`, `within_22_5`, `within_30`, the fraction of pixels under
  11.25, 22.5 and 30 degrees;
- per image, then averaged over images, as Probe3D does (mbanani/probe3d, evals/utils/metrics.py
  `evaluate_surface_norm`, averaged in train_snorm.py `validate`): `per_image` holds its rmse and fractions.
The median comes from a histogram of 0.01-degree bins (the split's errors are never all held): it is the
centre of the bin holding the middle error, within 0.005 degrees of numpy's median.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from probekit.errors import MetricError
from probekit.metrics.bootstrap import PooledSamples
from probekit.metrics.common import require_no_nan, require_tensor

THRESHOLDS = (11.25, 22.5, 30.0)
WITHIN_KEYS = ("within_11_25", "within_22_5", "within_30")
NORMAL_METRIC_KEYS = ("mean_angle", "median_angle", "rmse_angle", *WITHIN_KEYS)
BIN_DEGREES = 0.01
_BINS = round(180 / BIN_DEGREES)


def unit_vectors(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """(B, 3, H, W) -> each pixel's vector divided by max(its length, eps): F.normalize(x, dim=1, eps=eps).

    Written with a sum over the 3 channels because PyTorch's CPU `linalg.vector_norm` over dim 1 of a map is
    ~100x slower (25 ms vs 0.25 ms for 16 x 3 x 96 x 96): it took two thirds of a quickstart normals probe.
    The length is clamped before the square root, so a zero vector gets a zero gradient, not NaN."""
    length = (x * x).sum(1, keepdim=True).clamp_min(eps * eps).sqrt()  # (B, 1, H, W)
    return x / length


def cosine_along_channels(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """(B, 3, H, W) pair -> (B, H, W) cosine of each pixel's two vectors: F.cosine_similarity(a, b, dim=1),
    each normalised first with lengths clamped at eps, without its slow CPU norm (see `unit_vectors`)."""
    return (unit_vectors(a, eps) * unit_vectors(b, eps)).sum(1)


def angular_error(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) predictions and targets -> (B, H, W) angles in degrees between their directions. Both are
    normalised (stored float16 normals are unit only to ~5e-4, which alone would read as ~2 degrees), in
    float64 so that errors near 0 keep their precision."""
    cos = cosine_along_channels(pred.double(), target.double(), eps=1e-12).clamp(-1.0, 1.0)  # (B, H, W)
    return torch.rad2deg(torch.acos(cos))


def valid_normal_mask(target: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) targets -> (B, H, W) bool: pixels with a normal (invalid ones are stored as 0)."""
    length_sq = target.float().pow(2).sum(1)
    return torch.isfinite(length_sq) & (length_sq > 0.25)


class NormalMetrics:
    """Streaming normal metrics: `update(pred (B, 3, H, W), target (B, 3, H, W) unit or 0 = invalid)`,
    `compute()` -> the pooled metrics, `num_pixels`, `num_images` and `per_image` (Probe3D's averaging)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._sum = self._sum_sq = 0.0
        self._count = 0
        self._within = [0] * len(THRESHOLDS)
        self._histogram = torch.zeros(_BINS, dtype=torch.int64)
        self._image_sums = [0.0] * (1 + len(THRESHOLDS))  # per-image rmse and fractions, summed over images
        self._image_rows: list[list[float]] = []  # per image: sum, sum of squares, hits per threshold, pixels
        self.num_images = 0
        self.num_skipped = 0

    @torch.no_grad()
    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        pred, target = require_tensor(pred, "pred"), require_tensor(target, "target").to(pred.device)
        if pred.ndim != 4 or pred.shape[1] != 3 or pred.shape != target.shape:
            raise MetricError(
                f"normal predictions {tuple(pred.shape)} and targets {tuple(target.shape)} must both be (B, 3, H, W)"
            )
        require_no_nan(pred, "normal predictions")
        valid = valid_normal_mask(target)  # (B, H, W)
        errors = angular_error(pred, torch.where(valid[:, None], target, torch.zeros_like(target)))
        for b in range(len(errors)):
            self._update_image(errors[b][valid[b]])

    def _update_image(self, e: torch.Tensor) -> None:
        """One image's errors (n,) degrees at its valid pixels."""
        if e.numel() == 0:
            self.num_skipped += 1
            return
        within = [int((e < t).sum()) for t in THRESHOLDS]
        self._sum += float(e.sum())
        self._sum_sq += float(e.pow(2).sum())
        self._count += e.numel()
        self._within = [a + b for a, b in zip(self._within, within, strict=True)]
        bins = (e / BIN_DEGREES).long().clamp(0, _BINS - 1).cpu()
        self._histogram += torch.bincount(bins, minlength=_BINS)
        self._image_rows.append([float(e.sum()), float(e.pow(2).sum()), *map(float, within), float(e.numel())])
        per_image = [math.sqrt(float(e.pow(2).mean())), *(w / e.numel() for w in within)]
        self._image_sums = [a + b for a, b in zip(self._image_sums, per_image, strict=True)]
        self.num_images += 1

    def _median(self) -> float:
        """Centre of the histogram bin holding the middle error (for an even count, the lower middle)."""
        cumulative = torch.cumsum(self._histogram, 0)
        rank = (self._count - 1) // 2  # 0-based index of the (lower) middle error
        index = int(torch.searchsorted(cumulative, torch.tensor(rank + 1)))
        return (index + 0.5) * BIN_DEGREES

    def samples(self) -> PooledSamples:
        """Each scored image's sums over its valid pixels (the bootstrap's per-image statistics)."""
        rows = np.asarray(self._image_rows, dtype=np.float64).reshape(-1, 3 + len(THRESHOLDS))  # (N, 3 + T + 1)
        sums = {"mean_angle": rows[:, 0], "rmse_angle": rows[:, 1]}
        sums.update({key: rows[:, 2 + i] for i, key in enumerate(WITHIN_KEYS)})
        return PooledSamples(sums, rows[:, -1], roots=("rmse_angle",))

    def compute(self) -> dict[str, Any]:
        if self._count == 0:
            raise MetricError("no valid normal pixels to score: every target normal is (0, 0, 0) or not finite")
        n = self._count
        pooled = {
            "mean_angle": self._sum / n,
            "median_angle": self._median(),
            "rmse_angle": math.sqrt(self._sum_sq / n),
            **{key: count / n for key, count in zip(WITHIN_KEYS, self._within, strict=True)},
        }
        per_image = {
            key: total / self.num_images
            for key, total in zip(("rmse_angle", *WITHIN_KEYS), self._image_sums, strict=True)
        }
        return {
            **pooled,
            "num_pixels": n,
            "num_images": self.num_images,
            "num_skipped": self.num_skipped,
            "per_image": per_image,
        }
