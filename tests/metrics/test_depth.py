import json
import math

import numpy as np
import pytest
import torch

from probekit.metrics.depth import (
    DEPTH_METRIC_KEYS,
    DepthMetrics,
    align_depth,
    crop_mask,
    depth_metrics,
    valid_depth_mask,
)


def _reference_image(p: np.ndarray, g: np.ndarray) -> dict:
    """Plain numpy metrics over already-valid pixels (the toolbox's formulas, written out again)."""
    ratio = np.maximum(p / g, g / p)
    d = np.log(p) - np.log(g)
    return {
        "d1": np.mean(ratio < 1.25),
        "d2": np.mean(ratio < 1.25**2),
        "d3": np.mean(ratio < 1.25**3),
        "abs_rel": np.mean(np.abs(p - g) / g),
        "sq_rel": np.mean((p - g) ** 2 / g),
        "rmse": np.sqrt(np.mean((p - g) ** 2)),
        "rmse_log": np.sqrt(np.mean(d**2)),
        "log10": np.mean(np.abs(np.log10(p) - np.log10(g))),
        "silog": 100 * np.sqrt(max(np.mean(d**2) - np.mean(d) ** 2, 0.0)),
    }


def test_hand_checked_2x2():
    g = torch.tensor([[[1.0, 2.0], [4.0, 0.0]]])  # last pixel invalid
    p = torch.tensor([[[1.0, 2.5], [2.0, 5.0]]])
    out = depth_metrics(p, g)
    # valid pairs (p, g): (1, 1), (2.5, 2), (2, 4); ratios 1, 1.25 (not < 1.25), 2
    assert out["d1"] == pytest.approx(1 / 3)
    assert out["d2"] == pytest.approx(2 / 3)
    assert out["d3"] == pytest.approx(2 / 3)
    assert out["abs_rel"] == pytest.approx((0 + 0.5 / 2 + 2 / 4) / 3)
    assert out["sq_rel"] == pytest.approx((0 + 0.25 / 2 + 4 / 4) / 3)
    assert out["rmse"] == pytest.approx(math.sqrt((0 + 0.25 + 4) / 3))
    d = [0.0, math.log(1.25), math.log(0.5)]
    assert out["rmse_log"] == pytest.approx(math.sqrt(sum(x * x for x in d) / 3))
    assert out["log10"] == pytest.approx((abs(math.log10(1.25)) + abs(math.log10(0.5))) / 3)
    mean_d, mean_d2 = sum(d) / 3, sum(x * x for x in d) / 3
    assert out["silog"] == pytest.approx(100 * math.sqrt(mean_d2 - mean_d**2))
    assert out["num_images"] == 1 and out["num_skipped"] == 0
    json.dumps(out)


def test_random_images_match_numpy_reference_averaged_per_image():
    rng = np.random.default_rng(0)
    g = rng.uniform(0.5, 9.0, size=(3, 10, 12))
    g[rng.random(g.shape) < np.array([0.1, 0.5, 0.8])[:, None, None]] = 0  # very different valid counts
    p = g * rng.uniform(0.6, 1.6, size=g.shape) + 0.05
    metric = DepthMetrics(max_depth=10.0)
    metric.update(torch.from_numpy(p[:2]).float(), torch.from_numpy(g[:2]).float())
    metric.update(torch.from_numpy(p[2:]).float(), torch.from_numpy(g[2:]).float())
    out = metric.compute()
    per_image = []
    for pi, gi in zip(p.astype(np.float32), g.astype(np.float32), strict=True):
        m = (gi > 1e-3) & (gi < 10.0)
        per_image.append(_reference_image(np.clip(pi[m], 1e-3, 10.0).astype(np.float64), gi[m].astype(np.float64)))
    for key in DEPTH_METRIC_KEYS:
        assert out[key] == pytest.approx(np.mean([r[key] for r in per_image]), rel=1e-6), key
    assert out["num_images"] == 3


def test_per_image_not_per_pixel_averaging():
    # image A: one valid pixel, abs_rel 1; image B: three valid pixels, perfect
    g = torch.tensor([[[2.0, 0.0], [0.0, 0.0]], [[1.0, 2.0], [3.0, 0.0]]])
    p = torch.tensor([[[4.0, 1.0], [1.0, 1.0]], [[1.0, 2.0], [3.0, 1.0]]])
    out = depth_metrics(p, g)
    assert out["abs_rel"] == pytest.approx((1.0 + 0.0) / 2)  # pooled over pixels it would be 1/4
    assert out["rmse"] == pytest.approx((2.0 + 0.0) / 2)
    assert out["d1"] == pytest.approx(0.5)


def test_images_without_valid_pixels_are_skipped():
    g = torch.zeros(3, 4, 4)
    g[1] = 2.0
    out = depth_metrics(torch.full((3, 4, 4), 2.0), g)
    assert out["num_images"] == 1 and out["num_skipped"] == 2
    assert out["abs_rel"] == 0.0 and out["d1"] == 1.0 and out["silog"] == 0.0
    empty = DepthMetrics().compute()
    assert empty["num_images"] == 0 and math.isnan(empty["rmse"])


def test_eigen_and_garg_crops_give_exact_indices():
    m = crop_mask(480, 640, "eigen")
    rows, cols = m.any(dim=1).nonzero().flatten(), m.any(dim=0).nonzero().flatten()
    assert (rows.min().item(), rows.max().item() + 1) == (45, 471)
    assert (cols.min().item(), cols.max().item() + 1) == (41, 601)
    assert m.sum().item() == (471 - 45) * (601 - 41)
    ref = np.zeros((480, 640), bool)
    ref[45:471, 41:601] = True
    assert np.array_equal(m.numpy(), ref)
    # KITTI Garg crop on a 375 x 1242 ground truth, toolbox arithmetic
    g = crop_mask(375, 1242, "garg")
    ref = np.zeros((375, 1242), bool)
    ref[int(0.40810811 * 375) : int(0.99189189 * 375), int(0.03594771 * 1242) : int(0.96405229 * 1242)] = True
    assert np.array_equal(g.numpy(), ref)
    assert ref[153:371, 44:1197].all() and ref.sum() == (371 - 153) * (1197 - 44)
    assert crop_mask(4, 5, None).all()
    with pytest.raises(ValueError, match="crop"):
        crop_mask(4, 5, "monodepth")


def test_crop_restricts_the_metric():
    g = torch.full((1, 480, 640), 2.0)
    p = g.clone()
    p[0, :45] = 8.0  # errors only outside the Eigen crop
    p[0, :, 601:] = 8.0
    assert depth_metrics(p, g, crop="eigen")["abs_rel"] == 0.0
    assert depth_metrics(p, g)["abs_rel"] > 0.0


def test_strict_range_mask_and_positive_mode():
    g = torch.tensor([[[1e-3, 0.5, 9.99, 10.0, 0.0, 12.0]]])
    assert valid_depth_mask(g, 1e-3, 10.0).tolist() == [[[False, True, True, False, False, False]]]
    assert valid_depth_mask(g, 1e-3, 10.0, valid_mode="positive").tolist() == [[[True, True, True, True, False, True]]]
    p = g.clone()
    p[0, 0, 3] = 5.0  # wrong, but at exactly max_depth -> not counted with the strict range
    assert depth_metrics(p, g)["abs_rel"] == 0.0


def test_predictions_are_clamped_like_the_toolbox():
    g = torch.tensor([[[5.0]]])
    p = torch.tensor([[[20.0]]])
    assert depth_metrics(p, g, max_depth=10.0)["abs_rel"] == pytest.approx(1.0)  # clamped to 10
    assert depth_metrics(p, g, max_depth=10.0, clamp_pred=False)["abs_rel"] == pytest.approx(3.0)
    assert depth_metrics(torch.tensor([[[-1.0]]]), g)["d3"] == 0.0  # clamped to min_depth, finite


def test_median_scaling_makes_scaled_prediction_perfect():
    rng = np.random.default_rng(1)
    g = torch.from_numpy(rng.uniform(1.0, 3.0, size=(2, 6, 8))).float()
    g[0, 0, :3] = 0  # some invalid pixels, even count of valid pixels in image 0
    p = g * torch.tensor([3.0, 0.25])[:, None, None]
    p[0, 0, :3] = 7.0  # garbage at invalid pixels must not move the medians
    out = depth_metrics(p, g, alignment="median")
    assert out["abs_rel"] == pytest.approx(0.0, abs=1e-6) and out["d1"] == 1.0
    assert out["silog"] == pytest.approx(0.0, abs=1e-3)
    assert depth_metrics(p, g)["abs_rel"] > 0.5


def test_median_is_numpy_median_for_even_counts():
    g = torch.tensor([[[1.0, 2.0, 3.0, 10.0]]])  # 10 is outside the strict range -> valid 1, 2, 3
    p = torch.tensor([[[1.0, 1.0, 4.0, 4.0]]])
    mask = valid_depth_mask(g, 1e-3, 20.0)  # all 4 valid: median(g) = 2.5, median(p) = 2.5
    assert torch.allclose(align_depth(p, g, mask, "median"), p)
    mask = valid_depth_mask(g, 1e-3, 10.0)  # 3 valid: median(g) = 2, median(p) = 1
    assert torch.allclose(align_depth(p, g, mask, "median"), 2 * p)


def test_lstsq_alignments_recover_scale_and_shift():
    g = torch.linspace(1.0, 4.0, 24).reshape(1, 4, 6)
    out = depth_metrics(g * 0.5 + 0.7, g, alignment="lstsq")
    assert out["abs_rel"] == pytest.approx(0.0, abs=1e-5) and out["d1"] == 1.0
    out = depth_metrics(g * 0.3, g, alignment="lstsq_scale")
    assert out["abs_rel"] == pytest.approx(0.0, abs=1e-5)
    assert depth_metrics(g * 0.5 + 0.7, g, alignment="lstsq_scale")["abs_rel"] > 1e-3


def test_accepts_channel_dim_and_checks_shapes():
    g = torch.full((2, 1, 3, 3), 2.0)
    assert depth_metrics(g, g)["rmse"] == 0.0
    with pytest.raises(ValueError, match="same shape"):
        depth_metrics(torch.ones(1, 3, 3), torch.ones(1, 4, 4))
    with pytest.raises(ValueError, match="alignment"):
        DepthMetrics(alignment="affine")


@pytest.mark.gpu
def test_state_follows_cuda_inputs():
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    g = torch.rand(2, 8, 8) * 5 + 0.5
    p = g * 1.1
    metric = DepthMetrics(alignment="median")
    metric.update(p.cuda(), g.cuda())
    cpu = depth_metrics(p, g, alignment="median")
    for key, value in metric.compute().items():
        assert value == pytest.approx(cpu[key], rel=1e-6, abs=1e-9), key


def test_per_sample_boxes_equal_metrics_on_the_cropped_images():
    torch.manual_seed(0)
    target = torch.rand(2, 12, 16) * 9 + 0.5
    pred = target * (1 + 0.3 * torch.randn(2, 12, 16)).clamp(0.5, 1.5)
    boxes = torch.tensor([[2, 10, 3, 15], [0, 6, 0, 8]])
    boxed = DepthMetrics(max_depth=10.0)
    boxed.update(pred, target, boxes)
    by_hand = DepthMetrics(max_depth=10.0)
    for i, (top, bottom, left, right) in enumerate(boxes.tolist()):
        by_hand.update(pred[i : i + 1, top:bottom, left:right], target[i : i + 1, top:bottom, left:right])
    got, want = boxed.compute(), by_hand.compute()
    for key in ("d1", "abs_rel", "rmse", "silog"):
        assert got[key] == pytest.approx(want[key], rel=1e-6)
