"""Normal metrics against a numpy reference on random normals, with invalid pixels and uneven images."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from probekit.errors import MetricError
from probekit.metrics.normals import NormalMetrics


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _reference(preds: list[np.ndarray], targets: list[np.ndarray]) -> dict:
    """numpy: angles of every valid pixel pooled, and Probe3D's per-image averages (targets are unit here)."""
    pooled, per_image = [], []
    for p, t in zip(preds, targets, strict=True):
        valid = np.linalg.norm(t, axis=1) > 0.5  # (B, H, W)
        cos = np.clip((_unit(p) * t).sum(1), -1, 1)
        angles = np.degrees(np.arccos(cos))
        for b in range(len(p)):
            e = angles[b][valid[b]]
            if e.size:
                pooled.append(e)
                per_image.append([np.sqrt((e**2).mean()), (e < 11.25).mean(), (e < 22.5).mean(), (e < 30).mean()])
    e = np.concatenate(pooled)
    image = np.mean(per_image, axis=0)
    return {
        "mean_angle": e.mean(),
        "median_angle": np.median(e),
        "rmse_angle": np.sqrt((e**2).mean()),
        "within_11_25": (e < 11.25).mean(),
        "within_22_5": (e < 22.5).mean(),
        "within_30": (e < 30).mean(),
        "per_image": dict(zip(("rmse_angle", "within_11_25", "within_22_5", "within_30"), image, strict=True)),
        "num_pixels": e.size,
        "num_images": len(per_image),
    }


def test_metrics_match_numpy_on_random_normals():
    rng = np.random.default_rng(0)
    preds, targets = [], []
    for _ in range(3):  # three batches of 4 images, 12x10 pixels
        t = _unit(rng.normal(size=(4, 3, 12, 10)))
        p = t + rng.normal(scale=0.4, size=t.shape) * rng.uniform(0.2, 2.0, size=(4, 1, 1, 1))  # not unit
        p *= rng.uniform(0.5, 3.0, size=(4, 1, 12, 10))  # any length: the metric normalises
        t *= rng.random(size=(4, 1, 12, 10)) >= 0.2  # invalid pixels are 0, as stored
        preds.append(p)
        targets.append(t)
    targets[1][2] = 0  # an image without a valid pixel is skipped
    metric = NormalMetrics()
    for p, t in zip(preds, targets, strict=True):
        metric.update(torch.from_numpy(p).float(), torch.from_numpy(t).float())
    got, want = metric.compute(), _reference(preds, targets)
    for key in ("mean_angle", "rmse_angle", "within_11_25", "within_22_5", "within_30"):
        assert got[key] == pytest.approx(want[key], abs=1e-4), key
    assert got["median_angle"] == pytest.approx(want["median_angle"], abs=0.01)
    for key, value in want["per_image"].items():
        assert got["per_image"][key] == pytest.approx(value, abs=1e-4), key
    assert (got["num_pixels"], got["num_images"], got["num_skipped"]) == (want["num_pixels"], 11, 1)


def test_a_perfect_prediction_scores_zero_and_an_opposite_one_180():
    t = torch.nn.functional.normalize(torch.randn(2, 3, 5, 5), dim=1).half().float()  # as stored: unit to ~5e-4
    for pred, angle in ((3 * t, 0.0), (-t, 180.0)):
        metric = NormalMetrics()
        metric.update(pred, t)
        result = metric.compute()
        assert result["mean_angle"] == pytest.approx(angle, abs=1e-4)
        assert result["within_11_25"] == (1.0 if angle == 0 else 0.0)


def test_no_valid_pixel_and_nan_predictions_are_refused():
    metric = NormalMetrics()
    metric.update(torch.ones(1, 3, 2, 2), torch.zeros(1, 3, 2, 2))
    with pytest.raises(MetricError, match="no valid normal pixels"):
        metric.compute()
    with pytest.raises(MetricError, match="NaN"):
        metric.update(torch.full((1, 3, 2, 2), float("nan")), torch.ones(1, 3, 2, 2))
    with pytest.raises(MetricError, match=r"\(B, 3, H, W\)"):
        metric.update(torch.ones(1, 2, 2, 2), torch.ones(1, 2, 2, 2))


def test_unit_vectors_and_cosine_equal_torch_functional_forward_and_backward():
    import torch
    import torch.nn.functional as F

    from probekit.metrics.normals import cosine_along_channels, unit_vectors

    torch.manual_seed(0)
    x, y = torch.randn(4, 3, 8, 9), torch.randn(4, 3, 8, 9)
    x[0, :, 0, 0] = 0.0  # a zero vector: stays zero, finite gradient as F.normalize's
    torch.testing.assert_close(unit_vectors(x), F.normalize(x, dim=1, eps=1e-12), rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(cosine_along_channels(x, y), F.cosine_similarity(x, y, dim=1), rtol=1e-6, atol=1e-6)
    ours, theirs = x.clone().requires_grad_(), x.clone().requires_grad_()
    (unit_vectors(ours) * y).sum().backward()
    (F.normalize(theirs, dim=1, eps=1e-12) * y).sum().backward()
    assert torch.isfinite(ours.grad).all()
    torch.testing.assert_close(ours.grad, theirs.grad, rtol=1e-5, atol=1e-5)
    ours, theirs = x.clone().requires_grad_(), x.clone().requires_grad_()
    cosine_along_channels(ours, y).sum().backward()
    F.cosine_similarity(theirs, y, dim=1).sum().backward()
    torch.testing.assert_close(ours.grad[1:], theirs.grad[1:], rtol=1e-5, atol=1e-5)
