"""Monocular depth metrics as the Monocular-Depth-Estimation-Toolbox computes them (DINOv2 ports it).

Conventions taken from zhyever/Monocular-Depth-Estimation-Toolbox:
- `depth/core/evaluation/metrics.py` (`calculate`, `metrics`): per image, over valid pixels,
  d_k = mean(max(p/g, g/p) < 1.25**k); abs_rel = mean(|p-g|/g); sq_rel = mean((p-g)**2/g);
  rmse = sqrt(mean((p-g)**2)); rmse_log = sqrt(mean((log p - log g)**2)); log10 = mean(|log10 p - log10 g|);
  silog = 100 * sqrt(mean(d**2) - mean(d)**2), d = log p - log g (a NaN from rounding is set to 0; here the
  variance is clamped at 0, which gives the same).
- `pre_eval_to_metrics`: the dataset value is the nanmean over IMAGES of the per-image values (an image with
  no valid pixel yields NaN there and drops out; here it is skipped and counted in "num_skipped"). So RMSE is
  the mean of per-image RMSEs, not the RMSE over all pixels.
- `depth/datasets/nyu.py`, `kitti.py` (`eval_mask`): valid = min_depth < g < max_depth, both strict
  (NYU: 1e-3, 10; KITTI: 1e-3, 80); NYU Eigen crop rows 45:471, cols 41:601 (hard-coded for 480x640; here as
  fractions of H and W that give exactly those indices at 480x640); KITTI Garg crop
  [int(0.40810811 H):int(0.99189189 H), int(0.03594771 W):int(0.96405229 W)].
- `depth/models/depther/encoder_decoder.py` (`encode_decode`): the model output is clamped to
  [min_depth, max_depth] before evaluation; the metric code itself does not clamp. `clamp_pred=True` mirrors
  that here. With an alignment, the clamp comes after it (as Monodepth2 does after median scaling).
Probe3D (mbanani/probe3d `evals/utils/metrics.py`) keeps g > 0 (`valid_mode="positive"`) and reports a
scale-invariant variant after a per-image least-squares scale-and-shift fit (`alignment="lstsq"`).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch

from probekit.errors import MetricError
from probekit.metrics.bootstrap import DepthSamples
from probekit.metrics.common import require_no_nan, require_tensor

__all__ = [
    "DEPTH_METRIC_KEYS",
    "EIGEN_CROP",
    "GARG_CROP",
    "DepthMetrics",
    "align_depth",
    "box_masks",
    "crop_mask",
    "depth_metrics",
    "per_image_depth_metrics",
    "valid_depth_mask",
]

DEPTH_METRIC_KEYS = ("d1", "d2", "d3", "abs_rel", "sq_rel", "rmse", "rmse_log", "log10", "silog")

# (top, bottom, left, right) as fractions of (H, H, W, W); index = int(fraction * size), as the toolbox does.
EIGEN_CROP = (45 / 480, 471 / 480, 41 / 640, 601 / 640)  # NYU: rows 45:471, cols 41:601 at 480x640
GARG_CROP = (0.40810811, 0.99189189, 0.03594771, 0.96405229)  # KITTI (toolbox / monodepth2)
_CROPS = {"eigen": EIGEN_CROP, "garg": GARG_CROP}

Crop = Literal["eigen", "garg"] | None
ValidMode = Literal["range", "positive"]
Alignment = Literal["median", "lstsq", "lstsq_scale"] | None


def crop_mask(height: int, width: int, crop: Crop, device: torch.device | str | None = None) -> torch.Tensor:
    """Boolean evaluation region of the named crop (all True for None).  # (H, W)"""
    mask = torch.zeros(height, width, dtype=torch.bool, device=device)
    if crop is None:
        return mask.fill_(True)
    if crop not in _CROPS:
        raise MetricError(f"unknown depth crop {crop!r}; use None, 'eigen' (NYU) or 'garg' (KITTI)")
    top, bottom, left, right = _CROPS[crop]
    mask[int(top * height) : int(bottom * height), int(left * width) : int(right * width)] = True
    return mask


def box_masks(boxes: torch.Tensor, size: tuple[int, int], device: torch.device | str | None = None) -> torch.Tensor:
    """(B, 4) [top, bottom, left, right) boxes -> (B, H, W) bool masks that are True inside each box."""
    H, W = size
    boxes = torch.as_tensor(boxes, device=device)
    if boxes.ndim != 2 or boxes.shape[1] != 4 or boxes.is_complex():
        raise MetricError(f"boxes must be (B, 4) [top, bottom, left, right), got shape {tuple(boxes.shape)}")
    boxes = boxes.long()
    rows = torch.arange(H, device=device).view(1, H, 1)
    cols = torch.arange(W, device=device).view(1, 1, W)
    top, bottom, left, right = (boxes[:, i].view(-1, 1, 1) for i in range(4))
    return (rows >= top) & (rows < bottom) & (cols >= left) & (cols < right)


def valid_depth_mask(
    target: torch.Tensor,
    min_depth: float = 1e-3,
    max_depth: float = 10.0,
    crop: Crop = None,
    valid_mode: ValidMode = "range",
) -> torch.Tensor:
    """Pixels that count: min_depth < g < max_depth ("range", the toolbox) or finite g > 0 ("positive", Probe3D),
    inside the crop.  # (B, H, W) bool"""
    if valid_mode == "range":
        mask = (target > min_depth) & (target < max_depth)
    elif valid_mode == "positive":
        mask = (target > 0) & torch.isfinite(target)  # inf is not a depth
    else:
        raise MetricError(f"unknown valid_mode {valid_mode!r}; use 'range' or 'positive'")
    return mask & crop_mask(target.shape[-2], target.shape[-1], crop, target.device)


def _median(x: torch.Tensor) -> torch.Tensor:
    """numpy-style median (mean of the two middle values for even counts; torch.median takes the lower)."""
    v = x.sort().values
    n = v.numel()
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def align_depth(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, alignment: Alignment) -> torch.Tensor:
    """Per-image alignment of pred to target over the masked pixels, for scale-invariant metrics.  # (B, H, W)

    "median": p *= median(g) / median(p) (Monodepth2). "lstsq": p = s p + t minimising sum (s p + t - g)**2
    (Probe3D `match_scale_and_shift`; a singular system leaves the image as is). "lstsq_scale": p = s p only.
    An image whose scale (or shift) is not finite (median(p) = 0, sums that overflow) is left as is too.
    """
    if alignment is None:
        return pred
    if alignment == "median":
        out = pred.clone()
        for b in range(pred.shape[0]):
            m = mask[b]
            scale = _median(target[b][m]) / _median(pred[b][m]) if m.any() else None
            if scale is not None and torch.isfinite(scale):
                out[b] = pred[b] * scale
        return out
    m = mask.double()
    p = torch.where(mask, pred.double(), 0.0)  # (B, H, W); off-mask values (even NaN) must not enter the sums
    g = torch.where(mask, target.double(), 0.0)
    a00 = (m * p * p).sum(dim=(1, 2))  # (B,)
    b0 = (m * p * g).sum(dim=(1, 2))
    if alignment == "lstsq_scale":
        scale = _finite_or(torch.where(a00 > 0, b0 / a00, torch.ones_like(a00)), 1.0)
        return (pred.double() * scale[:, None, None]).to(pred.dtype)
    if alignment != "lstsq":
        raise MetricError(f"unknown alignment {alignment!r}; use None, 'median', 'lstsq' or 'lstsq_scale'")
    a01 = (m * p).sum(dim=(1, 2))
    a11 = m.sum(dim=(1, 2))
    b1 = (m * g).sum(dim=(1, 2))
    det = a00 * a11 - a01 * a01
    ok = det != 0
    safe = torch.where(ok, det, torch.ones_like(det))
    scale = torch.where(ok, (a11 * b0 - a01 * b1) / safe, torch.ones_like(det))
    shift = torch.where(ok, (-a01 * b0 + a00 * b1) / safe, torch.zeros_like(det))
    fits = torch.isfinite(scale) & torch.isfinite(shift)  # (B,)
    scale, shift = torch.where(fits, scale, 1.0), torch.where(fits, shift, 0.0)
    return (pred.double() * scale[:, None, None] + shift[:, None, None]).to(pred.dtype)


def _finite_or(x: torch.Tensor, default: float) -> torch.Tensor:
    return torch.where(torch.isfinite(x), x, default)


def _as_batch(x: torch.Tensor, name: str) -> torch.Tensor:
    if require_tensor(x, name).dtype == torch.bool or x.is_complex():
        raise MetricError(f"{name} must hold real depths, got {x.dtype}")
    if x.ndim == 4 and x.shape[1] == 1:
        x = x[:, 0]  # (B, 1, H, W) -> (B, H, W)
    elif x.ndim == 2:
        x = x[None]  # (H, W) -> (1, H, W)
    if x.ndim != 3:
        raise MetricError(f"{name} must be (B, H, W), (B, 1, H, W) or (H, W), got shape {tuple(x.shape)}")
    return x


def per_image_depth_metrics(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Every metric per image over the masked pixels: ({key: (B,) float64}, valid count (B,)).

    Images without a valid pixel get NaN. Predictions must be positive on the mask (clamp them first).
    """
    m = mask.double()  # (B, H, W)
    n = m.sum(dim=(1, 2))  # (B,)
    p = torch.where(mask, pred.double(), 1.0)  # (B, H, W); 1 off-mask keeps logs and ratios finite
    g = torch.where(mask, target.double(), 1.0)

    def mean(x: torch.Tensor) -> torch.Tensor:
        return (x * m).sum(dim=(1, 2)) / n  # (B,), NaN where n == 0

    ratio = torch.maximum(p / g, g / p)
    err = p - g
    d = torch.log(p) - torch.log(g)
    out = {f"d{k}": mean((ratio < 1.25**k).double()) for k in (1, 2, 3)}
    out["abs_rel"] = mean(err.abs() / g)
    out["sq_rel"] = mean(err**2 / g)
    out["rmse"] = mean(err**2).sqrt()
    out["rmse_log"] = mean(d**2).sqrt()
    out["log10"] = mean((torch.log10(p) - torch.log10(g)).abs())
    out["silog"] = 100 * (mean(d**2) - mean(d) ** 2).clamp(min=0).sqrt()
    return out, n


class DepthMetrics:
    """Streaming depth metrics, computed per image and averaged over images (toolbox convention).

    `update(pred (B, H, W) metres, target (B, H, W) metres with 0 = invalid)`; `compute()` -> {d1, d2, d3,
    abs_rel, sq_rel, rmse, rmse_log, log10, silog, num_images, num_skipped}. Images with no valid pixel are
    skipped. `alignment` != None gives the scale-invariant variant (report it separately). `samples()` gives
    every scored image's values, for bootstrap intervals.
    """

    def __init__(
        self,
        min_depth: float = 1e-3,
        max_depth: float = 10.0,
        crop: Crop = None,
        valid_mode: ValidMode = "range",
        alignment: Alignment = None,
        clamp_pred: bool = True,
    ):
        if valid_mode not in ("range", "positive"):
            raise MetricError(f"unknown valid_mode {valid_mode!r}; use 'range' or 'positive'")
        if crop is not None and crop not in _CROPS:
            raise MetricError(f"unknown depth crop {crop!r}; use None, 'eigen' (NYU) or 'garg' (KITTI)")
        if alignment not in (None, "median", "lstsq", "lstsq_scale"):
            raise MetricError(f"unknown alignment {alignment!r}; use None, 'median', 'lstsq' or 'lstsq_scale'")
        if not 0 <= min_depth < max_depth:
            raise MetricError(f"need 0 <= min_depth < max_depth, got {min_depth}, {max_depth}")
        self.min_depth, self.max_depth = min_depth, max_depth
        self.crop, self.valid_mode, self.alignment, self.clamp_pred = crop, valid_mode, alignment, clamp_pred
        self.reset()

    def reset(self) -> None:
        self._sums = torch.zeros(len(DEPTH_METRIC_KEYS), dtype=torch.float64)  # (9,) sums of per-image values
        self._values: list[torch.Tensor] = []  # per batch (B_used, 9) per-image values
        self.num_images = 0
        self.num_skipped = 0

    @torch.no_grad()
    def update(self, pred: torch.Tensor, target: torch.Tensor, boxes: torch.Tensor | None = None) -> None:
        """`boxes` (B, 4) [top, bottom, left, right): per-image evaluation regions (the datasets' own
        `eval_crop` target, exact where a named crop's fractions are not), applied beside `crop`."""
        pred, target = _as_batch(pred, "pred"), _as_batch(target, "target").to(pred.device)
        if pred.shape != target.shape:
            raise MetricError(
                f"pred and target must have the same shape (resize pred to the ground truth first), "
                f"got {tuple(pred.shape)} and {tuple(target.shape)}"
            )
        mask = valid_depth_mask(target, self.min_depth, self.max_depth, self.crop, self.valid_mode)  # (B, H, W)
        if boxes is not None:
            inside = box_masks(boxes, (target.shape[-2], target.shape[-1]), target.device)  # (B', H, W)
            if inside.shape[0] != pred.shape[0]:
                raise MetricError(f"got {inside.shape[0]} boxes for {pred.shape[0]} images")
            mask = mask & inside
        require_no_nan(pred[mask], "pred (on valid pixels)")
        pred = align_depth(pred, target, mask, self.alignment)
        if self.clamp_pred:
            pred = pred.clamp(self.min_depth, self.max_depth)
        elif not bool(((pred[mask] > 0) & torch.isfinite(pred[mask])).all()):
            raise MetricError("pred must be finite and positive on valid pixels for log metrics: use clamp_pred=True")
        values, n = per_image_depth_metrics(pred, target, mask)
        used = n > 0  # (B,)
        stacked = torch.stack([values[k] for k in DEPTH_METRIC_KEYS], dim=1)[used]  # (B_used, 9)
        self._sums = self._sums.to(stacked.device) + stacked.sum(dim=0)
        self._values.append(stacked.cpu())
        num_used = int(used.sum())
        self.num_images += num_used
        self.num_skipped += pred.shape[0] - num_used

    def compute(self) -> dict[str, Any]:
        means = (self._sums / self.num_images).tolist() if self.num_images else [math.nan] * len(DEPTH_METRIC_KEYS)
        out: dict[str, Any] = dict(zip(DEPTH_METRIC_KEYS, means, strict=True))
        out["num_images"] = self.num_images
        out["num_skipped"] = self.num_skipped
        return out

    def samples(self) -> DepthSamples:
        """Each scored image's metric values (images without a valid pixel are not among them)."""
        values = torch.cat(self._values) if self._values else torch.zeros(0, len(DEPTH_METRIC_KEYS))  # (N, 9)
        return DepthSamples({key: values[:, i].double().numpy() for i, key in enumerate(DEPTH_METRIC_KEYS)})


def depth_metrics(
    pred: torch.Tensor,
    target: torch.Tensor,
    min_depth: float = 1e-3,
    max_depth: float = 10.0,
    crop: Crop = None,
    valid_mode: ValidMode = "range",
    alignment: Alignment = None,
    clamp_pred: bool = True,
) -> dict[str, Any]:
    """Functional form of `DepthMetrics` (per-image metrics averaged over the given images)."""
    metric = DepthMetrics(min_depth, max_depth, crop, valid_mode, alignment, clamp_pred)
    metric.update(pred, target)
    return metric.compute()
