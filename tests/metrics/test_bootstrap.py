"""Bootstrap intervals over evaluation images: each task's per-image statistics against a plain reference that
rescores the drawn images with the metric classes themselves, on the same resample indices."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from sklearn.metrics import balanced_accuracy_score

from probekit.metrics import ClassificationMetrics, DepthMetrics, SegmentationMetrics, segmentation_confusion
from probekit.metrics.bootstrap import bootstrap_intervals, draw_counts, resample_indices
from probekit.metrics.correspondence import PCKMetrics
from probekit.metrics.segmentation import metrics_from_confusion

RESAMPLES = 40  # the references loop in Python


def _indices(n: int, row_size: int = 0) -> np.ndarray:
    return np.concatenate(list(resample_indices(n, RESAMPLES, 0, row_size)))


def _reference_interval(values: list[float]) -> list[float]:
    return [float(v) for v in np.percentile(values, (2.5, 97.5))]


def test_resample_indices_are_seeded_chunked_and_counted():
    first, again = _indices(7), np.concatenate(list(resample_indices(7, RESAMPLES, 0)))
    assert first.shape == (RESAMPLES, 7) and (first == again).all() and first.max() < 7
    assert not (first == np.concatenate(list(resample_indices(7, RESAMPLES, 1)))).all()
    counts = draw_counts(first)
    assert (counts.sum(axis=1) == 7).all() and counts[3, first[3, 0]] >= 1


def _classification(n: int, seed: int) -> tuple[ClassificationMetrics, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n)
    logits = rng.normal(size=(n, 4)) + 2.0 * np.eye(4)[labels]  # better than chance
    metric = ClassificationMetrics(4, keep_samples=True)
    for begin in range(0, n, 16):  # several batches
        metric.update(torch.from_numpy(logits[begin : begin + 16]), torch.from_numpy(labels[begin : begin + 16]))
    return metric, labels, logits.argmax(1)


def test_classification_matches_sklearn_on_the_same_draws():
    metric, labels, pred = _classification(60, 0)
    samples = metric.samples()
    indices = _indices(60, samples.row_size)
    got = samples.resampled(indices)
    np.testing.assert_array_equal(got["top1"], [(labels[i] == pred[i]).mean() for i in indices])
    balanced = [balanced_accuracy_score(labels[i], pred[i]) for i in indices]
    np.testing.assert_allclose(got["mean_per_class_recall"], balanced, rtol=1e-12)
    whole = samples.resampled(np.arange(60)[None])
    point = metric.compute()
    assert whole["top1"][0] == point["top1"]
    assert whole["mean_per_class_recall"][0] == pytest.approx(point["mean_per_class_recall"], rel=1e-12)
    intervals = bootstrap_intervals([samples], ["top1", "mean_per_class_recall"], RESAMPLES)
    assert intervals["top1"] == _reference_interval(got["top1"])
    for key, (low, high) in intervals.items():
        assert low <= point[key] <= high and low < high


def _segmentation(images: int, seed: int, same: bool = False) -> tuple[SegmentationMetrics, list[torch.Tensor]]:
    rng = np.random.default_rng(seed)
    metric, confusions = SegmentationMetrics(5, 255, per_image=True), []
    target = rng.integers(0, 5, (images, 6, 7))
    target[:, 0, :3] = 255  # ignored pixels
    if same:
        target[:] = target[0]
    pred = np.where(rng.random(target.shape) < 0.6, target, rng.integers(0, 5, target.shape))
    pred = np.where(target == 255, 0, pred)
    if same:
        pred[:] = pred[0]
    for begin in range(0, images, 3):
        p, t = torch.from_numpy(pred[begin : begin + 3]), torch.from_numpy(target[begin : begin + 3])
        metric.update(p, t)
        confusions += [segmentation_confusion(p[i : i + 1], t[i : i + 1], 5, 255) for i in range(len(p))]
    return metric, confusions


def test_segmentation_areas_resample_like_summed_confusion_matrices():
    metric, confusions = _segmentation(20, 1)
    samples = metric.samples()
    assert samples.intersect.shape == (20, 5)  # K per image, not K x K
    indices = _indices(20)
    got = samples.resampled(indices)
    reference = [metrics_from_confusion(sum(confusions[j] for j in row)) for row in indices]
    np.testing.assert_allclose(got["mIoU"], [r["mIoU"] for r in reference], rtol=1e-12)
    np.testing.assert_allclose(got["pixel_accuracy"], [r["pixel_accuracy"] for r in reference], rtol=1e-12)
    point = metric.compute()
    whole = samples.resampled(np.arange(20)[None])
    assert whole["mIoU"][0] == pytest.approx(point["mIoU"], rel=1e-12)
    for key, (low, high) in bootstrap_intervals([samples], ["mIoU", "pixel_accuracy"]).items():
        assert low <= point[key] <= high and low < high


def test_identical_images_collapse_the_interval():
    metric, _ = _segmentation(12, 2, same=True)
    point = metric.compute()
    for key, (low, high) in bootstrap_intervals([metric.samples()], ["mIoU", "pixel_accuracy"]).items():
        assert low == pytest.approx(point[key], rel=1e-12) and high == pytest.approx(point[key], rel=1e-12)


def test_depth_resamples_per_image_values_as_the_toolbox_averages():
    rng = np.random.default_rng(3)
    target = torch.from_numpy(rng.uniform(0.5, 9.0, (15, 8, 8)))
    target[2] = 0.0  # no valid pixel: skipped, not an evaluated image
    pred = target * torch.from_numpy(rng.uniform(0.7, 1.3, (15, 8, 8)))
    metric = DepthMetrics(max_depth=10.0)
    metric.update(pred[:7], target[:7])
    metric.update(pred[7:], target[7:])
    samples = metric.samples()
    assert samples.count == 14
    scored = [i for i in range(15) if i != 2]
    singles = [DepthMetrics(max_depth=10.0) for _ in scored]
    for single, i in zip(singles, scored, strict=True):
        single.update(pred[i : i + 1], target[i : i + 1])
    per_image = {k: np.array([s.compute()[k] for s in singles]) for k in ("d1", "abs_rel", "rmse")}
    indices = _indices(14)
    got = samples.resampled(indices)
    for key, values in per_image.items():
        np.testing.assert_allclose(got[key], values[indices].mean(axis=1), rtol=1e-12)
    point = metric.compute()
    for key, (low, high) in bootstrap_intervals([samples], ["d1", "abs_rel", "rmse"]).items():
        assert low <= point[key] <= high


def test_correspondence_resamples_pairs():
    rng = np.random.default_rng(4)
    pairs = []
    for _ in range(12):
        target = rng.uniform(0, 100, (5, 2))
        target[rng.random(5) < 0.3] = np.nan  # unannotated keypoints
        pairs.append((target + rng.normal(0, 8, (5, 2)), target, 100.0))
    pairs.append((np.zeros((5, 2)), np.full((5, 2), np.nan), 100.0))  # no keypoint: skipped
    metric = PCKMetrics()
    for pred, target, size in pairs:
        metric.update(pred, target, size)
    samples = metric.samples()
    assert samples.count == 12
    indices = _indices(12)
    got = samples.resampled(indices)
    for r, row in enumerate(indices):
        reference = PCKMetrics()
        for j in row:
            reference.update(*pairs[j])
        expected = reference.compute()
        for key in ("pck_image@0.1", "pck_point@0.1", "pck_point@0.05"):
            assert got[key][r] == pytest.approx(expected[key], rel=1e-12)


def test_seeds_share_the_draws_and_average_them():
    (a, _, _), (b, _, _) = _classification(50, 5), _classification(50, 6)
    both = bootstrap_intervals([a.samples(), b.samples()], ["top1"], RESAMPLES)
    indices = _indices(50, 50)
    mean = (a.samples().resampled(indices)["top1"] + b.samples().resampled(indices)["top1"]) / 2
    assert both["top1"] == _reference_interval(mean)
    assert bootstrap_intervals([], ["top1"]) == {}


def test_costs_well_under_a_second_at_quickstart_size():
    metric, _ = _segmentation(64, 7)
    classification, _, _ = _classification(512, 8)
    began = time.perf_counter()
    bootstrap_intervals([metric.samples()], ["mIoU", "pixel_accuracy"])
    bootstrap_intervals([classification.samples()], ["top1", "mean_per_class_recall"])
    assert time.perf_counter() - began < 1.0


def _unit(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=1, keepdim=True)


def test_normals_resample_the_pixels_of_the_drawn_images():
    from probekit.metrics.normals import NormalMetrics

    rng = np.random.default_rng(5)
    target = _unit(torch.from_numpy(rng.normal(size=(9, 3, 6, 7))))
    target[:, :, :2, :3] = 0.0  # invalid pixels: left out
    target[4] = 0.0  # no valid pixel: not an evaluated image
    pred = _unit(target + 0.4 * torch.from_numpy(rng.normal(size=(9, 3, 6, 7))))
    metric = NormalMetrics()
    metric.update(pred, target)
    samples = metric.samples()
    assert samples.count == 8
    scored = [i for i in range(9) if i != 4]
    indices = _indices(8)
    got = samples.resampled(indices)
    for r in range(3):  # each resample rescored directly: the drawn images stacked (repeats included)
        drawn = [scored[i] for i in indices[r]]
        direct = NormalMetrics()
        direct.update(pred[drawn], target[drawn])
        expected = direct.compute()
        for key in ("mean_angle", "rmse_angle", "within_11_25", "within_30"):
            np.testing.assert_allclose(got[key][r], expected[key], rtol=1e-9, err_msg=key)
    point = metric.compute()
    for key, (low, high) in bootstrap_intervals([samples], ["mean_angle", "within_11_25"]).items():
        assert low <= point[key] <= high


def test_multiview_resamples_pairs_pooled_overall_and_averaged_per_bin():
    from probekit.metrics.multiview import MultiviewRecall

    rng = np.random.default_rng(6)
    pairs = [(rng.uniform(0, 50, (k, 2)), rng.uniform(0, 50, (k, 2)), angle) for k, angle in
             [(5, 10.0), (3, 20.0), (8, 45.0), (4, 70.0), (6, 100.0), (0, 15.0), (7, 130.0)]]  # fmt: skip
    for pred, target, _ in pairs:
        pred[:] = target + rng.normal(scale=8.0, size=target.shape)
    metric = MultiviewRecall((5.0, 10.0), (0, 30, 60, 90, 120))
    for pred, target, angle in pairs:
        metric.update(pred, target, angle)
    samples = metric.samples()
    scored = [i for i, (_, target, _) in enumerate(pairs) if len(target)]
    assert samples.count == len(scored) == 6
    indices = _indices(6)
    got = samples.resampled(indices)
    for r in range(4):
        direct = MultiviewRecall((5.0, 10.0), (0, 30, 60, 90, 120))
        for i in indices[r]:
            direct.update(*pairs[scored[i]])
        expected = direct.compute()
        for key, value in expected.items():
            if key.startswith("recall@"):
                if value is None:
                    assert np.isnan(got[key][r]), key
                else:
                    np.testing.assert_allclose(got[key][r], value, rtol=1e-12, err_msg=key)
